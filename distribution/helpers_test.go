package distribution_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

const intercomFilter = `{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`

// env is a Manager on a memory store, a fake clock and a fake Intercom.
type env struct {
	t     *testing.T
	ctx   context.Context
	st    distribution.ManagerStore
	mem   *store.Memory
	srv   *intercomtest.Server
	clk   *distributiontest.FakeClock
	codes *distribution.Campaigns
	m     *distribution.Manager

	stopRun   func() // cancels Run and waits for it to return
	cancelRun func() // cancels Run without waiting
}

func newEnv(t *testing.T, contacts ...intercom.Contact) *env {
	t.Helper()
	srv := intercomtest.NewServer(intercomtest.Contacts(contacts...))
	t.Cleanup(srv.Close)
	mem := store.NewMemory()
	clk := distributiontest.NewFakeClock(time.Time{})
	e := &env{t: t, ctx: context.Background(), st: mem, mem: mem, srv: srv, clk: clk,
		codes: distribution.NewCampaigns(distribution.CampaignsConfig{Now: clk.Now})}
	e.start(nil)
	return e
}

// start makes a new Manager on the env's store, codes and Intercom (a
// restart) and runs it; edit tunes its Config.
func (e *env) start(edit func(*distribution.Config)) {
	e.t.Helper()
	if e.stopRun != nil {
		e.stopRun()
	}
	cfg := distribution.Config{Logger: testLogger(e.t),
		Store: e.st, Intercom: e.srv.Client(), AdminID: e.srv.AdminID(),
		Codes: e.codes, Clock: e.clk, Concurrency: 4,
	}
	if edit != nil {
		edit(&cfg)
	}
	m, err := distribution.NewManager(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select { // Run has armed its timers: the test may advance the clock
	case <-m.Ready():
	case err := <-done:
		e.t.Fatalf("Run = %v", err)
	}
	var once sync.Once
	e.cancelRun = cancel
	e.stopRun = func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				e.t.Errorf("Run = %v, want context.Canceled", err)
			}
		})
	}
	e.t.Cleanup(e.stopRun)
}

func (e *env) customer(c customer.Customer) customer.Customer {
	e.t.Helper()
	out, err := e.m.UpsertCustomer(e.ctx, c, customer.UpsertOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// intercomCustomer adds a customer from Intercom and its contact.
func (e *env) intercomCustomer(src, name, email string) customer.Customer {
	e.t.Helper()
	e.srv.AddContact(intercom.Contact{ExternalID: src, Name: name, Email: email, Role: intercom.RoleUser})
	return e.customer(customer.Customer{SourceID: src, Name: name, Email: email, Metadata: customer.Metadata{"source": "Intercom"}})
}

func (e *env) segment() segment.Segment {
	e.t.Helper()
	s, err := e.m.CreateSegment(e.ctx, segment.Segment{Name: "From Intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) campaign(c distribution.Campaign) distribution.Campaign {
	e.t.Helper()
	out, err := e.codes.CreateCampaign(e.ctx, c)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) create(d distribution.Distribution) distribution.Distribution {
	e.t.Helper()
	out, err := e.m.CreateDistribution(e.ctx, d)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// sendNow sends d, waits until its countdown runs, advances the clock past
// ManualDelay and waits for the final status.
func (e *env) sendNow(id string, want distribution.Status) distribution.Distribution {
	e.t.Helper()
	if _, err := e.m.Send(e.ctx, id); err != nil {
		e.t.Fatal(err)
	}
	e.waitArmed(id)
	e.clk.Advance(distribution.DefaultManualDelay)
	return e.waitStatus(id, want)
}

func (e *env) waitArmed(id string) distribution.Distribution {
	e.t.Helper()
	var d distribution.Distribution
	e.waitFor("distribution to be armed", func() bool {
		d, _ = e.m.Distribution(e.ctx, id)
		return !d.SendAt.IsZero()
	})
	return d
}

func (e *env) waitStatus(id string, want distribution.Status) distribution.Distribution {
	e.t.Helper()
	var d distribution.Distribution
	e.waitFor("status "+string(want), func() bool {
		d, _ = e.m.Distribution(e.ctx, id)
		return d.Status == want
	})
	return d
}

// idle waits (up to 10s of real time) until the Manager has no work in
// progress and no job due.
func (e *env) idle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := distributiontest.WaitIdle(ctx, e.m); err != nil {
		e.t.Fatal(err)
	}
}

// waitFor waits (up to 10s of real time) until cond holds, re-checking it
// on every change of the Manager (distributiontest.WaitUntil).
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := distributiontest.WaitUntil(ctx, e.m, cond); err != nil {
		for dl, err := range e.mem.Deliveries(e.ctx, distribution.DeliveryFilter{}) {
			e.t.Logf("delivery %+v (err %v)", dl, err)
		}
		e.t.Fatalf("timed out waiting for %s", what)
	}
}

func (e *env) deliveries(f distribution.DeliveryFilter) []distribution.Delivery {
	e.t.Helper()
	var out []distribution.Delivery
	for d, err := range e.m.Deliveries(e.ctx, f) {
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// faultyStore fails chosen delivery updates, to simulate a crash between
// two steps.
type faultyStore struct {
	distribution.ManagerStore
	failTo atomic.Value // distribution.DeliveryState whose UpdateDelivery fails
	fails  atomic.Int32 // how many more failures
}

var errCrash = errors.New("simulated crash")

func (f *faultyStore) UpdateDelivery(ctx context.Context, d distribution.Delivery, from distribution.DeliveryState) error {
	if to, _ := f.failTo.Load().(distribution.DeliveryState); to == d.State && f.fails.Add(-1) >= 0 {
		return errCrash
	}
	return f.ManagerStore.UpdateDelivery(ctx, d, from)
}

// gateEvaluator blocks segment syncs (every Match) until the gate opens.
type gateEvaluator struct {
	open chan struct{}
}

func (g gateEvaluator) Compile(s segment.Segment) (segment.Matcher, error) {
	m, err := segment.DefaultEvaluator{}.Compile(s)
	if err != nil {
		return nil, err
	}
	return gateMatcher{m, g.open}, nil
}

type gateMatcher struct {
	segment.Matcher
	open chan struct{}
}

func (g gateMatcher) Match(c *customer.Customer, now time.Time) bool {
	<-g.open
	return g.Matcher.Match(c, now)
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CODEDROP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// Keep the log and show it only when the test fails.
	buf := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func intercomContact(externalID string) intercom.Contact {
	return intercom.Contact{ExternalID: externalID, Role: intercom.RoleUser}
}
