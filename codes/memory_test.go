package codes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/internal/ids"
	"github.com/google/go-cmp/cmp"
)

var campT0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func newTestCampaigns(seed byte) *Memory {
	return NewMemory(Config{Rand: seededRand(seed), Now: func() time.Time { return campT0 }})
}

func mustCreateCampaign(t *testing.T, c *Memory, camp Campaign) Campaign {
	t.Helper()
	got, err := c.CreateCampaign(context.Background(), camp)
	if err != nil {
		t.Fatalf("CreateCampaign(%q): %v", camp.Name, err)
	}
	return got
}

func campaignRemaining(t *testing.T, c *Memory, id string) int {
	t.Helper()
	n, err := c.Remaining(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateCampaign(t *testing.T) {
	t.Parallel()
	c := newTestCampaigns(1)
	in := Campaign{Name: "Welcome", Codes: []string{"A1", "B2"}}
	got := mustCreateCampaign(t, c, in)
	if !ids.HasPrefix(got.ID, "camp") {
		t.Errorf("ID = %q, want camp_...", got.ID)
	}
	want := Campaign{ID: got.ID, Name: "Welcome", Type: Pool, Code: CodeConfig{Charset: CharsetAlphanumeric, Length: 8},
		Codes: []string{"A1", "B2"}, CreatedAt: campT0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateCampaign (-want +got):\n%s", diff)
	}
	in.Codes[0] = "changed" // the registry keeps its own copy
	for _, key := range []string{got.ID, "Welcome"} {
		byID, err := c.Campaign(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, byID); diff != "" {
			t.Errorf("Campaign(%q) (-want +got):\n%s", key, diff)
		}
	}
	auto := mustCreateCampaign(t, c, Campaign{Name: "Auto", Code: CodeConfig{Pattern: "WELCOME-####"}})
	if auto.Type != AutoUpdate {
		t.Errorf("Type with no codes and no count = %q, want auto-update", auto.Type)
	}
	list, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Campaign{want, auto}, list); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if _, err := c.CreateCampaign(context.Background(), Campaign{Name: "Welcome", Count: 1}); !errors.Is(err, ErrConflict) || !strings.HasPrefix(err.Error(), "name: ") {
		t.Errorf("duplicate name: %v, want name: ... ErrConflict", err)
	}
}

func TestCreateCampaignValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		camp Campaign
		want string // prefix: the field
	}{
		{"no name", Campaign{}, "name: required"},
		{"blank name", Campaign{Name: "  "}, "name: required"},
		{"padded name", Campaign{Name: " x"}, "name: "},
		{"id set", Campaign{ID: "camp_1", Name: "x"}, "id: "},
		{"created_at set", Campaign{Name: "x", CreatedAt: campT0}, "created_at: "},
		{"bad type", Campaign{Name: "x", Type: "STATIC"}, `type: unknown campaign type "STATIC"`},
		{"negative count", Campaign{Name: "x", Count: -1}, "count: -1 is negative"},
		{"huge count", Campaign{Name: "x", Count: MaxPoolCount + 1}, "count: 1000001 exceeds"},
		{"empty pool", Campaign{Name: "x", Type: Pool}, "count: a pool campaign needs"},
		{"empty code", Campaign{Name: "x", Codes: []string{"A", ""}}, "codes[1]: empty code"},
		{"code with space", Campaign{Name: "x", Codes: []string{"A B"}}, "codes[0]: "},
		{"duplicate code", Campaign{Name: "x", Codes: []string{"A", "B", "A"}}, `codes[2]: "A" duplicates codes[0]`},
		{"bad charset", Campaign{Name: "x", Code: CodeConfig{Charset: "aa"}}, "code.charset: "},
		{"pattern too small", Campaign{Name: "x", Count: 51, Code: CodeConfig{Pattern: "X-##", Charset: CharsetNumbers}},
			`code.pattern: pattern "X-##" (2 random characters from a charset of 10) gives only 100 possible codes; count 51 needs at least 102`},
		{"length too small", Campaign{Name: "x", Count: 3, Code: CodeConfig{Length: 2, Charset: "ab"}},
			"code.length: length 2 (charset of 2 characters) gives only 4 possible codes; count 3 needs at least 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestCampaigns(1)
			_, err := c.CreateCampaign(context.Background(), tt.camp)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("CreateCampaign error = %v, want prefix %q wrapping ErrInvalid", err, tt.want)
			}
			if tt.camp.Name != "" {
				if _, err := c.Campaign(context.Background(), tt.camp.Name); !errors.Is(err, ErrNotFound) {
					t.Errorf("rejected campaign was stored: %v", err)
				}
			}
		})
	}
	// At the limit: capacity exactly 2x count is accepted.
	c := newTestCampaigns(1)
	camp := mustCreateCampaign(t, c, Campaign{Name: "x", Count: 50, Code: CodeConfig{Pattern: "X-##", Charset: CharsetNumbers}})
	if n := campaignRemaining(t, c, camp.ID); n != 50 {
		t.Errorf("Remaining = %d, want 50", n)
	}
}

