package distribution_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/segment"
)

// holdEvaluator compiles like segment.DefaultEvaluator; while held, every
// Match waits (a segment sync stands still).
type holdEvaluator struct {
	gate sync.RWMutex
	mu   sync.Mutex
	held bool
}

func (h *holdEvaluator) Compile(s segment.Segment) (segment.Matcher, error) {
	m, err := segment.DefaultEvaluator{}.Compile(s)
	if err != nil {
		return nil, err
	}
	return holdMatcher{m, h}, nil
}

func (h *holdEvaluator) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.held {
		h.gate.Lock()
		h.held = true
	}
}

func (h *holdEvaluator) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held {
		h.gate.Unlock()
		h.held = false
	}
}

type holdMatcher struct {
	segment.Matcher
	h *holdEvaluator
}

func (m holdMatcher) Match(c *customer.Customer, now time.Time) bool {
	m.h.gate.RLock()
	defer m.h.gate.RUnlock()
	return m.Matcher.Match(c, now)
}

func (e *env) waitSynced(id string) segment.Segment {
	e.t.Helper()
	var s segment.Segment
	e.waitFor("segment "+id+" synced", func() bool {
		s, _ = e.m.Segment(e.ctx, id)
		return s.SyncStatus == segment.Synced
	})
	return s
}

// TestUpdateSegmentRestartsCountdown: a scheduled distribution whose
// segment gets a new rule before it fires waits for the re-sync and then
// counts ManualDelay again; it sends to the new members only.
func TestUpdateSegmentRestartsCountdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hold := &holdEvaluator{}
	e.start(func(c *distribution.Config) { c.Evaluator = hold })
	t.Cleanup(hold.release) // before Run stops (cleanups run last first)
	e.intercomCustomer("u1", "Ann", "")
	e.srv.AddContact(intercomContact("u2"))
	e.customer(customer.Customer{SourceID: "u2", Name: "Bob", Metadata: customer.Metadata{"source": "Web"}})
	seg := e.waitSynced(e.segment().ID)
	d := e.create(distribution.Distribution{Name: "To the segment", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: inApp("hi {{customer.name}}")})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	oldDue := e.waitArmed(d.ID).SendAt
	e.clk.Advance(8 * time.Minute)

	hold.hold() // the re-sync stands still until released
	seg.Filter = segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Web"]}}}`)
	seg, err := e.m.UpdateSegment(e.ctx, seg)
	if err != nil {
		t.Fatal(err)
	}
	if seg.SyncStatus != segment.Syncing {
		t.Fatalf("UpdateSegment: status %s, want syncing", seg.SyncStatus)
	}
	got, _ := e.m.Distribution(e.ctx, d.ID)
	if got.Status != distribution.StatusScheduled || !got.SendAt.IsZero() {
		t.Fatalf("after UpdateSegment: %s, send_at %v; want scheduled, waiting for the segment", got.Status, got.SendAt)
	}
	e.clk.Advance(time.Hour) // well past the old send time (was due at oldDue)
	if n := e.srv.MessageCount(); n != 0 {
		t.Fatalf("sent %d messages while the segment re-synced (old due %v)", n, oldDue)
	}
	if got, _ := e.m.Distribution(e.ctx, d.ID); got.Status != distribution.StatusScheduled {
		t.Fatalf("status while re-syncing = %s, want scheduled", got.Status)
	}
	syncedAt := e.clk.Now()
	hold.release()
	got = e.waitArmed(d.ID)
	if want := syncedAt.Add(distribution.DefaultManualDelay); !got.SendAt.Equal(want) {
		t.Fatalf("send_at = %v, want re-sync end + 10m = %v", got.SendAt, want)
	}
	e.clk.Advance(distribution.DefaultManualDelay)
	e.waitStatus(d.ID, distribution.StatusDone)
	if diff := cmp.Diff([]string{"hi Bob"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// TestUpdateSegmentFiresEnteredAndLeft: customers who enter or leave an
// auto-update segment because of its new rule trigger the automatic
// distributions on customer.segment.entered / left, which keep pointing
// at the segment.
func TestUpdateSegmentFiresEnteredAndLeft(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ src, name, tier string }{{"u1", "Ann", "vip"}, {"u2", "Bob", "gold"}, {"u3", "Cy", "vip"}} {
		e.srv.AddContact(intercomContact(c.src))
		e.customer(customer.Customer{SourceID: c.src, Name: c.name, Metadata: customer.Metadata{"tier": c.tier, "ltv": float64(len(c.name))}})
	}
	vip := autoSegment(t, e, "VIP", `metadata.tier == "vip"`)
	e.activate(distribution.Distribution{Name: "Welcome", Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: vip.ID},
		Channels: inApp("{{customer.name}} entered {{segment.name}}")})
	e.activate(distribution.Distribution{Name: "Bye", Trigger: distribution.Trigger{Event: distribution.EventSegmentLeft, SegmentID: vip.ID},
		Channels: inApp("{{customer.name}} left {{segment.name}}")})

	vip.Name = "Gold or Cy"
	vip.Expression = `metadata.tier == "gold" || name == "Cy"`
	if _, err := e.m.UpdateSegment(e.ctx, vip); err != nil {
		t.Fatal(err)
	}
	e.waitSynced(vip.ID)
	e.waitFor("two messages", func() bool { return e.srv.MessageCount() >= 2 })
	got := e.bodies()
	slices.Sort(got)
	if diff := cmp.Diff([]string{"Ann left Gold or Cy", "Bob entered Gold or Cy"}, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	members, err := e.m.SegmentMembers(e.ctx, vip.ID)
	if err != nil || len(members) != 2 {
		t.Errorf("members = %v, %v; want Bob and Cy", members, err)
	}
}

// TestUpdateSegmentNameOnly: renaming leaves the sync and the countdown
// alone.
func TestUpdateSegmentNameOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "")
	seg := e.waitSynced(e.segment().ID)
	d := e.create(distribution.Distribution{Name: "To the segment", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: inApp("hi {{customer.name}}")})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	due := e.waitArmed(d.ID).SendAt
	seg.Name = "Intercom users"
	out, err := e.m.UpdateSegment(e.ctx, seg)
	if err != nil {
		t.Fatal(err)
	}
	if out.SyncStatus != segment.Synced || out.Name != "Intercom users" {
		t.Errorf("UpdateSegment(name) = %+v", out)
	}
	if got, _ := e.m.Distribution(e.ctx, d.ID); !got.SendAt.Equal(due) {
		t.Errorf("send_at after a rename = %v, want %v (unchanged)", got.SendAt, due)
	}
}

