// Package distributiontest holds test helpers for hosts that embed package
// distribution: a FakeClock that tests move by hand instead of sleeping, a
// recording Channel that keeps every message the Manager sends through it
// and fails on demand, and WaitFor / WaitIdle / WaitUntil, which wait for
// a distribution's state or an idle Manager by waking on
// Manager.Changed, not by polling.
//
// A typical test wires them into a Manager:
//
//	clk := distributiontest.NewFakeClock(time.Time{})
//	sms := distributiontest.NewChannel("sms")
//	m, err := distribution.NewManager(distribution.Config{
//		Store: store.NewMemory(), Clock: clk, Channels: []distribution.Channel{sms},
//	})
//	go m.Run(ctx)
//	...
//	clk.Advance(10 * time.Minute) // past the manual send delay
//	d, err := distributiontest.WaitFor(ctx, m, d.ID, distribution.StatusDone)
//	msgs := sms.Messages()
package distributiontest