func TestPoolExhaustion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCampaigns(3)
	camp := mustCreateCampaign(t, c, Campaign{Name: "Pool", Codes: []string{"FIRST", "SECOND"}, Count: 2, Code: CodeConfig{Pattern: "GEN-####", Charset: CharsetUppercase}})
	if camp.Type != Pool || camp.Count != 2 {
		t.Fatalf("campaign = %+v, want a pool of 2 imported + 2 generated", camp)
	}
	if n := campaignRemaining(t, c, camp.ID); n != 4 {
		t.Fatalf("Remaining = %d, want 4", n)
	}
	got := publishCodes(t, c, camp.ID, 4)
	if got[0] != "FIRST" || got[1] != "SECOND" {
		t.Errorf("first codes = %q, want the imported ones in order", got[:2])
	}
	for _, code := range got[2:] {
		if !strings.HasPrefix(code, "GEN-") || len(code) != 8 || code[4:] != strings.ToUpper(code[4:]) {
			t.Errorf("generated code %q, want GEN-XXXX", code)
		}
	}
	if got[2] == got[3] {
		t.Errorf("generated codes repeat: %q", got)
	}
	if n := campaignRemaining(t, c, camp.ID); n != 0 {
		t.Errorf("Remaining = %d, want 0", n)
	}
	_, err := c.Publish(ctx, PublishRequest{Key: "5", CampaignID: camp.ID, CustomerID: "cust_5"})
	if !errors.Is(err, ErrNoCodesLeft) {
		t.Fatalf("Publish from an exhausted pool: %v, want ErrNoCodesLeft", err)
	}
	if !strings.Contains(err.Error(), `campaign "Pool": all 4 codes are published`) {
		t.Errorf("error %q does not name the campaign and count", err)
	}
	pubs, err := c.Publications(ctx, camp.ID)
	if err != nil || len(pubs) != 4 {
		t.Fatalf("Publications = %d, %v; want 4 (the failed publish records nothing)", len(pubs), err)
	}
}

func TestAutoUpdateUsesPoolFirst(t *testing.T) {
	t.Parallel()
	c := newTestCampaigns(4)
	camp := mustCreateCampaign(t, c, Campaign{Name: "A", Type: AutoUpdate, Codes: []string{"IMPORTED"}, Code: CodeConfig{Prefix: "AU-"}})
	if n := campaignRemaining(t, c, camp.ID); n != -1 {
		t.Errorf("Remaining(auto-update) = %d, want -1", n)
	}
	got := publishCodes(t, c, camp.ID, 3)
	if got[0] != "IMPORTED" || !strings.HasPrefix(got[1], "AU-") || !strings.HasPrefix(got[2], "AU-") || got[1] == got[2] {
		t.Errorf("codes = %q, want IMPORTED then two distinct AU- codes", got)
	}
}

