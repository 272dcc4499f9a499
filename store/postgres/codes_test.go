package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/store/postgres"
)

func TestCodesPoolConcurrentPublish(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	codes := postgres.NewCodes(pool, nil)
	camp, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "pool", Codes: []string{"IMP-1", "IMP-2"}, Count: 28, Code: distribution.CodeConfig{Pattern: "GEN-####", Charset: distribution.CharsetNumbers}})
	if err != nil {
		t.Fatal(err)
	}
	if camp.Type != distribution.CampaignPool || camp.Code.Charset != distribution.CharsetNumbers {
		t.Fatalf("created campaign = %+v", camp)
	}
	if n, err := codes.Remaining(ctx, camp.ID); err != nil || n != 30 {
		t.Fatalf("Remaining = %d, %v; want 30", n, err)
	}
	// 40 customers race for 30 codes; each customer asks twice with the
	// same key, from two "replicas" (two Codes values).
	other := postgres.NewCodes(pool, nil)
	var (
		mu     sync.Mutex
		byCust = map[string]string{}
		none   int
		wg     sync.WaitGroup
	)
	for i := range 40 {
		for _, src := range []*postgres.Codes{codes, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cust := fmt.Sprint("cust_", i)
				p, err := src.Publish(ctx, distribution.PublishRequest{Key: "k/" + cust, CampaignID: "pool", CustomerID: cust})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, distribution.ErrNoCodesLeft):
					none++
				case err != nil:
					t.Errorf("Publish(%s): %v", cust, err)
				default:
					if prev, ok := byCust[cust]; ok && prev != p.Code {
						t.Errorf("key k/%s published two codes: %s and %s", cust, prev, p.Code)
					}
					byCust[cust] = p.Code
				}
			}()
		}
	}
	wg.Wait()
	if len(byCust) != 30 {
		t.Fatalf("%d customers got a code, want 30 (the pool)", len(byCust))
	}
	seen := map[string]bool{}
	for _, code := range byCust {
		if seen[code] {
			t.Fatalf("code %s published twice", code)
		}
		seen[code] = true
	}
	pubs, err := codes.Publications(ctx, camp.ID)
	if err != nil || len(pubs) != 30 {
		t.Fatalf("Publications = %d, %v; want 30", len(pubs), err)
	}
	if n, _ := codes.Remaining(ctx, camp.ID); n != 0 {
		t.Fatalf("Remaining = %d, want 0", n)
	}
	// A fresh Codes (a restarted process) returns the same publication.
	again, err := postgres.NewCodes(pool, nil).Publish(ctx, distribution.PublishRequest{Key: pubs[0].Key, CampaignID: camp.ID, CustomerID: pubs[0].CustomerID})
	if err != nil || again.ID != pubs[0].ID || again.Code != pubs[0].Code {
		t.Fatalf("republish after restart = %+v, %v; want %+v", again, err, pubs[0])
	}
	if _, err := codes.Publish(ctx, distribution.PublishRequest{Key: pubs[0].Key, CampaignID: camp.ID, CustomerID: "someone else"}); !errors.Is(err, distribution.ErrConflict) {
		t.Fatalf("key reused for another customer: %v, want ErrConflict", err)
	}
}

func TestCodesAutoUpdateAndErrors(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	codes := postgres.NewCodes(pool, nil)
	auto, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "auto", Code: distribution.CodeConfig{Prefix: "WEL-", Length: 6, Charset: distribution.CharsetUppercase}})
	if err != nil {
		t.Fatal(err)
	}
	if auto.Type != distribution.CampaignAutoUpdate {
		t.Fatalf("type = %s, want auto-update", auto.Type)
	}
	re := regexp.MustCompile(`^WEL-[A-Z]{6}$`)
	seen := map[string]bool{}
	for i := range 50 {
		p, err := codes.Publish(ctx, distribution.PublishRequest{Key: fmt.Sprint(i), CampaignID: auto.ID, CustomerID: "c", Metadata: map[string]any{"n": float64(i)}})
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(p.Code) || seen[p.Code] {
			t.Fatalf("code %q: pattern or uniqueness broken", p.Code)
		}
		seen[p.Code] = true
	}
	pubs, _ := codes.Publications(ctx, "auto")
	if len(pubs) != 50 || pubs[3].Metadata["n"] != 3.0 || pubs[3].CampaignName != "auto" {
		t.Fatalf("publications = %d, [3] = %+v", len(pubs), pubs[3])
	}
	if _, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "auto"}); !errors.Is(err, distribution.ErrConflict) {
		t.Errorf("duplicate name: %v, want ErrConflict", err)
	}
	if _, err := codes.CreateCampaign(ctx, distribution.Campaign{Name: "imp", Codes: []string{"X1", pubs[0].Code}}); !errors.Is(err, distribution.ErrConflict) {
		t.Errorf("imported code taken by another campaign: %v, want ErrConflict", err)
	}
	if _, err := codes.Campaign(ctx, "imp"); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("a failed CreateCampaign left a campaign: %v", err)
	}
	for _, bad := range []distribution.Campaign{
		{Name: ""},
		{Name: "x", Code: distribution.CodeConfig{Charset: "Numbers"}},
		{Name: "x", Count: 60, Code: distribution.CodeConfig{Length: 1, Charset: distribution.CharsetNumbers}},
		{Name: "x", Codes: []string{"A", "A"}},
	} {
		if _, err := codes.CreateCampaign(ctx, bad); !errors.Is(err, distribution.ErrInvalid) {
			t.Errorf("CreateCampaign(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := codes.Publish(ctx, distribution.PublishRequest{Key: "k", CampaignID: "nope", CustomerID: "c"}); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("unknown campaign: %v, want ErrNotFound", err)
	}
}
