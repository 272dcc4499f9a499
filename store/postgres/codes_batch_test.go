package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestCodesPublishBatch checks that PublishBatch gives every request what
// Publish gives it: pool codes in pool order, the same publication for a
// key published before, ErrNoCodesLeft past the pool, per-request errors.
func TestCodesPublishBatch(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	codes := postgres.NewCodes(pool, nil)
	poolCamp, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "pool", Codes: []string{"P-1", "P-2", "P-3", "P-4", "P-5"}})
	if err != nil {
		t.Fatal(err)
	}
	auto, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "auto", Code: distribution.CodeConfig{Pattern: "A-######", Charset: distribution.CharsetNumbers}})
	if err != nil {
		t.Fatal(err)
	}
	req := func(camp, cust string) distribution.PublishRequest {
		return distribution.PublishRequest{Key: camp + "/" + cust, CampaignID: camp, CustomerID: cust, DistributionID: "distr_1"}
	}
	// P-1 goes out alone first: the batch must reuse it for its key.
	first, err := codes.Publish(ctx, req("pool", "c1"))
	if err != nil || first.Code != "P-1" {
		t.Fatalf("Publish = %+v, %v; want P-1", first, err)
	}
	type want struct {
		code string // "" with err; "A-*" for any generated code
		err  error
	}
	tests := []struct {
		name string
		reqs []distribution.PublishRequest
		want []want
	}{
		{"pool order, a published key reused", []distribution.PublishRequest{req("pool", "c2"), req("pool", "c1"), req("pool", "c3")},
			[]want{{code: "P-2"}, {code: "P-1"}, {code: "P-3"}}},
		{"the same keys again", []distribution.PublishRequest{req("pool", "c3"), req("pool", "c2")},
			[]want{{code: "P-3"}, {code: "P-2"}}},
		{"past the pool", []distribution.PublishRequest{req("pool", "c4"), req("pool", "c5"), req("pool", "c6"), req("pool", "c7")},
			[]want{{code: "P-4"}, {code: "P-5"}, {err: distribution.ErrNoCodesLeft}, {err: distribution.ErrNoCodesLeft}}},
		{"generated", []distribution.PublishRequest{req("auto", "c1"), req("auto", "c2"), req("auto", "c3")},
			[]want{{code: "A-*"}, {code: "A-*"}, {code: "A-*"}}},
		{"mixed campaigns and bad requests", []distribution.PublishRequest{req("auto", "c4"), {Key: "k", CampaignID: "auto"}, req("pool", "c2"), req("nope", "c1"), req("auto", "c5")},
			[]want{{code: "A-*"}, {err: distribution.ErrInvalid}, {code: "P-2"}, {err: distribution.ErrNotFound}, {code: "A-*"}}},
		{"a key reused for another customer", []distribution.PublishRequest{{Key: "pool/c2", CampaignID: "pool", CustomerID: "c9"}, req("auto", "c6")},
			[]want{{err: distribution.ErrConflict}, {code: "A-*"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pubs, errs := codes.PublishBatch(ctx, tc.reqs)
			if len(pubs) != len(tc.reqs) || len(errs) != len(tc.reqs) {
				t.Fatalf("PublishBatch returned %d publications and %d errors for %d requests", len(pubs), len(errs), len(tc.reqs))
			}
			for i, w := range tc.want {
				r := tc.reqs[i]
				switch {
				case w.err != nil:
					if !errors.Is(errs[i], w.err) {
						t.Errorf("request %d (%s): error %v, want %v", i, r.Key, errs[i], w.err)
					}
					continue
				case errs[i] != nil:
					t.Errorf("request %d (%s): %v", i, r.Key, errs[i])
					continue
				case w.code == "A-*" && (len(pubs[i].Code) != 8 || pubs[i].Code[:2] != "A-"):
					t.Errorf("request %d (%s): code %q, want A-######", i, r.Key, pubs[i].Code)
				case w.code != "A-*" && pubs[i].Code != w.code:
					t.Errorf("request %d (%s): code %q, want %q", i, r.Key, pubs[i].Code, w.code)
				}
				// What a later Publish of the same key returns, field by field.
				again, err := codes.Publish(ctx, r)
				if err != nil {
					t.Fatalf("Publish(%s) after the batch: %v", r.Key, err)
				}
				if diff := cmp.Diff(again, pubs[i], cmpopts.EquateApproxTime(0), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("request %d (%s): batch publication differs from Publish's (-publish +batch):\n%s", i, r.Key, diff)
				}
			}
		})
	}
	if n, _ := codes.Remaining(ctx, poolCamp.ID); n != 0 {
		t.Errorf("Remaining(pool) = %d, want 0", n)
	}
	if pubs, _ := codes.Publications(ctx, auto.ID); len(pubs) != 6 {
		t.Errorf("auto publications = %d, want 6", len(pubs))
	}
}

// TestCodesPublishBatchConcurrent races batches and single publications
// over overlapping keys of a small pool, from two Codes (two replicas):
// one code per key, no code twice, the pool used up exactly.
func TestCodesPublishBatchConcurrent(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	codes, other := postgres.NewCodes(pool, nil), postgres.NewCodes(pool, nil)
	if _, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "pool", Count: 40, Code: distribution.CodeConfig{Pattern: "G-#####", Charset: distribution.CharsetNumbers}}); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		byKey  = map[string]string{}
		noneOK = map[string]bool{}
		wg     sync.WaitGroup
	)
	record := func(r distribution.PublishRequest, p distribution.Publication, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, distribution.ErrNoCodesLeft):
			noneOK[r.Key] = true
		case err != nil:
			t.Errorf("%s: %v", r.Key, err)
		default:
			if prev, ok := byKey[r.Key]; ok && prev != p.Code {
				t.Errorf("key %s published two codes: %s and %s", r.Key, prev, p.Code)
			}
			byKey[r.Key] = p.Code
		}
	}
	for w := range 8 {
		src := []*postgres.Codes{codes, other}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 4 {
				var reqs []distribution.PublishRequest
				for i := range 6 {
					cust := fmt.Sprint("c", (w*5+b*6+i)%60) // overlapping keys
					reqs = append(reqs, distribution.PublishRequest{Key: "k/" + cust, CampaignID: "pool", CustomerID: cust})
				}
				if b%2 == 1 {
					p, err := src.Publish(ctx, reqs[0])
					record(reqs[0], p, err)
				}
				pubs, errs := src.PublishBatch(ctx, reqs)
				for i := range reqs {
					record(reqs[i], pubs[i], errs[i])
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]string{}
	for k, code := range byKey {
		if prev, dup := seen[code]; dup {
			t.Fatalf("code %s published to %s and %s", code, prev, k)
		}
		seen[code] = k
	}
	// More than 40 distinct keys ask: the whole pool goes out.
	if len(byKey) != 40 || len(noneOK) == 0 {
		t.Fatalf("%d keys got a code and %d were refused; want 40 from a pool of 40, and refusals", len(byKey), len(noneOK))
	}
}
