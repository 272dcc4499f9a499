package distribution_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/segment"
)

// interruptBound is how long a delivery must be in sending before a
// starting Manager takes it as interrupted (SendTimeout plus a minute).
const interruptBound = distribution.DefaultSendTimeout + time.Minute

// gateChannel is a host channel whose sends block until release is
// closed: a send in flight, as on another replica.
type gateChannel struct {
	started chan string // ids of the deliveries whose Send began
	release chan struct{}
}

func newGate() *gateChannel {
	return &gateChannel{started: make(chan string, 16), release: make(chan struct{})}
}

func (g *gateChannel) Name() string { return "gate" }

func (g *gateChannel) Send(ctx context.Context, msg distribution.Message) (distribution.Receipt, error) {
	g.started <- msg.Delivery.ID
	<-g.release
	return distribution.Receipt{ProviderMessageID: "gate-" + msg.Delivery.ID}, nil
}

// jobLog is a TimerScheduler that records the jobs whose handler returned.
type jobLog struct {
	*distribution.TimerScheduler
	mu  sync.Mutex
	ran []distribution.Job
}

func (l *jobLog) Run(ctx context.Context, handle func(context.Context, distribution.Job) error) error {
	return l.TimerScheduler.Run(ctx, func(ctx context.Context, j distribution.Job) error {
		err := handle(ctx, j)
		l.mu.Lock()
		l.ran = append(l.ran, j)
		l.mu.Unlock()
		return err
	})
}

func (l *jobLog) done(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, j := range l.ran {
		if j.Kind == kind {
			n++
		}
	}
	return n
}

// pendingJob returns the pending job with id.
func (l *jobLog) pendingJob(id string) (distribution.Job, bool) {
	for _, j := range l.Pending() {
		if j.ID == id {
			return j, true
		}
	}
	return distribution.Job{}, false
}

// replica starts a second Manager ("replica B") on e's store and clock,
// with its own gate channel and a recording scheduler, while e.m keeps
// running. NewManager and the start of Run are its recovery.
func (e *env) replica(opts ...func(*distribution.Config)) (*distribution.Manager, *jobLog, *gateChannel) {
	e.t.Helper()
	gate := newGate()
	sched := &jobLog{TimerScheduler: distribution.NewTimerScheduler(e.clk)}
	cfg := distribution.Config{Logger: testLogger(e.t), Store: e.st, Codes: e.codes, Clock: e.clk,
		Scheduler: sched, Channels: []distribution.Channel{gate}}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := distribution.NewManager(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	<-m.Ready()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			e.t.Errorf("replica Run = %v, want context.Canceled", err)
		}
	})
	return m, sched, gate
}

// startGated restarts e's Manager with a gate channel; the gate opens when
// the test ends (before the Manager stops, which waits for its sends).
func (e *env) startGated() *gateChannel {
	e.t.Helper()
	gate := newGate()
	e.start(func(c *distribution.Config) { c.Channels = []distribution.Channel{gate} })
	e.t.Cleanup(func() {
		select {
		case <-gate.release:
		default:
			close(gate.release)
		}
	})
	return gate
}

