package distribution_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/distribution/schedulertest"
)

// sharedScheduler is a TimerScheduler with SharedScheduler's Add: in one
// process, it stands in for a Scheduler that replicas share (it passes the
// same conformance suite), so that a Manager fans out in chunks.
type sharedScheduler struct {
	*distribution.TimerScheduler

	mu     sync.Mutex
	known  map[string]*jobState // scheduled through s and not finished
	handed []distribution.Job
}

// jobState is what sharedScheduler knows of a job: pending (scheduled)
// and how many handlers run it; next is a job Add asked to run again after
// them.
type jobState struct {
	pending bool
	running int
	next    *distribution.Job
}

func newSharedScheduler(clk distribution.Clock) *sharedScheduler {
	return &sharedScheduler{TimerScheduler: distribution.NewTimerScheduler(clk), known: map[string]*jobState{}}
}

func (s *sharedScheduler) state(id string) *jobState {
	st := s.known[id]
	if st == nil {
		st = &jobState{}
		s.known[id] = st
	}
	return st
}

func (s *sharedScheduler) Schedule(ctx context.Context, j distribution.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state(j.ID).pending = true
	return s.TimerScheduler.Schedule(ctx, j)
}

func (s *sharedScheduler) Cancel(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.known[id]; st != nil {
		st.pending, st.next = false, nil
		if st.running == 0 {
			delete(s.known, id)
		}
	}
	return s.TimerScheduler.Cancel(ctx, id)
}

func (s *sharedScheduler) Add(ctx context.Context, j distribution.Job) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(j.ID)
	switch {
	case st.pending:
		return false, nil
	case st.running > 0:
		if st.next == nil {
			st.next = &j
		}
		return false, nil
	}
	st.pending = true
	return true, s.TimerScheduler.Schedule(ctx, j)
}

func (s *sharedScheduler) Run(ctx context.Context, handle func(context.Context, distribution.Job) error) error {
	return s.TimerScheduler.Run(ctx, func(ctx context.Context, j distribution.Job) error {
		s.mu.Lock()
		st := s.state(j.ID)
		st.pending = false
		st.running++
		s.handed = append(s.handed, j)
		s.mu.Unlock()
		err := handle(ctx, j)
		s.mu.Lock()
		defer s.mu.Unlock()
		if st.running--; st.running == 0 && st.next != nil {
			next := *st.next
			st.next, st.pending = nil, true
			if serr := s.TimerScheduler.Schedule(context.WithoutCancel(ctx), next); serr != nil {
				return serr
			}
		}
		if st.running == 0 && !st.pending {
			delete(s.known, j.ID)
		}
		return err
	})
}

// handedOut returns the jobs of kind handed to the Manager.
func (s *sharedScheduler) handedOut(kind string) []distribution.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []distribution.Job
	for _, j := range s.handed {
		if j.Kind == kind {
			out = append(out, j)
		}
	}
	return out
}

func TestSharedSchedulerFakeConformance(t *testing.T) {
	t.Parallel()
	schedulertest.Run(t, func(t *testing.T) schedulertest.Env {
		clk := distributiontest.NewFakeClock(time.Time{})
		return schedulertest.Env{Scheduler: newSharedScheduler(clk), Now: clk.Now, Advance: clk.Advance}
	})
}

// gatedChannel blocks every send until released, and keeps the most sends
// it saw in flight at once.
type gatedChannel struct {
	release  chan struct{}
	inflight atomic.Int32
	most     atomic.Int32
	sent     sync.Map // customer id -> sends
}

func (c *gatedChannel) Name() string { return "gated" }

func (c *gatedChannel) Send(ctx context.Context, msg distribution.Message) (distribution.Receipt, error) {
	n := c.inflight.Add(1)
	defer c.inflight.Add(-1)
	for {
		m := c.most.Load()
		if n <= m || c.most.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-c.release:
	case <-ctx.Done():
		return distribution.Receipt{}, distribution.TransientError(ctx.Err(), 0)
	}
	k, _ := c.sent.LoadOrStore(msg.Customer.ID, new(atomic.Int32))
	k.(*atomic.Int32).Add(1)
	return distribution.Receipt{ProviderMessageID: "p-" + msg.Delivery.ID}, nil
}

