package codes

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// A compact publication reads back exactly as it was returned: its key
// whole (kept as its rest when it joins the distribution and the
// customer), its metadata (nil, empty or set), its time with its location.
func TestPublicationsReadBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	paris := time.FixedZone("CET", 3600)
	now := time.Date(2026, 5, 6, 7, 8, 9, 10, paris)
	c := NewMemory(Config{Rand: seededRand(3), Now: func() time.Time { return now }})
	camp := mustCreateCampaign(t, c, Campaign{Name: "auto", Type: AutoUpdate})
	reqs := []PublishRequest{
		{Key: "distr_1/cust_1/manual", CustomerID: "cust_1", DistributionID: "distr_1", Channel: "email"},
		{Key: "distr_1/cust_2/evt_9", CustomerID: "cust_2", DistributionID: "distr_1", Metadata: map[string]any{}},
		{Key: "distr_1/cust_3", CustomerID: "cust_3", DistributionID: "distr_1"},        // no rest separator
		{Key: "distr_2/cust_4/x", CustomerID: "cust_4", DistributionID: "distr_1"},      // another distribution
		{Key: "distr_1/cust_5/", CustomerID: "cust_5", DistributionID: "distr_1"},       // an empty rest
		{Key: "/cust_6/x", CustomerID: "cust_6"},                                        // no distribution
		{Key: "reward:1", CustomerID: "cust_7", Metadata: map[string]any{"admin": "a"}}, // a reward's
	}
	var want []Publication
	for i, r := range reqs {
		r.CampaignID = camp.ID
		p, err := c.Publish(ctx, r)
		if err != nil {
			t.Fatalf("Publish(%q): %v", r.Key, err)
		}
		if p.Key != r.Key || p.CampaignName != "auto" || p.Code == "" {
			t.Fatalf("Publish(%q) = %+v", r.Key, p)
		}
		want = append(want, p)
		if i == 3 { // a later clock, another location
			now = time.Date(2026, 5, 6, 7, 8, 10, 11, time.UTC)
		}
	}
	got, err := c.Publications(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Times compare with == here: the location and the reading are kept.
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a == b })); diff != "" {
		t.Fatalf("Publications (-published +read):\n%s", diff)
	}
	for i, r := range reqs {
		r.CampaignID = camp.ID
		again, err := c.Publish(ctx, r)
		if err != nil || cmp.Diff(want[i], again, cmp.Comparer(func(a, b time.Time) bool { return a == b })) != "" {
			t.Fatalf("Publish(%q) again = %+v, %v; want %+v", r.Key, again, err, want[i])
		}
	}
	got[6].Metadata["admin"] = "changed" // a copy
	if again, _ := c.Publications(ctx, camp.ID); again[6].Metadata["admin"] != "a" {
		t.Fatal("Publications returned the stored metadata")
	}
	// A key's rest does not make another key with the same rest its own.
	_, err = c.Publish(ctx, PublishRequest{Key: "distr_1/cust_9/manual", CampaignID: camp.ID, CustomerID: "cust_9", DistributionID: "distr_1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(mustPublications(t, c, camp.ID)); n != len(reqs)+1 {
		t.Fatalf("%d publications, want %d", n, len(reqs)+1)
	}
}

// A time a record cannot hold in Unix nanoseconds is kept aside.
func TestPublicationFarTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, at := range []time.Time{{}, time.Date(3000, 1, 1, 0, 0, 0, 1, time.UTC)} {
		c := NewMemory(Config{Rand: seededRand(4), Now: func() time.Time { return at }})
		camp := mustCreateCampaign(t, c, Campaign{Name: "auto", Type: AutoUpdate})
		p, err := c.Publish(ctx, PublishRequest{Key: "k", CampaignID: camp.ID, CustomerID: "c"})
		if err != nil {
			t.Fatal(err)
		}
		if got := mustPublications(t, c, camp.ID); len(got) != 1 || got[0].CreatedAt != at || p.CreatedAt != at {
			t.Fatalf("CreatedAt %v: published %v, read back %+v", at, p.CreatedAt, got)
		}
	}
}

// Many publications: each is found again by its key, a conflicting
// reuse of a key still fails.
func TestPublicationsManyKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCampaigns(5)
	camp := mustCreateCampaign(t, c, Campaign{Name: "auto", Type: AutoUpdate})
	const n = 5000
	codes := make([]string, n)
	for i := range n {
		cust := fmt.Sprint("cust_", i)
		p, err := c.Publish(ctx, PublishRequest{Key: "distr_1/" + cust + "/manual", CampaignID: camp.ID, CustomerID: cust, DistributionID: "distr_1"})
		if err != nil {
			t.Fatal(err)
		}
		codes[i] = p.Code
	}
	for i := range n {
		cust := fmt.Sprint("cust_", i)
		p, err := c.Publish(ctx, PublishRequest{Key: "distr_1/" + cust + "/manual", CampaignID: camp.ID, CustomerID: cust, DistributionID: "distr_1"})
		if err != nil || p.Code != codes[i] {
			t.Fatalf("Publish again %d = %q, %v; want %q", i, p.Code, err, codes[i])
		}
	}
	_, err := c.Publish(ctx, PublishRequest{Key: "distr_1/cust_7/manual", CampaignID: camp.ID, CustomerID: "cust_8", DistributionID: "distr_1"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("a key reused for another customer = %v, want ErrConflict", err)
	}
}

func mustPublications(t *testing.T, c *Memory, campaignID string) []Publication {
	t.Helper()
	ps, err := c.Publications(context.Background(), campaignID)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// A record stays compact: what the fan-out memory target rests on.
func TestPublicationRecordSize(t *testing.T) {
	t.Parallel()
	if n := unsafe.Sizeof(pubRec{}); n > 80 {
		t.Errorf("a publication record takes %d bytes, want at most 80", n)
	}
}

// A record keeps a copy of its key's rest, not the caller's whole key,
// and the records of one distribution share it.
func TestPublicationKeepsNoKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCampaigns(6)
	camp := mustCreateCampaign(t, c, Campaign{Name: "auto", Type: AutoUpdate})
	var keys []string
	for i := range 3 {
		cust := fmt.Sprint("cust_", i)
		key := fmt.Sprint("distr_1/", cust, "/manual") // built, as the pipeline does
		keys = append(keys, key)
		if _, err := c.Publish(ctx, PublishRequest{Key: key, CampaignID: camp.ID, CustomerID: cust, DistributionID: "distr_1"}); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, key := range keys {
		r := c.pubs.rec(uint32(i))
		start := uintptr(unsafe.Pointer(unsafe.StringData(key)))
		if p := uintptr(unsafe.Pointer(unsafe.StringData(r.key))); p >= start && p < start+uintptr(len(key)) {
			t.Errorf("record %d keeps the caller's key %q", i, key)
		}
		if unsafe.StringData(r.key) != unsafe.StringData(c.pubs.rec(0).key) {
			t.Errorf("record %d has a rest of its own", i)
		}
	}
}