// A Manager starting while another one sends the same distribution leaves
// the delivery in flight alone: it is sent once and recorded sent, and the
// later re-check finds nothing to do.
func TestRecoveryLeavesALiveReplicasSendAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gateA := e.startGated()
	c := e.customer(customer.Customer{SourceID: "u1", Name: "Ann"})
	d := e.create(distribution.Distribution{Name: "live", Audience: distribution.Audience{CustomerID: c.ID},
		Channels: []distribution.ChannelMessage{{Channel: "gate", Body: "hi"}}})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.waitArmed(d.ID)
	e.clk.Advance(distribution.DefaultManualDelay)
	dlID := <-gateA.started // replica A is sending it
	inFlight, err := e.st.GetDelivery(e.ctx, dlID)
	if err != nil || inFlight.State != distribution.DeliverySending {
		t.Fatalf("delivery in flight = %+v, %v; want sending", inFlight, err)
	}

	_, sched, gateB := e.replica()
	job := "recover:" + d.ID
	e.waitFor("replica B to schedule a re-check", func() bool { _, ok := sched.pendingJob(job); return ok })
	if j, _ := sched.pendingJob(job); j.Kind != distribution.JobRecover || j.Target != d.ID || !j.RunAt.Equal(inFlight.UpdatedAt.Add(interruptBound)) {
		t.Errorf("re-check job = %+v, want %s of %s at %v", j, distribution.JobRecover, d.ID, inFlight.UpdatedAt.Add(interruptBound))
	}
	if got, _ := e.st.GetDelivery(e.ctx, dlID); got.State != distribution.DeliverySending {
		t.Fatalf("after replica B's recovery the delivery A is sending is %s (%s), want still sending", got.State, got.Reason)
	}

	close(gateA.release)
	done := e.waitStatus(d.ID, distribution.StatusDone)
	if done.Report.Sent != 1 || done.Report.Unknown != 0 {
		t.Errorf("report = %+v, want 1 sent", done.Report)
	}
	e.clk.Advance(interruptBound)
	e.waitFor("the re-check", func() bool { return sched.done(distribution.JobRecover) == 1 })
	if got, _ := e.st.GetDelivery(e.ctx, dlID); got.State != distribution.DeliverySent || got.ProviderMessageID != "gate-"+dlID {
		t.Errorf("after the re-check: %+v, want sent by A", got)
	}
	if len(gateB.started) != 0 {
		t.Errorf("replica B sent %d messages, want none", len(gateB.started))
	}
}

// A delivery left in sending by a replica that died (its send never
// returns) becomes unknown once the bound has passed, though it was too
// recent when the other replica started; for an automatic distribution
// the check starts in NewManager.
func TestRecoveryMarksADeadReplicasSendLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gateA := e.startGated()
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann"})
	d := e.activate(distribution.Distribution{Name: "auto", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "gate", Body: "paid"}}})
	handled := make(chan error, 1)
	go func() { handled <- e.m.HandleEvent(e.ctx, paidEvent("e1", "u1")) }() // returns when the gate opens
	dlID := <-gateA.started
	e.clk.Advance(time.Minute) // A hangs: its send is a minute old when B starts

	_, sched, _ := e.replica()
	job := "recover:" + d.ID
	e.waitFor("replica B to schedule a re-check", func() bool { _, ok := sched.pendingJob(job); return ok })
	stuck, _ := e.st.GetDelivery(e.ctx, dlID)
	if stuck.State != distribution.DeliverySending {
		t.Fatalf("a send %v old became %s at startup, want still sending", time.Minute, stuck.State)
	}
	if j, _ := sched.pendingJob(job); !j.RunAt.Equal(stuck.UpdatedAt.Add(interruptBound)) {
		t.Errorf("re-check at %v, want %v", j.RunAt, stuck.UpdatedAt.Add(interruptBound))
	}

	e.clk.Advance(interruptBound - time.Minute)
	e.waitFor("the re-check", func() bool { return sched.done(distribution.JobRecover) == 1 })
	got, _ := e.st.GetDelivery(e.ctx, dlID)
	if got.State != distribution.DeliveryUnknown || got.Reason != distribution.ReasonInterrupted {
		t.Errorf("after the bound: %+v, want unknown (%q)", got, distribution.ReasonInterrupted)
	}
	// Should A's send return after all, the unknown record stays.
	close(gateA.release)
	if err := <-handled; err != nil {
		t.Errorf("HandleEvent = %v", err)
	}
	if got, _ := e.st.GetDelivery(e.ctx, dlID); got.State != distribution.DeliveryUnknown {
		t.Errorf("after A's late answer: %+v, want still unknown", got)
	}
}

