package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store"
)

// runReplicas checks what several replicas sharing the store rely on to
// be correct together: the triggers version and event claims.
func runReplicas(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, st store.Store)
	}{
		{"TriggersVersion", testTriggersVersion},
		{"EventClaims", testEventClaims},
		{"EventClaimRace", testEventClaimRace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

var replicasAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testTriggersVersion: every committed create or update of an automatic
// distribution moves the version.
func testTriggersVersion(t *testing.T, st store.Store) {
	ctx := context.Background()
	version := func() int64 {
		t.Helper()
		v, err := st.TriggersVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v0 := version()
	d := distribution.Distribution{ID: "distr_auto", Name: "auto", Mode: distribution.Automatic, Status: distribution.StatusDraft,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "c", Body: "b"}}, CreatedAt: replicasAt, UpdatedAt: replicasAt}
	if err := st.CreateDistribution(ctx, d); err != nil {
		t.Fatal(err)
	}
	v1 := version()
	if v1 == v0 {
		t.Fatalf("version %d did not move when an automatic distribution was created", v1)
	}
	d.Revision, d.Status = 1, distribution.StatusActive
	if _, err := st.UpdateDistribution(ctx, d); err != nil {
		t.Fatal(err)
	}
	v2 := version()
	if v2 == v1 {
		t.Fatalf("version %d did not move when an automatic distribution was activated", v2)
	}
	if _, err := st.UpdateDistribution(ctx, d); err == nil { // stale revision: nothing committed
		t.Fatal("a stale update succeeded")
	}
	if v := version(); v != v2 {
		t.Errorf("version moved from %d to %d on a failed update", v2, v)
	}
}

// testEventClaims: a claim holds until it expires; its owner renews it;
// a processed event is never claimed again.
func testEventClaims(t *testing.T, st store.Store) {
	ctx := context.Background()
	if _, _, err := st.ClaimEvent(ctx, "missing", "a", replicasAt, replicasAt.Add(time.Minute)); !isNotFound(err) {
		t.Fatalf("ClaimEvent(missing) = %v, want ErrNotFound", err)
	}
	e := distribution.Event{ID: "evt_claim", Type: distribution.EventOrderPaid, CustomerID: "u1", At: replicasAt,
		Order: &distribution.Order{ID: "o1", Amount: 1}, ClaimedBy: "a", ClaimedUntil: replicasAt.Add(time.Minute)}
	if ok, err := st.InsertEvent(ctx, e); err != nil || !ok {
		t.Fatalf("InsertEvent = %v, %v", ok, err)
	}
	got, err := st.GetEvent(ctx, e.ID)
	if err != nil || got.ClaimedBy != "a" || !got.ClaimedUntil.Equal(e.ClaimedUntil) {
		t.Fatalf("GetEvent = %+v, %v; want inserted claimed by a", got, err)
	}
	claim := func(owner string, now time.Time, want bool) distribution.Event {
		t.Helper()
		got, ok, err := st.ClaimEvent(ctx, e.ID, owner, now, now.Add(time.Minute))
		if err != nil || ok != want {
			t.Fatalf("ClaimEvent(%s at %v) = %v, %v; want %v", owner, now, ok, err, want)
		}
		return got
	}
	if got := claim("b", replicasAt.Add(30*time.Second), false); got.ClaimedBy != "a" {
		t.Errorf("held claim: event %+v, want still claimed by a", got)
	}
	got = claim("a", replicasAt.Add(30*time.Second), true) // a renews
	if !got.ClaimedUntil.Equal(replicasAt.Add(90 * time.Second)) {
		t.Errorf("renewed claim until %v, want %v", got.ClaimedUntil, replicasAt.Add(90*time.Second))
	}
	claim("b", replicasAt.Add(89*time.Second), false)
	got = claim("b", replicasAt.Add(90*time.Second), true) // expired: b takes over
	if got.ClaimedBy != "b" || got.Order == nil || got.Order.ID != "o1" {
		t.Errorf("taken-over event %+v, want claimed by b with its payload", got)
	}
	if err := st.MarkEventProcessed(ctx, e.ID, replicasAt.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got = claim("c", replicasAt.Add(time.Hour), false)
	if got.ProcessedAt.IsZero() || got.ClaimedBy != "" {
		t.Errorf("processed event %+v: want processed, unclaimed", got)
	}
}

// testEventClaimRace: of concurrent claims by different owners, one wins.
func testEventClaimRace(t *testing.T, st store.Store) {
	ctx := context.Background()
	e := distribution.Event{ID: "evt_race", Type: distribution.EventOrderPaid, CustomerID: "u1", At: replicasAt, Order: &distribution.Order{ID: "o1"}}
	if _, err := st.InsertEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
	)
	for i := range 8 {
		owner := string(rune('a' + i))
		wg.Go(func() {
			_, ok, err := st.ClaimEvent(ctx, e.ID, owner, replicasAt, replicasAt.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins = append(wins, owner)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Errorf("claims won by %v, want exactly one", wins)
	}
}

func isNotFound(err error) bool { return errors.Is(err, distribution.ErrNotFound) }
