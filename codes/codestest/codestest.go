// Package codestest is the conformance suite for implementations of
// [codes.Source] that hold their campaigns ([codes.Registry]): the
// in-memory codes.Memory and store/postgres.Codes run it, and so should a
// host's own code source.
//
//	func TestMySource(t *testing.T) {
//		codestest.Run(t, func(t *testing.T) codestest.Source { return newMySource(t) })
//	}
//
// It checks what distribution.Manager relies on: codes unique across
// campaigns under concurrent publication, idempotency by key (and
// ErrConflict for a key reused for another customer or campaign), pools
// (imported codes in order, then pre-generated ones, then
// ErrNoCodesLeft), exhaustion of a small code space (every free code is
// found before ErrNoCodesLeft), campaign lookup by id and by name,
// ErrNotFound for an unknown campaign, validation errors that name the
// field and store nothing, and, when the source implements
// [codes.BatchPublisher], that PublishBatch gives every request what
// Publish gives it. Where a source also has Publications(ctx, campaignID),
// Remaining(ctx, campaignID) or Published(ctx, campaignID) (as both
// built-in sources do), the suite checks them too.
package codestest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/codedrop/codedrop/codes"
)

// Source is what the suite tests: a code source that holds its campaigns.
type Source interface {
	codes.Source
	codes.Registry
}

// Optional methods the suite checks when a source has them.
type (
	publicationLister interface {
		Publications(ctx context.Context, campaignID string) ([]codes.Publication, error)
	}
	remainder interface {
		Remaining(ctx context.Context, campaignID string) (int, error)
	}
	publishedCounter interface {
		Published(ctx context.Context, campaignID string) (int, error)
	}
)

// Run runs the suite. newSource must return a new, empty source each
// time it is called: every subtest makes its own and they run in parallel.
// It may register cleanup with t.Cleanup.
func Run(t *testing.T, newSource func(t *testing.T) Source) {
	tests := []struct {
		name string
		fn   func(*testing.T, Source)
	}{
		{"CampaignLookup", testCampaignLookup},
		{"UnknownCampaign", testUnknownCampaign},
		{"CampaignValidation", testCampaignValidation},
		{"CampaignConflicts", testCampaignConflicts},
		{"PublishValidation", testPublishValidation},
		{"Idempotency", testIdempotency},
		{"IdempotencyConcurrent", testIdempotencyConcurrent},
		{"Pool", testPool},
		{"AutoUpdateUsesPoolFirst", testAutoUpdateUsesPoolFirst},
		{"PoolCountAvoidsTakenCodes", testPoolCountAvoidsTakenCodes},
		{"SmallSpaceExhaustion", testSmallSpaceExhaustion},
		{"LastFreeCodes", testLastFreeCodes},
		{"SharedSpaceExhaustion", testSharedSpaceExhaustion},
		{"ConcurrentUniqueness", testConcurrentUniqueness},
		{"PublishBatch", testPublishBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newSource(t))
		})
	}
}

// mustCreate creates c or fails t.
func mustCreate(t *testing.T, src Source, c codes.Campaign) codes.Campaign {
	t.Helper()
	got, err := src.CreateCampaign(t.Context(), c)
	if err != nil {
		t.Fatalf("CreateCampaign(%q): %v", c.Name, err)
	}
	return got
}

// req is a publication request of customer cust from campaign camp, keyed
// by both.
func req(camp, cust string) codes.PublishRequest {
	return codes.PublishRequest{Key: camp + "/" + cust, CampaignID: camp, CustomerID: cust}
}

// publishN publishes n codes from camp with distinct keys and returns them.
func publishN(t *testing.T, src Source, camp string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		p, err := src.Publish(t.Context(), req(camp, fmt.Sprint("cust_", i)))
		if err != nil {
			t.Fatalf("Publish #%d from %s: %v", i, camp, err)
		}
		out = append(out, p.Code)
	}
	return out
}

// checkRemaining checks Remaining when the source has it.
func checkRemaining(t *testing.T, src Source, camp string, want int) {
	t.Helper()
	r, ok := src.(remainder)
	if !ok {
		return
	}
	if n, err := r.Remaining(t.Context(), camp); err != nil || n != want {
		t.Errorf("Remaining(%s) = %d, %v; want %d", camp, n, err, want)
	}
}

// checkPublications checks the number of Publications, and Published,
// when the source has them.
func checkPublications(t *testing.T, src Source, camp string, want int) {
	t.Helper()
	if l, ok := src.(publicationLister); ok {
		if pubs, err := l.Publications(t.Context(), camp); err != nil || len(pubs) != want {
			t.Errorf("Publications(%s) = %d, %v; want %d", camp, len(pubs), err, want)
		}
	}
	if c, ok := src.(publishedCounter); ok {
		if n, err := c.Published(t.Context(), camp); err != nil || n != want {
			t.Errorf("Published(%s) = %d, %v; want %d", camp, n, err, want)
		}
	}
}

// sentinels are the errors the suite tells apart.
var sentinels = []error{codes.ErrNoCodesLeft, codes.ErrNotFound, codes.ErrConflict, codes.ErrInvalid}

// class returns the sentinel err matches, nil for nil, or err itself.
func class(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}