func TestCodesUniqueAcrossCampaigns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := range byte(5) {
		c := newTestCampaigns(seed)
		// Two auto-update campaigns whose 3-code spaces share "b" and "c".
		a := mustCreateCampaign(t, c, Campaign{Name: "abc", Code: CodeConfig{Pattern: "#", Charset: "abc"}})
		b := mustCreateCampaign(t, c, Campaign{Name: "bcd", Code: CodeConfig{Pattern: "#", Charset: "bcd"}})
		var all []string
		for i := 0; ; i++ {
			if i == 10 {
				t.Fatalf("seed %d: two 3-code spaces still publish after 10 rounds: %q", seed, all)
			}
			progress := false
			for _, camp := range []Campaign{a, b} {
				p, err := c.Publish(ctx, PublishRequest{Key: fmt.Sprint(camp.ID, i), CampaignID: camp.ID, CustomerID: "c"})
				if errors.Is(err, ErrNoCodesLeft) {
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
			t.Fatalf("seed %d: codes of both campaigns (-want +got):\n%s", seed, diff)
		}
		// A pool in the same (now full) space cannot generate its codes...
		_, err := c.CreateCampaign(ctx, Campaign{Name: "pool", Count: 1, Code: CodeConfig{Pattern: "#", Charset: "ab"}})
		if !errors.Is(err, ErrConflict) || !strings.HasPrefix(err.Error(), "count: generated only 0 of 1") {
			t.Fatalf("pool in a used space: %v, want count: ... ErrConflict", err)
		}
		// ...nor import one of them, and nothing is reserved on failure.
		_, err = c.CreateCampaign(ctx, Campaign{Name: "imp", Codes: []string{"x", "y", "b"}})
		if !errors.Is(err, ErrConflict) || !strings.HasPrefix(err.Error(), `codes[2]: code "b" already exists in campaign`) {
			t.Fatalf("importing a used code: %v, want codes[2]: ... ErrConflict", err)
		}
		if _, err := c.CreateCampaign(ctx, Campaign{Name: "imp", Codes: []string{"x", "y"}}); err != nil {
			t.Fatalf("codes of a rejected import stayed reserved: %v", err)
		}
	}
}

func TestPoolCountAvoidsExistingCodes(t *testing.T) {
	t.Parallel()
	c := newTestCampaigns(6)
	// 8 of the 16 codes are imported elsewhere; a pool of 8 in the same space
	// must get exactly the other 8.
	mustCreateCampaign(t, c, Campaign{Name: "imported", Codes: []string{"00", "01", "02", "03", "10", "11", "12", "13"}})
	p := mustCreateCampaign(t, c, Campaign{Name: "pool", Count: 8, Code: CodeConfig{Length: 2, Charset: "0123"}})
	got := publishCodes(t, c, p.ID, 8)
	slices.Sort(got)
	if diff := cmp.Diff([]string{"20", "21", "22", "23", "30", "31", "32", "33"}, got); diff != "" {
		t.Errorf("pool codes (-want +got):\n%s", diff)
	}
}

func TestPublishRecordsPublication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCampaigns(7)
	camp := mustCreateCampaign(t, c, Campaign{Name: "Welcome", Codes: []string{"CODE1", "CODE2"}})
	meta := map[string]any{"source_type": "distribution"}
	req := PublishRequest{Key: "distr_1/cust_1", CampaignID: "Welcome", CustomerID: "cust_1", DistributionID: "distr_1", Channel: "intercom", Metadata: meta}
	got, err := c.Publish(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !ids.HasPrefix(got.ID, "pub") {
		t.Errorf("ID = %q, want pub_...", got.ID)
	}
	want := Publication{ID: got.ID, Key: "distr_1/cust_1", CampaignID: camp.ID, CampaignName: "Welcome", Code: "CODE1",
		CustomerID: "cust_1", DistributionID: "distr_1", Channel: "intercom", Metadata: map[string]any{"source_type": "distribution"}, CreatedAt: campT0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Publish (-want +got):\n%s", diff)
	}
	meta["source_type"] = "changed" // the stored publication has its own copy
	pubs, err := c.Publications(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Publication{want}, pubs); diff != "" {
		t.Errorf("Publications (-want +got):\n%s", diff)
	}
	pubs[0].Metadata["x"] = 1 // nor do callers share it
	again, _ := c.Publications(ctx, camp.ID)
	if diff := cmp.Diff([]Publication{want}, again); diff != "" {
		t.Errorf("Publications after a caller's change (-want +got):\n%s", diff)
	}
}

func TestPublishIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, typ := range []CampaignType{Pool, AutoUpdate} {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			c := newTestCampaigns(8)
			camp := mustCreateCampaign(t, c, Campaign{Name: "c", Type: typ, Count: 3})
			req := PublishRequest{Key: "k1", CampaignID: camp.ID, CustomerID: "cust_1", Channel: "email"}
			first, err := c.Publish(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			req.Channel = "intercom" // ignored on a repeat
			second, err := c.Publish(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, second); diff != "" {
				t.Errorf("second Publish with the same key (-first +second):\n%s", diff)
			}
			pubs, _ := c.Publications(ctx, camp.ID)
			if len(pubs) != 1 {
				t.Errorf("%d publications, want 1", len(pubs))
			}
			if typ == Pool {
				if n := campaignRemaining(t, c, camp.ID); n != 2 {
					t.Errorf("Remaining = %d, want 2 (one code consumed)", n)
				}
			}
			next, err := c.Publish(ctx, PublishRequest{Key: "k2", CampaignID: camp.ID, CustomerID: "cust_1"})
			if err != nil || next.Code == first.Code {
				t.Errorf("a new key gave %q, %v; want a new code", next.Code, err)
			}
			// The same key for another customer or campaign is a conflict.
			other := mustCreateCampaign(t, c, Campaign{Name: "other"})
			for _, bad := range []PublishRequest{
				{Key: "k1", CampaignID: camp.ID, CustomerID: "cust_2"},
				{Key: "k1", CampaignID: other.ID, CustomerID: "cust_1"},
			} {
				if _, err := c.Publish(ctx, bad); !errors.Is(err, ErrConflict) {
					t.Errorf("Publish(%+v) = %v, want ErrConflict", bad, err)
				}
			}
		})
	}
}

func TestPublishConcurrentSameKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := NewMemory(Config{})
	camp := mustCreateCampaign(t, c, Campaign{Name: "c", Count: 5})
	const n = 32
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := c.Publish(ctx, PublishRequest{Key: "same", CampaignID: camp.ID, CustomerID: "cust_1"})
			if err != nil {
				t.Error(err)
			}
			codes[i] = p.Code
		})
	}
	wg.Wait()
	if codes[0] == "" || slices.ContainsFunc(codes, func(s string) bool { return s != codes[0] }) {
		t.Errorf("concurrent Publish with one key gave codes %q, want one code", codes)
	}
	if r := campaignRemaining(t, c, camp.ID); r != 4 {
		t.Errorf("Remaining = %d, want 4", r)
	}
}

func TestPublishConcurrentPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := NewMemory(Config{})
	pool := mustCreateCampaign(t, c, Campaign{Name: "pool", Count: 40})
	auto := mustCreateCampaign(t, c, Campaign{Name: "auto", Code: CodeConfig{Length: 2, Charset: "abcdefgh"}}) // 64 codes
	var mu sync.Mutex
	var codes []string
	left := map[string]int{}
	var wg sync.WaitGroup
	for i := range 60 {
		for _, camp := range []Campaign{pool, auto} {
			wg.Go(func() {
				p, err := c.Publish(ctx, PublishRequest{Key: fmt.Sprint(camp.Name, i), CampaignID: camp.ID, CustomerID: fmt.Sprint("cust_", i)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, ErrNoCodesLeft):
					left[camp.Name]++
				case err != nil:
					t.Error(err)
				default:
					codes = append(codes, p.Code)
				}
			})
		}
	}
	wg.Wait()
	if diff := cmp.Diff(map[string]int{"pool": 20}, left); diff != "" {
		t.Errorf("ErrNoCodesLeft per campaign (-want +got):\n%s", diff)
	}
	if len(codes) != 100 || len(slices.Compact(slices.Sorted(slices.Values(codes)))) != 100 {
		t.Errorf("got %d codes, want 100 distinct", len(codes))
	}
}