// TestUpdateSegmentBadInput: a clear error naming the field, and nothing
// stored.
func TestUpdateSegmentBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seg := e.waitSynced(e.segment().ID)
	for _, tc := range []struct {
		name string
		edit func(*segment.Segment)
		is   error
		msg  string
	}{
		{"no name", func(s *segment.Segment) { s.Name = "" }, distribution.ErrInvalid, "name is required"},
		{"bad filter", func(s *segment.Segment) {
			s.Filter = segment.MustParseFilter(`{"junction":"and","created_at":{"conditions":{"$after":["yesterday"]}}}`)
		}, distribution.ErrInvalid, "created_at $after"},
		{"filter and expression", func(s *segment.Segment) { s.Expression = "true" }, distribution.ErrInvalid, "exactly one of filter and expression"},
		{"bad type", func(s *segment.Segment) { s.Type = "smart" }, distribution.ErrInvalid, `type "smart"`},
		{"unknown", func(s *segment.Segment) { s.ID = "seg_nope" }, distribution.ErrNotFound, "seg_nope"},
	} {
		in := seg
		tc.edit(&in)
		if _, err := e.m.UpdateSegment(e.ctx, in); !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: UpdateSegment error = %v, want %v containing %q", tc.name, err, tc.is, tc.msg)
		}
	}
	got, _ := e.m.Segment(e.ctx, seg.ID)
	if got.Name != seg.Name || got.Filter.String() != seg.Filter.String() || got.SyncStatus != segment.Synced || !got.UpdatedAt.Equal(seg.UpdatedAt) {
		t.Errorf("failed updates changed the segment: %+v, was %+v", got, seg)
	}
}

