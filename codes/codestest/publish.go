package codestest

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/codes"
)

// testIdempotency: the same key returns the same publication without
// consuming a code; a new key gets a new code; a key reused for another
// customer or campaign fails with ErrConflict.
func testIdempotency(t *testing.T, src Source) {
	ctx := t.Context()
	other := mustCreate(t, src, codes.Campaign{Name: "other"})
	for _, typ := range []codes.CampaignType{codes.Pool, codes.AutoUpdate} {
		camp := mustCreate(t, src, codes.Campaign{Name: string(typ), Type: typ, Count: 3})
		key := "k1/" + string(typ)
		r := codes.PublishRequest{Key: key, CampaignID: camp.ID, CustomerID: "cust_1", DistributionID: "distr_1",
			Channel: "email", Metadata: map[string]any{"source": "test"}}
		first, err := src.Publish(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		want := codes.Publication{ID: first.ID, Key: key, CampaignID: camp.ID, CampaignName: camp.Name, Code: first.Code,
			CustomerID: "cust_1", DistributionID: "distr_1", Channel: "email", Metadata: map[string]any{"source": "test"}, CreatedAt: first.CreatedAt}
		if diff := cmp.Diff(want, first); diff != "" || first.ID == "" || first.Code == "" || first.CreatedAt.IsZero() {
			t.Errorf("%s: Publish (-want +got):\n%s", typ, diff)
		}
		r.Channel = "intercom" // ignored on a repeat
		second, err := src.Publish(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first, second); diff != "" {
			t.Errorf("%s: second Publish with the same key (-first +second):\n%s", typ, diff)
		}
		checkPublications(t, src, camp.ID, 1)
		if typ == codes.Pool {
			checkRemaining(t, src, camp.ID, 2) // one code consumed
		}
		next, err := src.Publish(ctx, codes.PublishRequest{Key: "k2/" + string(typ), CampaignID: camp.ID, CustomerID: "cust_1"})
		if err != nil || next.Code == first.Code {
			t.Errorf("%s: a new key gave %q, %v; want a new code", typ, next.Code, err)
		}
		for _, bad := range []codes.PublishRequest{
			{Key: key, CampaignID: camp.ID, CustomerID: "cust_2"},
			{Key: key, CampaignID: other.ID, CustomerID: "cust_1"},
		} {
			if _, err := src.Publish(ctx, bad); !errors.Is(err, codes.ErrConflict) {
				t.Errorf("%s: Publish(%+v) = %v, want ErrConflict", typ, bad, err)
			}
		}
		checkPublications(t, src, camp.ID, 2)
		checkPublications(t, src, other.ID, 0)
	}
}

// testIdempotencyConcurrent: concurrent publications with one key give
// one code.
func testIdempotencyConcurrent(t *testing.T, src Source) {
	ctx := t.Context()
	camp := mustCreate(t, src, codes.Campaign{Name: "c", Count: 2})
	const n = 16
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := src.Publish(ctx, codes.PublishRequest{Key: "same", CampaignID: camp.ID, CustomerID: "cust_1"})
			if err != nil {
				t.Error(err)
			}
			got[i] = p.Code
		})
	}
	wg.Wait()
	if got[0] == "" || slices.ContainsFunc(got, func(s string) bool { return s != got[0] }) {
		t.Errorf("concurrent Publish with one key gave codes %q, want one code", got)
	}
	checkRemaining(t, src, camp.ID, 1)
	p, err := src.Publish(ctx, req(camp.ID, "cust_2"))
	if err != nil || p.Code == got[0] {
		t.Errorf("second key: %+v, %v; want the pool's other code", p, err)
	}
	if _, err := src.Publish(ctx, req(camp.ID, "cust_3")); !errors.Is(err, codes.ErrNoCodesLeft) {
		t.Errorf("third key from a pool of 2: %v, want ErrNoCodesLeft", err)
	}
}

