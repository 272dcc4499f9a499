package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestKilledReplicaResumes runs the send in a child process, kills it
// with SIGKILL in the middle and restarts a Manager: the distribution
// completes, nothing is sent twice, nothing is lost, and the sends the
// kill interrupted are reported unknown.
func TestKilledReplicaResumes(t *testing.T) {
	t.Parallel()
	const n = 300
	ctx := context.Background()
	schema := newSchema(t)
	dsn := testDSN(t)
	pool := openPool(t, dsn, schema, 10)
	// Latency keeps sends in flight, so the kill interrupts some.
	srv := newIntercom(t, n, intercomLatency(15*time.Millisecond)...)
	st := postgres.New(pool)
	seedCustomers(t, st, n)

	setup := newReplica(t, pool, srv, replicaOpts{delay: time.Millisecond, noRun: true})
	seg, err := setup.m.CreateSegment(ctx, segment.Segment{Name: "intercom", Type: segment.Passive, Filter: segment.MustParseFilter(intercomFilter)})
	if err != nil {
		t.Fatal(err)
	}
	waitSynced(t, setup.m, seg.ID)
	camp, err := setup.codes.CreateCampaign(ctx, distribution.Campaign{Name: "c", Code: distribution.CodeConfig{Pattern: "K-##########"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := setup.m.CreateDistribution(ctx, distribution.Distribution{Name: "killed", Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "code {{voucher.code}}"}}})
	if err != nil {
		t.Fatal(err)
	}
	// Sent from this (not running) replica: the send job is in the
	// database for the child to claim.
	if _, err := setup.m.Send(ctx, d.ID); err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=replica", helperSchema+"="+schema, helperIntercom+"="+srv.URL,
		helperToken+"="+srv.Token(), helperAdmin+"="+srv.AdminID())
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child to send a third of the messages", func() bool { return srv.MessageCount() >= n/3 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	t.Logf("child killed after %d messages; its output:\n%s", srv.MessageCount(), out.String())
	// The server may still finish a statement the child sent before it
	// died (a move to sending): count the stuck deliveries once the
	// child's backends are gone.
	waitFor(t, "the child's connections to close", func() bool {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, helperAppName(schema, "")).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})

	var stuck int
	for _, err := range st.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID, States: []distribution.DeliveryState{distribution.DeliverySending}}) {
		if err != nil {
			t.Fatal(err)
		}
		stuck++
	}
	if stuck == 0 {
		t.Fatal("no delivery was caught mid-send; the test cannot check ambiguous sends")
	}

	// The child is dead and its connections are gone, so nothing is in
	// flight: a short InterruptAfter lets the restart take its deliveries
	// in sending as interrupted without waiting the default 90 seconds.
	again := newReplica(t, pool, srv, replicaOpts{delay: time.Millisecond, interruptAfter: 100 * time.Millisecond})
	done := waitStatus(t, again.m, d.ID, distribution.StatusDone)
	rep := done.Report
	if rep.Sent+rep.Unknown != n || rep.Skipped != 0 || rep.Failed != 0 || rep.ToProcess != 0 {
		t.Errorf("report = %+v, want %d sent or unknown", rep, n)
	}
	if rep.Unknown != stuck {
		t.Errorf("%d deliveries unknown, want the %d caught in sending", rep.Unknown, stuck)
	}

	contactOf := contactsOf(t, st)
	got := messagesPerContact(srv)
	reached := 0
	for dl, err := range st.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		k := got[contactOf[dl.CustomerID]]
		switch dl.State {
		case distribution.DeliverySent:
			if k != 1 {
				t.Errorf("sent delivery %s: contact got %d messages, want 1", dl.ID, k)
			}
		case distribution.DeliveryUnknown:
			if k > 1 || dl.Reason != distribution.ReasonInterrupted {
				t.Errorf("unknown delivery %s: %d messages (want at most 1), reason %q", dl.ID, k, dl.Reason)
			}
			reached += k
		default:
			t.Errorf("delivery %s ended %s", dl.ID, dl.State)
		}
	}
	if total := srv.MessageCount(); total != rep.Sent+reached {
		t.Errorf("Intercom got %d messages, want %d sent + %d of the unknown", total, rep.Sent, reached)
	}
	pubs, err := setup.codes.Publications(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	perCustomer := map[string]int{}
	for _, p := range pubs {
		if perCustomer[p.CustomerID]++; perCustomer[p.CustomerID] > 1 {
			t.Errorf("customer %s got more than one code", p.CustomerID)
		}
	}
	if len(perCustomer) != n {
		t.Errorf("%d customers got a code, want %d", len(perCustomer), n)
	}
}

