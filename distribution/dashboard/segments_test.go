package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/dashboard"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

func TestSegmentsPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	static, err := f.m.CreateSegment(f.ctx, segment.Segment{Name: "VIP <3", Type: segment.Static, CustomerIDs: []string{"u1", "u2"}})
	if err != nil {
		t.Fatal(err)
	}
	// A canceled distribution does not count as a user of the segment.
	canceled := f.create(distribution.Distribution{Name: "Old news", Audience: distribution.Audience{SegmentID: static.ID},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi"}}})
	if _, err := f.m.Cancel(f.ctx, canceled.ID); err != nil {
		t.Fatal(err)
	}
	f.idle()
	w := f.do(http.MethodGet, "/segments", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	got := text(w.Body.String())
	for _, want := range []string{
		"From Intercom " + f.seg.ID + " auto-update " + intercomFilter + " synced since 2026-12-01 09:00:00 UTC 4 Spring sale, Welcome codes",
		"VIP <3 " + static.ID + " static a list of customers synced",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("segments page lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Old news") {
		t.Error("a canceled distribution is listed as a user")
	}
	if strings.Contains(w.Body.String(), "VIP <3") {
		t.Error("a segment name is not escaped")
	}
	if !strings.Contains(got, "static a list of customers synced since 2026-12-01 09:10:00 UTC 2") {
		t.Errorf("the static segment's members:\n%s", got)
	}
}

// holdStore stops the first sync at its first progress report (0 of N,
// stored), until release is closed.
type holdStore struct {
	*store.Memory
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (s *holdStore) SetSyncProgress(ctx context.Context, id string, checked, total int) error {
	err := s.Memory.SetSyncProgress(ctx, id, checked, total)
	s.once.Do(func() {
		close(s.reached)
		<-s.release
	})
	return err
}

// TestSegmentSyncProgress: while a segment syncs the page and its JSON
// show the progress; when the sync ends, the status and member count.
func TestSegmentSyncProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &holdStore{Memory: store.NewMemory(), reached: make(chan struct{}), release: make(chan struct{})}
	clk := distributiontest.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	m, err := distribution.NewManager(distribution.Config{Store: st, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	released := false
	t.Cleanup(func() {
		if !released {
			close(st.release)
		}
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
	for _, src := range []string{"a", "b", "c", "d", "e"} {
		md := customer.Metadata{"plan": "pro"}
		if src == "e" {
			md["plan"] = "free"
		}
		if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: src, Metadata: md}, customer.UpsertOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	seg, err := m.CreateSegment(ctx, segment.Segment{Name: "Pro", Type: segment.AutoUpdate, Expression: `metadata.plan == "pro"`})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the sync never reported progress")
	}
	h, err := dashboard.New(m, dashboard.Config{Authorize: allowAll, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	page := serve(h, http.MethodGet, "/segments", nil).Body.String()
	if got := text(page); !strings.Contains(got, "Pro "+seg.ID+" auto-update metadata.plan == \"pro\" syncing 0 of 5 checked (0%) 0") {
		t.Errorf("syncing segment:\n%s", got)
	}
	if !strings.Contains(page, `<rect class="pending" width="0"`) {
		t.Error("no progress bar")
	}
	var live struct {
		Segments []map[string]any `json:"segments"`
	}
	if err := json.Unmarshal(serve(h, http.MethodGet, "/api/segments", nil).Body.Bytes(), &live); err != nil {
		t.Fatal(err)
	}
	if len(live.Segments) != 1 || live.Segments[0]["sync_status"] != "syncing" || live.Segments[0]["progress"] != "0 of 5 checked (0%)" {
		t.Errorf("live: %v", live.Segments)
	}

	close(st.release)
	released = true
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := distributiontest.WaitUntil(wctx, m, func() bool {
		s, err := m.Segment(wctx, seg.ID)
		return err == nil && s.SyncStatus == segment.Synced
	}); err != nil {
		t.Fatal(err)
	}
	if got := text(serve(h, http.MethodGet, "/segments", nil).Body.String()); !strings.Contains(got, "synced since 2026-12-01 09:00:00 UTC 4") {
		t.Errorf("synced segment:\n%s", got)
	}
	live.Segments = nil
	if err := json.Unmarshal(serve(h, http.MethodGet, "/api/segments", nil).Body.Bytes(), &live); err != nil {
		t.Fatal(err)
	}
	if live.Segments[0]["sync_status"] != "synced" || live.Segments[0]["progress"] != nil {
		t.Errorf("live after the sync: %v", live.Segments)
	}
}
