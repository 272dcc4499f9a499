package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store/postgres"
)

// CI-sized Intercom: 300 calls per 10-second window, windows starting
// 3.6s past the client's whole 10 seconds, X-RateLimit-Reset truncated to
// the second (a second early at worst: the harder case).
const (
	ciLimit  = 300
	ciWindow = 10 * time.Second
)

func ciIntercom(t testing.TB, contacts int) *intercomtest.Server {
	return newIntercom(t, contacts, intercomtest.RateLimit(ciLimit, ciWindow), intercomtest.RateLimitPhase(3600*time.Millisecond),
		intercomtest.RateLimitReset(intercomtest.ResetTruncate), intercomtest.Latency(5*time.Millisecond))
}

// budgetFigures is how a run used Intercom's budget.
type budgetFigures struct {
	fullWindows int     // windows between the first and the last that saw calls
	used        float64 // share of the budget of the full windows that was used
	refused     float64 // share of all calls answered 429
	calls       int64
	elapsed     time.Duration
}

func (f budgetFigures) String() string {
	return fmt.Sprintf("%.1f%% of the budget used in %d full windows, %.2f%% of %d calls answered 429, %v",
		100*f.used, f.fullWindows, 100*f.refused, f.calls, f.elapsed.Round(time.Second))
}

// figures reads srv's windows: the first and the last window that saw
// calls are partial (sending began and ended in them); the others are
// full.
func figures(srv *intercomtest.Server, elapsed time.Duration) budgetFigures {
	ws := srv.Windows()
	f := budgetFigures{elapsed: elapsed}
	st := srv.Stats()
	f.calls = st.Requests
	if st.Requests > 0 {
		f.refused = float64(st.RateLimited) / float64(st.Requests)
	}
	if len(ws) > 2 {
		calls := 0
		for _, w := range ws[1 : len(ws)-1] {
			calls += w.Calls
			f.fullWindows++
		}
		f.used = float64(calls) / float64(ciLimit*f.fullWindows)
	}
	return f
}