// With a SharedScheduler a manual fan-out is split into chunk jobs of
// ChunkSize deliveries in the ledger's order. All of them are due at once
// and handed out together, yet the Manager works one at a time: never
// more than Concurrency sends in flight. Every customer gets one message.
func TestChunkedFanout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sched := newSharedScheduler(e.clk)
	ch := &gatedChannel{release: make(chan struct{})}
	e.start(func(c *distribution.Config) {
		c.Scheduler, c.Channels, c.Concurrency, c.ChunkSize = sched, []distribution.Channel{ch}, 2, 3
	})
	const n = 10
	for i := range n {
		e.customer(customer.Customer{SourceID: "u" + string(rune('a'+i)), Name: "C", Metadata: customer.Metadata{"source": "Intercom"}})
	}
	seg := e.segment()
	d := e.create(distribution.Distribution{Name: "chunked", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{{Channel: "gated", Body: "hi"}}})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.waitArmed(d.ID)
	e.clk.Advance(distribution.DefaultManualDelay)
	e.waitFor("the chunks to be handed out", func() bool { return len(sched.handedOut(distribution.JobChunk)) == 4 })
	e.waitFor("a send in flight", func() bool { return ch.inflight.Load() > 0 })
	// Four chunk jobs run at once; the sends of at most one are in flight.
	settle := time.After(50 * time.Millisecond)
	for done := false; !done; {
		select {
		case ch.release <- struct{}{}:
		case <-settle:
			done = true
		}
	}
	close(ch.release)
	got := e.waitStatus(d.ID, distribution.StatusDone)
	if got.Report.Sent != n {
		t.Errorf("report %+v, want %d sent", got.Report, n)
	}
	if m := ch.most.Load(); m > 2 {
		t.Errorf("%d sends in flight at once, want at most Concurrency (2)", m)
	}
	sent := 0
	ch.sent.Range(func(_, v any) bool {
		if k := v.(*atomic.Int32).Load(); k != 1 {
			t.Errorf("a customer got %d messages", k)
		}
		sent++
		return true
	})
	if sent != n {
		t.Errorf("%d customers got a message, want %d", sent, n)
	}
	// The chunks cut the ledger in order: 3, 3, 3, 1 deliveries.
	var targets []string
	for _, j := range sched.handedOut(distribution.JobChunk) {
		targets = append(targets, j.Target)
	}
	all := e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID})
	want := map[string]bool{
		d.ID + "//" + all[2].ID:                  true,
		d.ID + "/" + all[2].ID + "/" + all[5].ID: true,
		d.ID + "/" + all[5].ID + "/" + all[8].ID: true,
		d.ID + "/" + all[8].ID + "/":             true,
	}
	for _, tg := range targets {
		if !want[tg] {
			t.Errorf("chunk %q, want one of %v", tg, want)
		}
		delete(want, tg)
	}
	if len(want) > 0 {
		t.Errorf("chunks not handed out: %v (got %s)", want, strings.Join(targets, ", "))
	}
}

// chunkedEnv is an env whose Manager fans out in chunks of size through
// a sharedScheduler, to n customers "u00".."u<n-1>", on channel ch; it
// returns the distribution, created and not sent.
func chunkedEnv(t *testing.T, ch distribution.Channel, n, size int) (*env, *sharedScheduler, distribution.Distribution) {
	t.Helper()
	e := newEnv(t)
	sched := newSharedScheduler(e.clk)
	e.start(func(c *distribution.Config) {
		c.Scheduler, c.Channels, c.Concurrency, c.ChunkSize = sched, []distribution.Channel{ch}, 1, size
	})
	for i := range n {
		e.customer(customer.Customer{SourceID: fmt.Sprintf("u%02d", i), Name: "C", Metadata: customer.Metadata{"source": "Intercom"}})
	}
	seg := e.segment()
	d := e.create(distribution.Distribution{Name: "chunked", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{{Channel: ch.Name(), Body: "hi"}}})
	return e, sched, d
}

// A Manager stopped in the middle of a chunk hands its chunk jobs back
// (they would be dropped with their handler), so the next Run (here, or
// another replica's) sends the rest.
func TestChunkHandedBackWhenStopped(t *testing.T) {
	t.Parallel()
	ch := &gatedChannel{release: make(chan struct{})}
	e, sched, d := chunkedEnv(t, ch, 10, 5)
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.waitArmed(d.ID)
	e.clk.Advance(distribution.DefaultManualDelay)
	e.waitFor("a send in flight", func() bool { return ch.inflight.Load() > 0 })
	e.cancelRun()
	close(ch.release) // the send in flight completes; nothing else starts
	e.stopRun()
	var chunks []string
	for _, j := range sched.Pending() {
		if j.Kind == distribution.JobChunk {
			chunks = append(chunks, j.ID)
		}
	}
	if len(chunks) != 2 {
		t.Fatalf("chunk jobs pending after the stop: %v, want both", chunks)
	}
	e.start(func(c *distribution.Config) {
		c.Scheduler, c.Channels, c.Concurrency, c.ChunkSize = sched, []distribution.Channel{ch}, 1, 5
	})
	if got := e.waitStatus(d.ID, distribution.StatusDone); got.Report.Sent != 10 {
		t.Errorf("report %+v, want 10 sent", got.Report)
	}
	ch.sent.Range(func(k, v any) bool {
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("customer %v got %d messages", k, n)
		}
		return true
	})
}

// RetryFailed plans the chunks again: only the chunk holding the
// re-queued delivery is sent again.
func TestChunkedRetryFailed(t *testing.T) {
	t.Parallel()
	ch := distributiontest.NewChannel("flaky")
	e, sched, d := chunkedEnv(t, ch, 10, 3)
	ch.FailCustomer("u07", distribution.PermanentError(errors.New("refused")))
	got := e.sendNow(d.ID, distribution.StatusDone)
	if got.Report.Sent != 9 || got.Report.Failed != 1 {
		t.Fatalf("report %+v, want 9 sent and 1 failed", got.Report)
	}
	if n := len(sched.handedOut(distribution.JobChunk)); n != 4 {
		t.Fatalf("%d chunk jobs, want 4", n)
	}
	ch.FailCustomer("u07", nil)
	if n, err := e.m.RetryFailed(e.ctx, d.ID); err != nil || n != 1 {
		t.Fatalf("RetryFailed = %d, %v", n, err)
	}
	got = e.waitStatus(d.ID, distribution.StatusDone)
	if got.Report.Sent != 10 {
		t.Errorf("report %+v, want 10 sent", got.Report)
	}
	chunks := sched.handedOut(distribution.JobChunk)
	if len(chunks) != 5 || !strings.HasSuffix(chunks[4].ID, ":000002") {
		t.Errorf("chunk jobs %+v, want the third (customers 7 to 9) once more", chunks)
	}
}
