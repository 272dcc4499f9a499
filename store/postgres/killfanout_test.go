package postgres_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestKillFanningReplica: three replica processes share one database and
// a fake Intercom that enforces rate-limit windows; each replica's
// Intercom client paces itself. The replica fanning out a manual
// distribution is killed with SIGKILL a third of the way through. The
// survivors alone take the send over and bring the distribution to done
// within InterruptAfter + 30 s; no contact gets two messages; every
// customer ends with a message or a terminal reason; and the deliveries
// left unknown are at most the requests the dead replica had in flight:
// those its rate limiter had let through and whose outcome it had not
// recorded (counted in a journal the kill cannot lose).
func TestKillFanningReplica(t *testing.T) {
	t.Parallel()
	n := 3000
	if testing.Short() || raceEnabled {
		n = 1200
	}
	const (
		lease          = 3 * time.Second // the send job's
		interruptAfter = 6 * time.Second
		sendTimeout    = 2 * time.Second
		perMinute      = 18_000 // each client: 300 a second, bursts of 30
	)
	ctx := context.Background()
	schema := newSchema(t)
	pool := openPool(t, testDSN(t), schema, 10)
	// Intercom answers in 10 ms and allows 600 calls a second: the
	// clients' limiters, not Intercom, hold the workers back, so at any
	// moment some wait for their limiter and some are in flight.
	srv := newIntercom(t, n, intercomtest.Latency(10*time.Millisecond), intercomtest.RateLimit(2*perMinute/60, time.Second))
	st := postgres.New(pool)
	seedCustomers(t, st, n)

	// The countdown outlasts Send: Send's own Schedule of the send job
	// (after the Store wrote it) comes before a replica claims it (else
	// it hands the job to a second replica, which fans out too).
	const delay = 300 * time.Millisecond
	setup := newReplica(t, pool, srv, replicaOpts{delay: delay, noRun: true})
	seg, err := setup.m.CreateSegment(ctx, segment.Segment{Name: "intercom", Type: segment.Passive, Filter: segment.MustParseFilter(intercomFilter)})
	if err != nil {
		t.Fatal(err)
	}
	waitSynced(t, setup.m, seg.ID)
	camp, err := setup.codes.CreateCampaign(ctx, distribution.Campaign{Name: "c", Code: distribution.CodeConfig{Pattern: "F-##########"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := setup.m.CreateDistribution(ctx, distribution.Distribution{Name: "fan-out", Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "code {{voucher.code}}"}}})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	reps := make([]*child, 3)
	for i := range reps {
		reps[i] = startChild(t, schema, srv, helperConfig{ReplicaID: fmt.Sprint("r", i+1), Lease: lease, ManualDelay: delay,
			InterruptAfter: interruptAfter, SendTimeout: sendTimeout, RatePerMinute: perMinute, RateWindow: time.Second,
			ChunkSize: n, // one replica fans it all out: the test kills that one
			Journal:   filepath.Join(dir, fmt.Sprint("r", i+1)), Log: true})
	}
	if _, err := setup.m.Send(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	var victim *child
	deadline := time.Now().Add(time.Minute)
	waitFor(t, "a replica to send a third of the messages", func() bool {
		for _, r := range reps {
			if r.front.messages.Load() >= int64(n/3) {
				victim = r
				return true
			}
		}
		if time.Now().After(deadline) {
			got, err := setup.m.Distribution(ctx, d.ID)
			jobs, jerr := setup.sched.Pending(ctx)
			t.Fatalf("no replica sent %d messages in a minute: messages %d, %d, %d; distribution %s %+v (%v); jobs %+v (%v)", n/3,
				reps[0].front.messages.Load(), reps[1].front.messages.Load(), reps[2].front.messages.Load(), got.Status, got.Report, err, jobs, jerr)
		}
		return false
	})
	victim.kill()
	killedAt := time.Now()
	victim.waitGone(pool)

	// At the kill: what the victim's limiter let through, and what it
	// recorded. Nobody else has sent yet (the send job's lease holds).
	cnt, err := st.CountDeliveries(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var survivors []*child
	for _, r := range reps {
		if r != victim {
			survivors = append(survivors, r)
			if k := r.front.messages.Load(); k != 0 {
				t.Fatalf("replica %s sent %d messages before the counts at the kill were taken", r.id, k)
			}
		}
	}
	fi, err := os.Stat(filepath.Join(dir, victim.id))
	if err != nil {
		t.Fatal(err)
	}
	paced, sentAtKill, sendingAtKill := int(fi.Size()), cnt.States[distribution.DeliverySent], cnt.States[distribution.DeliverySending]
	inFlight := paced - sentAtKill
	if sendingAtKill == 0 {
		t.Log("no delivery was in sending at the kill")
	}

	// The survivors alone finish it.
	bound := interruptAfter + 30*time.Second
	var done distribution.Distribution
	waitFor(t, "the distribution to finish", func() bool {
		if done, err = setup.m.Distribution(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if time.Since(killedAt) > bound {
			t.Fatalf("distribution still %s %v after the kill (bound InterruptAfter + 30s = %v): %+v", done.Status, time.Since(killedAt), bound, done.Report)
		}
		return done.Status != distribution.StatusSending
	})
	doneAfter := time.Since(killedAt)
	rep := done.Report
	if done.Status != distribution.StatusDone || rep.Sent+rep.Unknown != n || rep.Skipped+rep.Failed+rep.Canceled+rep.ToProcess != 0 {
		t.Errorf("distribution %s, report %+v; want done, %d sent or unknown", done.Status, rep, n)
	}
	if rep.Unknown != sendingAtKill {
		t.Errorf("%d deliveries unknown, want the %d in sending at the kill", rep.Unknown, sendingAtKill)
	}
	if rep.Unknown > inFlight {
		t.Errorf("%d deliveries unknown, more than the %d requests in flight at the kill (%d let through by the rate limiter, %d recorded sent)",
			rep.Unknown, inFlight, paced, sentAtKill)
	}

	// Every customer: one message, or a terminal reason; no contact gets
	// two.
	contactOf := contactsOf(t, st)
	perContact := messagesPerContact(srv)
	duplicates := 0
	for id, k := range perContact {
		if k > 1 {
			duplicates++
			t.Errorf("contact %s got %d messages", id, k)
		}
	}
	unknownReached, resolved := 0, map[string]bool{}
	for dl, err := range st.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		k := perContact[contactOf[dl.CustomerID]]
		switch dl.State {
		case distribution.DeliverySent:
			if k != 1 {
				t.Errorf("sent delivery %s: its contact got %d messages, want 1", dl.ID, k)
			}
		case distribution.DeliveryUnknown:
			if dl.Reason != distribution.ReasonInterrupted {
				t.Errorf("unknown delivery %s: reason %q, want %q", dl.ID, dl.Reason, distribution.ReasonInterrupted)
			}
			unknownReached += k
		default:
			t.Errorf("delivery %s ended %s (%s)", dl.ID, dl.State, dl.Reason)
			continue
		}
		resolved[dl.CustomerID] = true
	}
	missing := 0
	for id := range contactOf {
		if !resolved[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d customers have neither a message nor a terminal reason", missing)
	}
	pubs, err := setup.codes.Publications(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != n {
		t.Errorf("%d codes published, want %d", len(pubs), n)
	}
	took := 0
	for _, r := range survivors {
		took += int(r.front.messages.Load())
	}
	t.Logf("%d customers; replica %s killed after %d messages; at the kill: %d requests let through by its rate limiter, %d recorded sent, so %d in flight; %d deliveries in sending",
		n, victim.id, victim.front.messages.Load(), paced, sentAtKill, inFlight, sendingAtKill)
	t.Logf("survivors sent %d messages; done %v after the kill (bound: InterruptAfter %v + 30s); %d sent, %d unknown (%d of which reached Intercom), %d duplicates, %d customers without a message or terminal reason; Intercom answered %d requests with 429",
		took, doneAfter.Round(10*time.Millisecond), interruptAfter, rep.Sent, rep.Unknown, unknownReached, duplicates, missing, srv.Stats().RateLimited)
}