// TestSegmentsListsProgress: Segments lists every segment with its status
// and progress, read from the store.
func TestSegmentsListsProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hold := &holdEvaluator{}
	e.start(func(c *distribution.Config) { c.Evaluator = hold })
	t.Cleanup(hold.release)
	for _, src := range []string{"u1", "u2", "u3"} {
		e.intercomCustomer(src, src, "")
	}
	synced := e.waitSynced(e.segment().ID)
	hold.hold()
	syncing, err := e.m.CreateSegment(e.ctx, segment.Segment{Name: "Held", Type: segment.Passive, Expression: "true"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("the held sync to start", func() bool {
		s, _ := e.m.Segment(e.ctx, syncing.ID)
		return s.SyncTotal == 3
	})
	list, err := e.m.Segments(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID             string
		Status         segment.SyncStatus
		Checked, Total int
	}
	var got []row
	for _, s := range list {
		got = append(got, row{s.ID, s.SyncStatus, s.SyncChecked, s.SyncTotal})
	}
	want := []row{{synced.ID, segment.Synced, 3, 3}, {syncing.ID, segment.Syncing, 0, 3}}
	if want[0].ID > want[1].ID {
		want[0], want[1] = want[1], want[0]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Segments (-want +got):\n%s", diff)
	}
	hold.release()
	if s := e.waitSynced(syncing.ID); s.SyncChecked != 3 || s.SyncTotal != 3 {
		t.Errorf("after the sync: %d of %d, want 3 of 3", s.SyncChecked, s.SyncTotal)
	}
}

// TestUpdateSegmentOnAnotherReplica: a segment updated through one
// Manager governs the customer writes of another Manager on the same
// store within 5 seconds (of its clock).
func TestUpdateSegmentOnAnotherReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seg := e.waitSynced(e.segment().ID) // metadata.source is Intercom
	other, err := distribution.NewManager(distribution.Config{Store: e.st, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	seg.Filter = segment.MustParseFilter(`{"junction":"and","metadata.tier":{"conditions":{"$is":["gold"]}}}`)
	if _, err := e.m.UpdateSegment(e.ctx, seg); err != nil {
		t.Fatal(err)
	}
	e.waitSynced(seg.ID)
	e.clk.Advance(5 * time.Second)
	c, err := other.UpsertCustomer(e.ctx, customer.Customer{SourceID: "u9", Metadata: customer.Metadata{"tier": "gold"}}, customer.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{c.ID}, mustMembers(t, e, seg.ID)); diff != "" {
		t.Errorf("members after a write on the other replica (-want +got):\n%s", diff)
	}
}

// TestUpdateSegmentOnAnotherReplicaAtOnce: the rules another Manager
// re-checks written customers against are those in the store when the
// write began (the store's segments version), not a copy up to some
// seconds old: no clock moves here.
func TestUpdateSegmentOnAnotherReplicaAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seg := e.waitSynced(e.segment().ID) // metadata.source is Intercom
	other, err := distribution.NewManager(distribution.Config{Store: e.st, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.UpsertCustomer(e.ctx, customer.Customer{SourceID: "u8"}, customer.UpsertOptions{}); err != nil {
		t.Fatal(err) // other has loaded the rules
	}
	seg.Filter = segment.MustParseFilter(`{"junction":"and","metadata.tier":{"conditions":{"$is":["gold"]}}}`)
	if _, err := e.m.UpdateSegment(e.ctx, seg); err != nil {
		t.Fatal(err)
	}
	e.waitSynced(seg.ID)
	c, err := other.UpsertCustomer(e.ctx, customer.Customer{SourceID: "u9", Metadata: customer.Metadata{"tier": "gold"}}, customer.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{c.ID}, mustMembers(t, e, seg.ID)); diff != "" {
		t.Errorf("members after a write on the other replica (-want +got):\n%s", diff)
	}
}

// TestOrderOnAnotherReplicaUsesItsSegments: an order handled by another
// Manager re-checks the customer against the segments in the store when
// handling began, one created after that Manager loaded its rules
// included.
func TestOrderOnAnotherReplicaUsesItsSegments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.intercomCustomer("u1", "Ann", "ann@example.com")
	other, err := distribution.NewManager(distribution.Config{Store: e.st, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.UpsertCustomer(e.ctx, customer.Customer{SourceID: "u8"}, customer.UpsertOptions{}); err != nil {
		t.Fatal(err) // other has loaded the rules: none yet
	}
	buyers, err := e.m.CreateSegment(e.ctx, segment.Segment{Name: "buyers", Type: segment.Passive,
		Filter: segment.MustParseFilter(`{"junction":"and","summary.orders.total_count":{"conditions":{"$more_than_equal":[1]}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	e.waitSynced(buyers.ID)
	if err := other.HandleEvent(e.ctx, distribution.Event{ID: "o1-paid", Type: distribution.EventOrderPaid, CustomerID: "u1", At: e.clk.Now(),
		Order: &distribution.Order{ID: "o1", Amount: 10}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{c.ID}, mustMembers(t, e, buyers.ID)); diff != "" {
		t.Errorf("members after an order handled by the other replica (-want +got):\n%s", diff)
	}
}

func mustMembers(t *testing.T, e *env, id string) []string {
	t.Helper()
	ids, err := e.m.SegmentMembers(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