func TestUnknownCampaign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCampaigns(9)
	_, err1 := c.Campaign(ctx, "camp_x")
	_, err2 := c.Publish(ctx, PublishRequest{Key: "k", CampaignID: "camp_x", CustomerID: "c"})
	_, err3 := c.Publications(ctx, "camp_x")
	_, err4 := c.Remaining(ctx, "camp_x")
	for i, err := range []error{err1, err2, err3, err4} {
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"camp_x"`) {
			t.Errorf("call %d: %v, want ErrNotFound naming the campaign", i+1, err)
		}
	}
}

func TestPublishInvalidRequest(t *testing.T) {
	t.Parallel()
	c := newTestCampaigns(10)
	camp := mustCreateCampaign(t, c, Campaign{Name: "c"})
	for _, tt := range []struct {
		req  PublishRequest
		want string
	}{
		{PublishRequest{CampaignID: camp.ID, CustomerID: "c"}, "key: required"},
		{PublishRequest{Key: "k", CustomerID: "c"}, "campaign_id: required"},
		{PublishRequest{Key: "k", CampaignID: camp.ID}, "customer_id: required"},
	} {
		if _, err := c.Publish(context.Background(), tt.req); !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Publish(%+v) = %v, want %q", tt.req, err, tt.want)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	c := newTestCampaigns(11)
	camp := mustCreateCampaign(t, c, Campaign{Name: "c", Count: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Publish(ctx, PublishRequest{Key: "k", CampaignID: camp.ID, CustomerID: "c"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a canceled context: %v", err)
	}
	if _, err := c.CreateCampaign(ctx, Campaign{Name: "d"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateCampaign with a canceled context: %v", err)
	}
	if n := campaignRemaining(t, c, camp.ID); n != 1 {
		t.Errorf("Remaining = %d, want 1", n)
	}
}

// BenchmarkPublish measures Publish on an auto-update campaign (a new code
// per call) next to a pool campaign and the bare cost of an id and a random
// code (the baseline: what any implementation must pay).
func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	b.Run("auto-update", func(b *testing.B) {
		c := NewMemory(Config{})
		camp, _ := c.CreateCampaign(ctx, Campaign{Name: "bench"})
		keys := publishBenchKeys(b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := c.Publish(ctx, PublishRequest{Key: keys[i], CampaignID: camp.ID, CustomerID: "cust_1", DistributionID: "distr_1"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pool", func(b *testing.B) {
		c := NewMemory(Config{})
		camp, _ := c.CreateCampaign(ctx, Campaign{Name: "bench", Count: min(b.N, MaxPoolCount)})
		keys := publishBenchKeys(b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if i == MaxPoolCount {
				b.Skip("pool exhausted")
			}
			if _, err := c.Publish(ctx, PublishRequest{Key: keys[i], CampaignID: camp.ID, CustomerID: "cust_1", DistributionID: "distr_1"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-id+code", func(b *testing.B) {
		g, _ := NewGenerator(CodeConfig{})
		rb := newRandBytes(NewMemory(Config{}).rnd.r)
		b.ReportAllocs()
		for range b.N {
			_ = ids.New("pub")
			if _, err := g.random(rb); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func publishBenchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint("distr_1/cust_", i)
	}
	return keys
}
