package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store/postgres"
)

const intercomFilter = `{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`

// contact returns the intercomtest contact number i.
func contact(i int) intercom.Contact {
	return intercom.Contact{ID: fmt.Sprintf("c%07d", i), Role: intercom.RoleUser, ExternalID: fmt.Sprintf("u%07d", i), Name: fmt.Sprintf("Customer %d", i)}
}

// newIntercom starts a fake Intercom with n contacts.
func newIntercom(t testing.TB, n int, opts ...intercomtest.Option) *intercomtest.Server {
	cs := make([]intercom.Contact, n)
	for i := range cs {
		cs[i] = contact(i)
	}
	srv := intercomtest.NewServer(append(opts, intercomtest.Contacts(cs...))...)
	t.Cleanup(srv.Close)
	return srv
}

// seedCustomers stores the customers of contacts 0..n-1 (as a contact
// sync would), in batches.
func seedCustomers(t testing.TB, st *postgres.Store, n int) {
	t.Helper()
	batch := make([]customer.Customer, 0, 1000)
	for i := range n {
		batch = append(batch, intercom.ContactToCustomer(contact(i)))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := st.UpsertCustomers(context.Background(), batch, customer.UpsertOptions{}); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// replica is one host process: a Manager over PostgreSQL, running.
type replica struct {
	m     *distribution.Manager
	sched *postgres.Scheduler
	codes *postgres.Codes
	stop  func()
}

type replicaOpts struct {
	clock distribution.Clock
	delay time.Duration
	noRun bool
	// interruptAfter is Config.InterruptAfter (zero: the default).
	interruptAfter time.Duration
}

func newReplica(t testing.TB, pool *pgxpool.Pool, srv *intercomtest.Server, o replicaOpts) *replica {
	t.Helper()
	sched, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{PollInterval: 20 * time.Millisecond, Clock: o.clock, Lease: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{sched: sched, codes: postgres.NewCodes(pool, nil), stop: func() {}}
	var clk distribution.Clock
	if o.clock != nil {
		clk = o.clock
	}
	r.m, err = distribution.NewManager(distribution.Config{
		Store: postgres.New(pool), Intercom: srv.Client(), AdminID: srv.AdminID(),
		Codes: r.codes, Scheduler: sched, Clock: clk, ManualDelay: o.delay,
		InterruptAfter: o.interruptAfter,
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.noRun {
		return r
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.m.Run(ctx) }()
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	}
	t.Cleanup(r.stop)
	return r
}

// waitFor polls cond until it holds or three minutes have passed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitSynced(t testing.TB, m *distribution.Manager, segID string) {
	t.Helper()
	waitFor(t, "the segment to sync", func() bool {
		s, err := m.Segment(context.Background(), segID)
		return err == nil && s.SyncStatus == segment.Synced
	})
}

func waitStatus(t testing.TB, m *distribution.Manager, id string, want distribution.Status) distribution.Distribution {
	t.Helper()
	var d distribution.Distribution
	waitFor(t, "distribution status "+string(want), func() bool {
		var err error
		d, err = m.Distribution(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == distribution.StatusFailed && want != d.Status {
			t.Fatalf("distribution failed: %+v", d.Report)
		}
		return d.Status == want
	})
	return d
}

// checkExactlyOnce checks that each of the n contacts got exactly one
// message, carrying the one code published to its customer.
func checkExactlyOnce(t *testing.T, srv *intercomtest.Server, codes *postgres.Codes, campID string, n int) {
	t.Helper()
	ctx := context.Background()
	pubs, err := codes.Publications(ctx, campID)
	if err != nil {
		t.Fatal(err)
	}
	codeOf := map[string]string{} // customer id -> code
	seen := map[string]bool{}
	for _, p := range pubs {
		if _, dup := codeOf[p.CustomerID]; dup {
			t.Errorf("customer %s got two codes", p.CustomerID)
		}
		if seen[p.Code] {
			t.Errorf("code %s published twice", p.Code)
		}
		codeOf[p.CustomerID], seen[p.Code] = p.Code, true
	}
	if len(pubs) != n {
		t.Errorf("%d codes published, want %d", len(pubs), n)
	}
	st := postgres.New(codes.Pool())
	perContact := map[string]int{}
	bodyOf := map[string]string{}
	for _, msg := range srv.Messages() {
		perContact[msg.To.ID]++
		bodyOf[msg.To.ID] = msg.Body
	}
	if len(perContact) != n {
		t.Errorf("%d contacts got a message, want %d", len(perContact), n)
	}
	for id, k := range perContact {
		if k != 1 {
			t.Errorf("contact %s got %d messages, want 1", id, k)
		}
	}
	bad := 0
	for c, err := range st.Customers(ctx, customer.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		cid, _ := c.Metadata[intercom.MetaIntercomID].(string)
		if code := codeOf[c.ID]; code == "" || !strings.Contains(bodyOf[cid], code) {
			if bad++; bad < 5 {
				t.Errorf("customer %s (contact %s): message %q does not carry its code %q", c.ID, cid, bodyOf[cid], code)
			}
		}
	}
}

// TestReplicasSendOnce: three Managers on one database send one manual
// distribution to 10,000 customers (1,000 with -short or -race). Besides the send job (which one replica claims), every
// replica is handed an extra send job for the same distribution, so all
// three fan it out at once and race for every delivery.
func TestReplicasSendOnce(t *testing.T) {
	t.Parallel()
	// 10,000 recipients; 1,000 under -short or -race (which slows the
	// three fan-outs about fourfold).
	n := 10_000
	if testing.Short() || raceEnabled {
		n = 1_000
	}
	schema := newSchema(t)
	dsn := testDSN(t)
	srv := newIntercom(t, n)
	pools := []*pgxpool.Pool{openPool(t, dsn, schema, 10), openPool(t, dsn, schema, 10), openPool(t, dsn, schema, 10)}
	ctx := context.Background()
	start := time.Now()
	seedCustomers(t, postgres.New(pools[0]), n)
	t.Logf("seeded %d customers in %v", n, time.Since(start))

	rs := make([]*replica, 3)
	rs[0] = newReplica(t, pools[0], srv, replicaOpts{delay: 50 * time.Millisecond})
	seg, err := rs[0].m.CreateSegment(ctx, segment.Segment{Name: "intercom", Type: segment.Passive, Filter: segment.MustParseFilter(intercomFilter)})
	if err != nil {
		t.Fatal(err)
	}
	waitSynced(t, rs[0].m, seg.ID)
	t.Logf("segment synced at %v", time.Since(start))
	rs[1] = newReplica(t, pools[1], srv, replicaOpts{delay: 50 * time.Millisecond})
	rs[2] = newReplica(t, pools[2], srv, replicaOpts{delay: 50 * time.Millisecond})

	camp, err := rs[1].codes.CreateCampaign(ctx, distribution.Campaign{Name: "welcome", Code: distribution.CodeConfig{Pattern: "W-########"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := rs[2].m.CreateDistribution(ctx, distribution.Distribution{Name: "welcome", Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "<p>Hi {{customer.name}}, your code: {{voucher.code}}</p>"}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, err = rs[0].m.Send(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if err := r.sched.Schedule(ctx, distribution.Job{ID: fmt.Sprint("extra-", i), Kind: distribution.JobSend, Target: d.ID, RunAt: d.SendAt}); err != nil {
			t.Fatal(err)
		}
	}
	sendStart := time.Now()
	done := waitStatus(t, rs[1].m, d.ID, distribution.StatusDone)
	t.Logf("sent to %d customers in %v", n, time.Since(sendStart))
	if done.Report.Sent != n || done.Report.Recipients != n {
		t.Errorf("report = %+v, want %d sent", done.Report, n)
	}
	checkExactlyOnce(t, srv, rs[0].codes, camp.ID, n)
}

func intercomContactCustomer(i int) customer.Customer { return intercom.ContactToCustomer(contact(i)) }

func intercomLatency(d time.Duration) []intercomtest.Option {
	return []intercomtest.Option{intercomtest.Latency(d)}
}