// testPool: a pool publishes its imported codes in order, then its
// pre-generated ones, then fails with ErrNoCodesLeft without recording a
// publication.
func testPool(t *testing.T, src Source) {
	ctx := t.Context()
	camp := mustCreate(t, src, codes.Campaign{Name: "Pool", Codes: []string{"FIRST", "SECOND"}, Count: 2,
		Code: codes.CodeConfig{Pattern: "GEN-####", Charset: codes.CharsetUppercase}})
	if camp.Type != codes.Pool || camp.Count != 2 {
		t.Fatalf("campaign = %+v, want a pool of 2 imported + 2 generated", camp)
	}
	checkRemaining(t, src, camp.ID, 4)
	got := publishN(t, src, camp.ID, 4)
	if got[0] != "FIRST" || got[1] != "SECOND" {
		t.Errorf("first codes = %q, want the imported ones in order", got[:2])
	}
	re := regexp.MustCompile(`^GEN-[A-Z]{4}$`)
	for _, code := range got[2:] {
		if !re.MatchString(code) {
			t.Errorf("generated code %q, want GEN-XXXX", code)
		}
	}
	if got[2] == got[3] {
		t.Errorf("generated codes repeat: %q", got)
	}
	checkRemaining(t, src, camp.ID, 0)
	_, err := src.Publish(ctx, req(camp.ID, "cust_5"))
	if !errors.Is(err, codes.ErrNoCodesLeft) || !strings.Contains(err.Error(), `"Pool"`) {
		t.Fatalf("Publish from an exhausted pool: %v, want ErrNoCodesLeft naming the campaign", err)
	}
	checkPublications(t, src, camp.ID, 4)
	// An earlier key still gets its code, and is not counted again.
	if p, err := src.Publish(ctx, req(camp.ID, "cust_0")); err != nil || p.Code != "FIRST" {
		t.Errorf("a published key after exhaustion: %+v, %v; want FIRST", p, err)
	}
	checkPublications(t, src, camp.ID, 4)
}

// testAutoUpdateUsesPoolFirst: an auto-update campaign publishes its
// imported codes before generated ones.
func testAutoUpdateUsesPoolFirst(t *testing.T, src Source) {
	camp := mustCreate(t, src, codes.Campaign{Name: "A", Type: codes.AutoUpdate, Codes: []string{"IMPORTED"}, Code: codes.CodeConfig{Prefix: "AU-"}})
	checkRemaining(t, src, camp.ID, -1)
	got := publishN(t, src, camp.ID, 3)
	if got[0] != "IMPORTED" || !strings.HasPrefix(got[1], "AU-") || !strings.HasPrefix(got[2], "AU-") || got[1] == got[2] {
		t.Errorf("codes = %q, want IMPORTED then two distinct AU- codes", got)
	}
}

// testPoolCountAvoidsTakenCodes: a pool generated in a space that other
// campaigns half use gets exactly the free half.
func testPoolCountAvoidsTakenCodes(t *testing.T, src Source) {
	mustCreate(t, src, codes.Campaign{Name: "imported", Codes: []string{"00", "01", "02", "03", "10", "11", "12", "13"}})
	p := mustCreate(t, src, codes.Campaign{Name: "pool", Count: 8, Code: codes.CodeConfig{Length: 2, Charset: "0123"}})
	got := publishN(t, src, p.ID, 8)
	slices.Sort(got)
	if diff := cmp.Diff([]string{"20", "21", "22", "23", "30", "31", "32", "33"}, got); diff != "" {
		t.Errorf("pool codes (-want +got):\n%s", diff)
	}
}

// testSmallSpaceExhaustion: an auto-update campaign of a 10-code pattern
// publishes exactly its 10 codes, then fails with ErrNoCodesLeft.
func testSmallSpaceExhaustion(t *testing.T, src Source) {
	ctx := t.Context()
	camp := mustCreate(t, src, codes.Campaign{Name: "tiny", Code: codes.CodeConfig{Pattern: "X#", Charset: codes.CharsetNumbers}})
	got := publishN(t, src, camp.ID, 10)
	slices.Sort(got)
	if diff := cmp.Diff([]string{"X0", "X1", "X2", "X3", "X4", "X5", "X6", "X7", "X8", "X9"}, got); diff != "" {
		t.Fatalf("codes of a 10-code space (-want +got):\n%s", diff)
	}
	for i := range 2 {
		_, err := src.Publish(ctx, req(camp.ID, fmt.Sprint("late_", i)))
		if !errors.Is(err, codes.ErrNoCodesLeft) || !strings.Contains(err.Error(), `"tiny"`) {
			t.Fatalf("code %d of a 10-code space: %v, want ErrNoCodesLeft naming the campaign", 11+i, err)
		}
	}
	checkPublications(t, src, camp.ID, 10)
}

