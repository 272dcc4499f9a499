// Package distributiontest holds test helpers for hosts that embed package
// distribution: a FakeClock that tests move by hand instead of sleeping,
// and a recording Channel that keeps every message the Manager sends
// through it and fails on demand.
//
// A typical test wires both into a Manager:
//
//	clk := distributiontest.NewFakeClock(time.Time{})
//	sms := distributiontest.NewChannel("sms")
//	m, err := distribution.NewManager(distribution.Config{
//		Store: store.NewMemory(), Clock: clk, Channels: []distribution.Channel{sms},
//	})
//	...
//	clk.Advance(10 * time.Minute) // past the manual send delay
//	msgs := sms.Messages()
//
// Nothing here sleeps or polls. (Waiting until a Manager is idle or a
// distribution reaches a state will join this package; until then wait on
// your own condition with a context deadline.)
package distributiontest