// runBudgetScenario sends dists manual distributions to perDist customers
// at once from replicas child processes against the CI-sized Intercom,
// checks that every customer got each distribution's message once, and
// returns the budget's figures. The replicas share one budget (300 calls
// per window) through PostgreSQL, or with local each paces itself to the
// whole budget with the in-process limiter.
func runBudgetScenario(t testing.TB, replicas, dists, perDist int, local bool) budgetFigures {
	t.Helper()
	ctx := context.Background()
	schema := newSchema(t)
	pool := openPool(t, testDSN(t), schema, 8)
	srv := ciIntercom(t, perDist)
	st := postgres.New(pool)
	seedCustomers(t, st, perDist)
	setup := newReplica(t, pool, srv, replicaOpts{delay: time.Millisecond, noRun: true})
	seg, err := setup.m.CreateSegment(ctx, segment.Segment{Name: "intercom", Type: segment.Passive, Filter: segment.MustParseFilter(intercomFilter)})
	if err != nil {
		t.Fatal(err)
	}
	waitSynced(t, setup.m, seg.ID)
	for i := range replicas {
		c := budgetReplicaConfig{Schema: schema, ReplicaID: fmt.Sprint("r", i), Budget: true, BudgetLimit: ciLimit, ChunkSize: 100, Lease: 5 * time.Second}
		if local {
			c.Budget, c.LocalLimit = false, ciLimit
		}
		startBudgetReplica(t, srv, c)
	}
	start := time.Now()
	ids := make([]string, dists)
	for i := range ids {
		d, err := setup.m.CreateDistribution(ctx, distribution.Distribution{Name: fmt.Sprint("d", i), Audience: distribution.Audience{SegmentID: seg.ID},
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: fmt.Sprintf("d%d: hi {{customer.name}}", i)}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := setup.m.Send(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		ids[i] = d.ID
	}
	for _, id := range ids {
		if d := waitStatus(t, setup.m, id, distribution.StatusDone); d.Report.Sent != perDist {
			t.Errorf("distribution %s: report %+v, want %d sent", id, d.Report, perDist)
		}
	}
	f := figures(srv, time.Since(start))
	got := map[string]int{} // contact + distribution -> messages
	for _, msg := range srv.Messages() {
		d, _, _ := strings.Cut(msg.Body, ":")
		got[msg.To.ID+" "+d]++
	}
	for i := range perDist {
		for d := range dists {
			if k := got[fmt.Sprintf("%s d%d", contact(i).ID, d)]; k != 1 {
				t.Errorf("contact %s got %d messages of d%d, want 1", contact(i).ID, k, d)
			}
		}
	}
	return f
}

// TestSharedBudget: replicas sharing the budget through PostgreSQL use
// Intercom's windows in full and are almost never refused, with the
// resets truncated to the second. One replica and three, each with three
// distributions sent at once (about 35 seconds: three and a half windows' worth).
func TestSharedBudget(t *testing.T) {
	t.Parallel()
	testDSN(t)
	for _, replicas := range []int{1, 3} {
		t.Run(fmt.Sprint(replicas, " replicas"), func(t *testing.T) {
			t.Parallel()
			f := runBudgetScenario(t, replicas, 3, 350, false)
			t.Logf("%d replicas x 3 distributions: %v", replicas, f)
			if f.fullWindows < 2 || f.used < 0.95 {
				t.Errorf("%v; want at least 95%% in at least 2 full windows", f)
			}
			if f.refused > 0.01 {
				t.Errorf("%v; want at most 1%% answered 429", f)
			}
		})
	}
}

// BenchmarkSharedBudget reports how 1 and 3 replicas use the CI-sized
// Intercom budget (budget-%: share of the full windows' calls used;
// 429-%: share of calls refused), each sending three distributions at
// once: sharing the budget through PostgreSQL, and, as the baseline, each
// pacing itself to the whole budget in-process. About 35 seconds each;
// run it with -benchtime=1x:
//
//	go test -run=^$ -bench=SharedBudget -benchtime=1x ./store/postgres
func BenchmarkSharedBudget(b *testing.B) {
	testDSN(b)
	for _, limiter := range []string{"shared", "local"} {
		for _, replicas := range []int{1, 3} {
			b.Run(fmt.Sprintf("limiter=%s/replicas=%d", limiter, replicas), func(b *testing.B) {
				var f budgetFigures
				for range b.N {
					f = runBudgetScenario(b, replicas, 3, 350, limiter == "local")
				}
				b.ReportMetric(100*f.used, "budget-%")
				b.ReportMetric(100*f.refused, "429-%")
				b.ReportMetric(float64(f.fullWindows), "full-windows")
				b.Logf("%s, %d replicas: %v", limiter, replicas, f)
			})
		}
	}
}

// TestSharedFanoutSurvivesKill: one manual distribution, three replica
// processes: each sends part of it (chunks claimed with leases); one is
// killed mid-send, and the two others finish it, its chunk taken over when
// the lease ends. Nobody gets a message twice; every delivery is sent, or
// unknown if it was in sending at the kill.
func TestSharedFanoutSurvivesKill(t *testing.T) {
	t.Parallel()
	const n = 3000
	ctx := context.Background()
	schema := newSchema(t)
	pool := openPool(t, testDSN(t), schema, 8)
	srv := newIntercom(t, n, intercomtest.Latency(15*time.Millisecond))
	st := postgres.New(pool)
	seedCustomers(t, st, n)
	setup := newReplica(t, pool, srv, replicaOpts{delay: time.Millisecond, noRun: true})
	seg, err := setup.m.CreateSegment(ctx, segment.Segment{Name: "intercom", Type: segment.Passive, Filter: segment.MustParseFilter(intercomFilter)})
	if err != nil {
		t.Fatal(err)
	}
	waitSynced(t, setup.m, seg.ID)
	camp, err := setup.codes.CreateCampaign(ctx, distribution.Campaign{Name: "c", Code: distribution.CodeConfig{Pattern: "S-##########"}})
	if err != nil {
		t.Fatal(err)
	}
	var rs []*childReplica
	for i := range 3 {
		rs = append(rs, startBudgetReplica(t, srv, budgetReplicaConfig{Schema: schema, ReplicaID: fmt.Sprint("r", i),
			ChunkSize: 50, Lease: 2 * time.Second, InterruptAfter: 5 * time.Second}))
	}
	d, err := setup.m.CreateDistribution(ctx, distribution.Distribution{Name: "shared", Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "code {{voucher.code}}"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.m.Send(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	bySender := func() map[string]int {
		out := map[string]int{}
		for _, msg := range srv.Messages() {
			out[msg.UserAgent]++
		}
		return out
	}
	waitFor(t, "every replica to send, and a third of the messages to go", func() bool {
		by := bySender()
		return by["r0"] > 0 && by["r1"] > 0 && by["r2"] > 0 && srv.MessageCount() >= n/3
	})
	rs[0].kill(t)
	killedAt := time.Now()
	// The server may still finish a statement r0 sent before it died:
	// read the deliveries in sending once its connections are gone. Those
	// moved to sending before the kill are r0's (its requests in flight,
	// and sent ones whose outcome it had not written yet: at most two per
	// send worker) and the survivors' of that moment (they end sent).
	waitFor(t, "r0's connections to close", func() bool {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'codedrop-budget-r0'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	inFlight := map[string]bool{}
	for dl, err := range st.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID, States: []distribution.DeliveryState{distribution.DeliverySending}}) {
		if err != nil {
			t.Fatal(err)
		}
		if dl.UpdatedAt.Before(killedAt) {
			inFlight[dl.ID] = true
		}
	}
	atKill := bySender() // r0's last requests have reached the server by now
	t.Logf("r0 killed after %d messages: %v", srv.MessageCount(), atKill)

	done := waitStatus(t, setup.m, d.ID, distribution.StatusDone)
	after := bySender()
	t.Logf("done %v after the kill: %v (sent %d, unknown %d of the %d in sending at the kill)",
		time.Since(killedAt).Round(100*time.Millisecond), after, done.Report.Sent, done.Report.Unknown, len(inFlight))
	if after["r0"] != atKill["r0"] {
		t.Errorf("the killed replica sent %d messages after its death", after["r0"]-atKill["r0"])
	}
	if after["r1"] == atKill["r1"] && after["r2"] == atKill["r2"] {
		t.Error("no survivor sent anything after the kill")
	}
	rep := done.Report
	if rep.Sent+rep.Unknown != n || rep.Failed != 0 || rep.Skipped != 0 {
		t.Errorf("report %+v, want %d sent or unknown", rep, n)
	}
	if rep.Unknown > 2*distribution.DefaultConcurrency {
		t.Errorf("%d deliveries unknown, want at most twice the killed replica's Concurrency", rep.Unknown)
	}

	contactOf := contactsOf(t, st)
	got := messagesPerContact(srv)
	dups := 0
	for _, k := range got {
		if k > 1 {
			dups++
		}
	}
	if dups > 0 {
		t.Errorf("%d contacts got more than one message", dups)
	}
	reached := 0
	for dl, err := range st.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		k := got[contactOf[dl.CustomerID]]
		switch {
		case dl.State == distribution.DeliverySent && k == 1:
		case dl.State == distribution.DeliveryUnknown && k <= 1 && dl.Reason == distribution.ReasonInterrupted && inFlight[dl.ID]:
			reached += k
		default:
			t.Errorf("delivery %s ended %s (%s), its contact got %d messages", dl.ID, dl.State, dl.Reason, k)
		}
	}
	t.Logf("%d of the %d unknown reached Intercom; %d contacts got two messages", reached, rep.Unknown, dups)
}