// TestCountdownSurvivesRestartAndCrossReplicaCancel: the 10-minute window
// of a manual distribution is kept by the database. A Manager that sent
// it stops; a new one fires it on time. A cancel made through one replica
// stops the countdown another replica holds.
func TestCountdownSurvivesRestartAndCrossReplicaCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	srv := newIntercom(t, 2)
	st := postgres.New(pool)
	seedCustomers(t, st, 2)
	clk := distributiontest.NewFakeClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	codes := postgres.NewCodes(pool, nil)
	camp, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	create := func(m *distribution.Manager, name string, i int) distribution.Distribution {
		t.Helper()
		c, err := st.GetCustomer(ctx, intercom.SourceID(contact(i)))
		if err != nil {
			t.Fatal(err)
		}
		d, err := m.CreateDistribution(ctx, distribution.Distribution{Name: name, Audience: distribution.Audience{CustomerID: c.ID}, Campaign: camp.ID,
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "{{voucher.code}}"}}})
		if err != nil {
			t.Fatal(err)
		}
		if d, err = m.Send(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if want := clk.Now().Add(distribution.DefaultManualDelay); !d.SendAt.Equal(want) {
			t.Fatalf("SendAt = %v, want %v", d.SendAt, want)
		}
		return d
	}

	// 1. Restart: the first Manager stops during the countdown.
	first := newReplica(t, pool, srv, replicaOpts{clock: clk})
	d1 := create(first.m, "restart", 0)
	first.stop()
	pending, err := first.sched.Pending(ctx)
	if err != nil || len(pending) != 1 || pending[0].Target != d1.ID || !pending[0].RunAt.Equal(d1.SendAt) {
		t.Fatalf("jobs after the stop = %+v, %v; want the send of %s at %v", pending, err, d1.ID, d1.SendAt)
	}
	second := newReplica(t, pool, srv, replicaOpts{clock: clk})
	clk.Advance(distribution.DefaultManualDelay - time.Second)
	time.Sleep(150 * time.Millisecond)
	if n := srv.MessageCount(); n != 0 {
		t.Fatalf("%d messages before the window closed, want 0", n)
	}
	clk.Advance(time.Second)
	waitStatus(t, second.m, d1.ID, distribution.StatusDone)
	if n := srv.MessageCount(); n != 1 {
		t.Fatalf("%d messages after the window, want 1", n)
	}

	// 2. Cancel from another replica: both run; one holds the countdown.
	other := newReplica(t, pool, srv, replicaOpts{clock: clk})
	d2 := create(second.m, "canceled", 1)
	if _, err := other.m.Cancel(ctx, d2.ID); err != nil {
		t.Fatal(err)
	}
	if pending, _ := other.sched.Pending(ctx); len(pending) != 0 {
		t.Fatalf("jobs after the cancel = %+v, want none", pending)
	}
	clk.Advance(distribution.DefaultManualDelay)
	time.Sleep(200 * time.Millisecond)
	if n := srv.MessageCount(); n != 1 {
		t.Fatalf("%d messages, want 1 (the canceled distribution sent nothing)", n)
	}
	if got, _ := second.m.Distribution(ctx, d2.ID); got.Status != distribution.StatusCanceled {
		t.Fatalf("status = %s, want canceled", got.Status)
	}
}

// TestConcurrentUpsertsOneRowOneMembership upserts one customer from
// several goroutines of three Managers: one row, one membership.
func TestConcurrentUpsertsOneRowOneMembership(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := newSchema(t)
	dsn := testDSN(t)
	srv := newIntercom(t, 0)
	var ms []*distribution.Manager
	first := newReplica(t, openPool(t, dsn, schema, 6), srv, replicaOpts{noRun: true})
	seg, err := first.m.CreateSegment(ctx, segment.Segment{Name: "intercom", Type: segment.AutoUpdate, Filter: segment.MustParseFilter(intercomFilter)})
	if err != nil {
		t.Fatal(err)
	}
	waitSynced(t, first.m, seg.ID)
	ms = append(ms, first.m)
	for range 2 {
		ms = append(ms, newReplica(t, openPool(t, dsn, schema, 6), srv, replicaOpts{noRun: true}).m)
	}
	var wg sync.WaitGroup
	for i, m := range ms {
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range 10 {
					c := intercom.ContactToCustomer(contact(7))
					c.Metadata[fmt.Sprint("m", i, "g", g)] = float64(k)
					if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{Merge: k%2 == 0}); err != nil {
						t.Errorf("upsert: %v", err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	st := postgres.New(first.codes.Pool())
	var rows int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM customers`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("customers rows = %d, %v; want 1", rows, err)
	}
	var mem int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM segment_members`).Scan(&mem); err != nil || mem != 1 {
		t.Fatalf("segment_members rows = %d, %v; want 1", mem, err)
	}
	if n, err := st.CountMembers(ctx, seg.ID); err != nil || n != 1 {
		t.Fatalf("CountMembers = %d, %v; want 1", n, err)
	}
}