// testLastFreeCodes: in a 1,000-code space of which other campaigns hold
// 998, a pool of one and an auto-update campaign get the two free codes
// (random draws alone would miss them), then ErrNoCodesLeft.
func testLastFreeCodes(t *testing.T, src Source) {
	ctx := t.Context()
	space := codes.CodeConfig{Pattern: "N###", Charset: codes.CharsetNumbers}
	var held []string
	for i := range 1000 {
		if i != 123 && i != 876 {
			held = append(held, fmt.Sprintf("N%03d", i))
		}
	}
	mustCreate(t, src, codes.Campaign{Name: "held", Codes: held})
	pool := mustCreate(t, src, codes.Campaign{Name: "pool", Count: 1, Code: space})
	auto := mustCreate(t, src, codes.Campaign{Name: "auto", Code: space})
	got := append(publishN(t, src, pool.ID, 1), publishN(t, src, auto.ID, 1)...)
	slices.Sort(got)
	if diff := cmp.Diff([]string{"N123", "N876"}, got); diff != "" {
		t.Errorf("the two free codes of the space (-want +got):\n%s", diff)
	}
	if _, err := src.Publish(ctx, req(auto.ID, "late")); !errors.Is(err, codes.ErrNoCodesLeft) {
		t.Errorf("Publish from a full space: %v, want ErrNoCodesLeft", err)
	}
}

// testSharedSpaceExhaustion: two auto-update campaigns whose spaces
// overlap publish every code of the union once; then a pool in the used
// space cannot be generated (ErrConflict naming count) and nothing is
// stored.
func testSharedSpaceExhaustion(t *testing.T, src Source) {
	ctx := t.Context()
	a := mustCreate(t, src, codes.Campaign{Name: "abc", Code: codes.CodeConfig{Pattern: "#", Charset: "abc"}})
	b := mustCreate(t, src, codes.Campaign{Name: "bcd", Code: codes.CodeConfig{Pattern: "#", Charset: "bcd"}})
	var all []string
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatalf("two 3-code spaces still publish after 10 rounds: %q", all)
		}
		progress := false
		for _, camp := range []codes.Campaign{a, b} {
			p, err := src.Publish(ctx, req(camp.ID, fmt.Sprint("cust_", i)))
			if errors.Is(err, codes.ErrNoCodesLeft) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, p.Code)
			progress = true
		}
		if !progress {
			break
		}
	}
	slices.Sort(all)
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, all); diff != "" {
		t.Fatalf("codes of both campaigns (-want +got):\n%s", diff)
	}
	_, err := src.CreateCampaign(ctx, codes.Campaign{Name: "pool", Count: 1, Code: codes.CodeConfig{Pattern: "#", Charset: "ab"}})
	if !errors.Is(err, codes.ErrConflict) || !strings.HasPrefix(err.Error(), "count: ") {
		t.Fatalf("pool in a used space: %v, want count: ... ErrConflict", err)
	}
	if _, err := src.Campaign(ctx, "pool"); !errors.Is(err, codes.ErrNotFound) {
		t.Errorf("a pool that could not be generated was stored: %v", err)
	}
}

// testConcurrentUniqueness: concurrent publications from a pool and from
// two auto-update campaigns sharing one 64-code space never give one code
// twice, give the pool's codes and every code of the space, and then
// ErrNoCodesLeft.
func testConcurrentUniqueness(t *testing.T, src Source) {
	ctx := t.Context()
	pool := mustCreate(t, src, codes.Campaign{Name: "pool", Count: 40})
	space := codes.CodeConfig{Length: 2, Charset: "abcdefgh"} // 64 codes
	autoA := mustCreate(t, src, codes.Campaign{Name: "auto-a", Code: space})
	autoB := mustCreate(t, src, codes.Campaign{Name: "auto-b", Code: space})
	var (
		mu    sync.Mutex
		all   []string
		count = map[string]int{}
		left  = map[string]int{}
		wg    sync.WaitGroup
	)
	for i := range 60 {
		for _, camp := range []codes.Campaign{pool, autoA, autoB} {
			wg.Go(func() {
				p, err := src.Publish(ctx, req(camp.ID, fmt.Sprint("cust_", i)))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, codes.ErrNoCodesLeft):
					left[camp.Name]++
				case err != nil:
					t.Error(err)
				default:
					all = append(all, p.Code)
					count[camp.Name]++
				}
			})
		}
	}
	wg.Wait()
	if dup := len(all) - len(slices.Compact(slices.Sorted(slices.Values(all)))); dup != 0 {
		t.Errorf("%d codes published twice among %d", dup, len(all))
	}
	if count["pool"] != 40 || left["pool"] != 20 {
		t.Errorf("pool of 40, 60 requests: %d codes, %d ErrNoCodesLeft; want 40 and 20", count["pool"], left["pool"])
	}
	if n := count["auto-a"] + count["auto-b"]; n != 64 || left["auto-a"]+left["auto-b"] != 56 {
		t.Errorf("two campaigns sharing a 64-code space, 120 requests: %d codes (%v), ErrNoCodesLeft %v; want 64 codes, 56 ErrNoCodesLeft", n, count, left)
	}
}