// A delivery in sending for longer than the bound at startup is a dead
// sender's: it becomes unknown at once, without a re-check, and the
// distribution finishes. Config.InterruptAfter replaces the default bound
// (SendTimeout plus a minute).
func TestRecoveryMarksAnOldSendAtOnce(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name           string
		inSending      time.Duration // how long the delivery has been in sending
		interruptAfter time.Duration // the starting Manager's Config.InterruptAfter
	}{
		{"default bound", interruptBound + time.Second, 0},
		{"InterruptAfter", 10 * time.Second, 5 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			gateA := e.startGated()
			c := e.customer(customer.Customer{SourceID: "u1", Name: "Ann"})
			d := e.create(distribution.Distribution{Name: "old", Audience: distribution.Audience{CustomerID: c.ID},
				Channels: []distribution.ChannelMessage{{Channel: "gate", Body: "hi"}}})
			if _, err := e.m.Send(e.ctx, d.ID); err != nil {
				t.Fatal(err)
			}
			e.waitArmed(d.ID)
			e.clk.Advance(distribution.DefaultManualDelay)
			dlID := <-gateA.started
			e.clk.Advance(tt.inSending)

			m, sched, _ := e.replica(func(c *distribution.Config) { c.InterruptAfter = tt.interruptAfter })
			var done distribution.Distribution
			e.waitFor("the distribution to finish", func() bool {
				done, _ = m.Distribution(e.ctx, d.ID)
				return done.Status == distribution.StatusDone
			})
			if done.Report.Unknown != 1 {
				t.Errorf("report = %+v, want 1 unknown", done.Report)
			}
			if got, _ := e.st.GetDelivery(e.ctx, dlID); got.State != distribution.DeliveryUnknown {
				t.Errorf("delivery = %+v, want unknown", got)
			}
			if j, ok := sched.pendingJob("recover:" + d.ID); ok {
				t.Errorf("re-check scheduled (%+v), want the delivery marked at once", j)
			}
		})
	}
}

func TestNewManagerRejectsNegativeInterruptAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := distribution.NewManager(distribution.Config{Store: e.st, InterruptAfter: -time.Second})
	if !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), "InterruptAfter") {
		t.Fatalf("NewManager(InterruptAfter: -1s) error = %v, want ErrInvalid naming InterruptAfter", err)
	}
}

// A Manager stopped in the middle of a fan-out hands the send job back,
// so the next Run (here, or another replica's) finishes it.
func TestStoppedFanoutHandsItsJobBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stopRun() // only the Manager below runs
	gate := newGate()
	sched := &jobLog{TimerScheduler: distribution.NewTimerScheduler(e.clk)}
	m, err := distribution.NewManager(distribution.Config{Logger: testLogger(t), Store: e.st, Codes: e.codes, Clock: e.clk,
		Scheduler: sched, Channels: []distribution.Channel{gate}, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	<-m.Ready()
	var ids []string
	for _, src := range []string{"u1", "u2"} {
		c, err := m.UpsertCustomer(e.ctx, customer.Customer{SourceID: src, Name: src}, customer.UpsertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	seg, err := m.CreateSegment(e.ctx, segment.Segment{Name: "static", Type: segment.Static, CustomerIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.CreateDistribution(e.ctx, distribution.Distribution{Name: "stopped", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{{Channel: "gate", Body: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the countdown", func() bool { got, _ := m.Distribution(e.ctx, d.ID); return !got.SendAt.IsZero() })
	e.clk.Advance(distribution.DefaultManualDelay)
	<-gate.started // the first of two sends is in flight
	cancel()       // the replica stops
	close(gate.release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if _, ok := sched.pendingJob(distribution.SendJobID(d.ID)); !ok {
		t.Errorf("the send job of a distribution stopped mid-fan-out is gone: %v", sched.Pending())
	}
	if got, _ := m.Distribution(e.ctx, d.ID); got.Status != distribution.StatusSending {
		t.Errorf("status %s, want still sending (one delivery left)", got.Status)
	}
}