// testPublishBatch: when the source is a codes.BatchPublisher, every
// request of a batch gets what Publish gives it: pool codes in order, the
// publication of a key published before, ErrNoCodesLeft past the pool, and
// its own error without failing the others.
func testPublishBatch(t *testing.T, src Source) {
	bp, ok := src.(codes.BatchPublisher)
	if !ok {
		t.Skip("not a codes.BatchPublisher")
	}
	ctx := t.Context()
	mustCreate(t, src, codes.Campaign{Name: "pool", Codes: []string{"P-1", "P-2", "P-3", "P-4", "P-5"}})
	mustCreate(t, src, codes.Campaign{Name: "auto", Code: codes.CodeConfig{Pattern: "A-######", Charset: codes.CharsetNumbers}})
	mustCreate(t, src, codes.Campaign{Name: "tiny", Code: codes.CodeConfig{Pattern: "T#", Charset: "xyz"}})
	if first, err := src.Publish(ctx, req("pool", "c1")); err != nil || first.Code != "P-1" {
		t.Fatalf("Publish = %+v, %v; want P-1", first, err)
	}
	type want struct {
		code string // "" with err; a prefix ending in * for any generated code
		err  error
	}
	tests := []struct {
		name string
		reqs []codes.PublishRequest
		want []want
	}{
		{"pool order, a published key reused", []codes.PublishRequest{req("pool", "c2"), req("pool", "c1"), req("pool", "c3")},
			[]want{{code: "P-2"}, {code: "P-1"}, {code: "P-3"}}},
		{"the same keys again", []codes.PublishRequest{req("pool", "c3"), req("pool", "c2")},
			[]want{{code: "P-3"}, {code: "P-2"}}},
		{"past the pool", []codes.PublishRequest{req("pool", "c4"), req("pool", "c5"), req("pool", "c6"), req("pool", "c7")},
			[]want{{code: "P-4"}, {code: "P-5"}, {err: codes.ErrNoCodesLeft}, {err: codes.ErrNoCodesLeft}}},
		{"generated", []codes.PublishRequest{req("auto", "c1"), req("auto", "c2"), req("auto", "c3")},
			[]want{{code: "A-*"}, {code: "A-*"}, {code: "A-*"}}},
		{"a small space to its last code", []codes.PublishRequest{req("tiny", "c1"), req("tiny", "c2"), req("tiny", "c3"), req("tiny", "c4")},
			[]want{{code: "T*"}, {code: "T*"}, {code: "T*"}, {err: codes.ErrNoCodesLeft}}},
		{"mixed campaigns and bad requests", []codes.PublishRequest{req("auto", "c4"), {Key: "k", CampaignID: "auto"}, req("pool", "c2"), req("nope", "c1"), req("auto", "c5")},
			[]want{{code: "A-*"}, {err: codes.ErrInvalid}, {code: "P-2"}, {err: codes.ErrNotFound}, {code: "A-*"}}},
		{"a key reused for another customer", []codes.PublishRequest{{Key: "pool/c2", CampaignID: "pool", CustomerID: "c9"}, req("auto", "c6")},
			[]want{{err: codes.ErrConflict}, {code: "A-*"}}},
	}
	seen := map[string]string{} // code -> key
	for _, tt := range tests {
		pubs, errs := bp.PublishBatch(ctx, tt.reqs)
		if len(pubs) != len(tt.reqs) || len(errs) != len(tt.reqs) {
			t.Fatalf("%s: %d publications and %d errors for %d requests", tt.name, len(pubs), len(errs), len(tt.reqs))
		}
		for i, w := range tt.want {
			r := tt.reqs[i]
			if w.err != nil {
				if class(errs[i]) != w.err {
					t.Errorf("%s: request %d: error %v, want %v", tt.name, i, errs[i], w.err)
				}
				continue
			}
			if errs[i] != nil {
				t.Errorf("%s: request %d: %v", tt.name, i, errs[i])
				continue
			}
			p := pubs[i]
			if prefix, any := strings.CutSuffix(w.code, "*"); (any && !strings.HasPrefix(p.Code, prefix)) || (!any && p.Code != w.code) {
				t.Errorf("%s: request %d: code %q, want %q", tt.name, i, p.Code, w.code)
			}
			if k, dup := seen[p.Code]; dup && k != r.Key {
				t.Errorf("%s: code %q published for keys %q and %q", tt.name, p.Code, k, r.Key)
			}
			seen[p.Code] = r.Key
			// Publish agrees with the batch.
			again, err := src.Publish(ctx, r)
			if err != nil || again.ID != p.ID || again.Code != p.Code || again.CustomerID != r.CustomerID || again.Key != r.Key {
				t.Errorf("%s: request %d: Publish after the batch = %+v, %v; want %+v", tt.name, i, again, err, p)
			}
		}
	}
}
