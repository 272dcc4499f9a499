package codestest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/codes"
)

// testCampaignLookup: CreateCampaign returns the campaign normalized, and
// Campaign finds it by id and by name; Publish accepts either.
func testCampaignLookup(t *testing.T, src Source) {
	ctx := t.Context()
	in := codes.Campaign{Name: "Welcome", Codes: []string{"A1", "B2"}}
	pool := mustCreate(t, src, in)
	if pool.ID == "" || pool.CreatedAt.IsZero() {
		t.Fatalf("CreateCampaign = %+v, want ID and CreatedAt set", pool)
	}
	want := codes.Campaign{ID: pool.ID, Name: "Welcome", Type: codes.Pool,
		Code:  codes.CodeConfig{Charset: codes.CharsetAlphanumeric, Length: codes.DefaultCodeLength},
		Codes: []string{"A1", "B2"}, CreatedAt: pool.CreatedAt}
	if diff := cmp.Diff(want, pool); diff != "" {
		t.Errorf("CreateCampaign (-want +got):\n%s", diff)
	}
	in.Codes[0] = "changed" // the source keeps its own copy
	auto := mustCreate(t, src, codes.Campaign{Name: "Auto", Code: codes.CodeConfig{Pattern: "WELCOME-####", Length: 3}})
	wantAuto := codes.Campaign{ID: auto.ID, Name: "Auto", Type: codes.AutoUpdate,
		Code: codes.CodeConfig{Charset: codes.CharsetAlphanumeric, Pattern: "WELCOME-####"}, CreatedAt: auto.CreatedAt}
	if diff := cmp.Diff(wantAuto, auto, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("CreateCampaign(auto-update) (-want +got):\n%s", diff)
	}
	if auto.ID == pool.ID {
		t.Errorf("two campaigns share the id %s", auto.ID)
	}
	for _, tc := range []struct {
		key  string
		want codes.Campaign
	}{{pool.ID, want}, {"Welcome", want}, {auto.ID, wantAuto}, {"Auto", wantAuto}} {
		got, err := src.Campaign(ctx, tc.key)
		if err != nil {
			t.Fatalf("Campaign(%q): %v", tc.key, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Campaign(%q) (-want +got):\n%s", tc.key, diff)
		}
	}
	byName, err := src.Publish(ctx, codes.PublishRequest{Key: "k1", CampaignID: "Welcome", CustomerID: "cust_1"})
	if err != nil || byName.Code != "A1" || byName.CampaignID != pool.ID || byName.CampaignName != "Welcome" {
		t.Errorf("Publish by campaign name = %+v, %v; want A1 from %s", byName, err, pool.ID)
	}
	byID, err := src.Publish(ctx, codes.PublishRequest{Key: "k2", CampaignID: pool.ID, CustomerID: "cust_2"})
	if err != nil || byID.Code != "B2" || byID.CampaignName != "Welcome" {
		t.Errorf("Publish by campaign id = %+v, %v; want B2", byID, err)
	}
}

// testUnknownCampaign: Campaign and Publish fail with ErrNotFound naming
// the campaign.
func testUnknownCampaign(t *testing.T, src Source) {
	ctx := t.Context()
	mustCreate(t, src, codes.Campaign{Name: "known"})
	_, err1 := src.Campaign(ctx, "camp_x")
	_, err2 := src.Publish(ctx, codes.PublishRequest{Key: "k", CampaignID: "camp_x", CustomerID: "c"})
	errs := []error{err1, err2}
	if c, ok := src.(publishedCounter); ok {
		_, err := c.Published(ctx, "camp_x")
		errs = append(errs, err)
	}
	for i, err := range errs {
		if !errors.Is(err, codes.ErrNotFound) || !strings.Contains(err.Error(), `"camp_x"`) {
			t.Errorf("call %d: %v, want ErrNotFound naming the campaign", i+1, err)
		}
	}
}

// testCampaignValidation: a bad campaign fails with ErrInvalid naming the
// field, and nothing is stored.
func testCampaignValidation(t *testing.T, src Source) {
	ctx := t.Context()
	tests := []struct {
		name string
		camp codes.Campaign
		want string // prefix: the field
	}{
		{"no name", codes.Campaign{}, "name: required"},
		{"blank name", codes.Campaign{Name: "  "}, "name: required"},
		{"padded name", codes.Campaign{Name: " x"}, "name: "},
		{"id set", codes.Campaign{ID: "camp_1", Name: "x"}, "id: "},
		{"created_at set", codes.Campaign{Name: "x", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, "created_at: "},
		{"bad type", codes.Campaign{Name: "x", Type: "STATIC"}, `type: unknown campaign type "STATIC"`},
		{"negative count", codes.Campaign{Name: "x", Count: -1}, "count: -1 is negative"},
		{"huge count", codes.Campaign{Name: "x", Count: codes.MaxPoolCount + 1}, "count: 1000001 exceeds"},
		{"empty pool", codes.Campaign{Name: "x", Type: codes.Pool}, "count: a pool campaign needs"},
		{"empty code", codes.Campaign{Name: "x", Codes: []string{"A", ""}}, "codes[1]: empty code"},
		{"code with space", codes.Campaign{Name: "x", Codes: []string{"A B"}}, "codes[0]: "},
		{"duplicate code", codes.Campaign{Name: "x", Codes: []string{"A", "B", "A"}}, `codes[2]: "A" duplicates codes[0]`},
		{"bad charset", codes.Campaign{Name: "x", Code: codes.CodeConfig{Charset: "aa"}}, "code.charset: "},
		{"capitalized charset", codes.Campaign{Name: "x", Code: codes.CodeConfig{Charset: "Numbers"}}, "code.charset: "},
		{"pattern without hash", codes.Campaign{Name: "x", Code: codes.CodeConfig{Pattern: "FIXED"}}, "code.pattern: "},
		{"pattern too small", codes.Campaign{Name: "x", Count: 51, Code: codes.CodeConfig{Pattern: "X-##", Charset: codes.CharsetNumbers}},
			`code.pattern: pattern "X-##" (2 random characters from a charset of 10) gives only 100 possible codes; count 51 needs at least 102`},
		{"length too small", codes.Campaign{Name: "x", Count: 3, Code: codes.CodeConfig{Length: 2, Charset: "ab"}},
			"code.length: length 2 (charset of 2 characters) gives only 4 possible codes; count 3 needs at least 6"},
	}
	for _, tt := range tests {
		_, err := src.CreateCampaign(ctx, tt.camp)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, codes.ErrInvalid) {
			t.Errorf("%s: CreateCampaign error = %v, want prefix %q wrapping ErrInvalid", tt.name, err, tt.want)
		}
	}
	if _, err := src.Campaign(ctx, "x"); !errors.Is(err, codes.ErrNotFound) {
		t.Errorf("a rejected campaign was stored: %v", err)
	}
	// Nothing of the rejected imports is reserved, and a pool exactly at
	// the 2x headroom is accepted.
	mustCreate(t, src, codes.Campaign{Name: "x", Codes: []string{"A", "B"}})
	camp := mustCreate(t, src, codes.Campaign{Name: "at the limit", Count: 50, Code: codes.CodeConfig{Pattern: "X-##", Charset: codes.CharsetNumbers}})
	checkRemaining(t, src, camp.ID, 50)
}

// testCampaignConflicts: a name in use, or an imported code another
// campaign holds, fails with ErrConflict and stores nothing.
func testCampaignConflicts(t *testing.T, src Source) {
	ctx := t.Context()
	first := mustCreate(t, src, codes.Campaign{Name: "first", Codes: []string{"USED-1", "USED-2"}})
	if _, err := src.CreateCampaign(ctx, codes.Campaign{Name: "first", Count: 1}); !errors.Is(err, codes.ErrConflict) || !strings.HasPrefix(err.Error(), "name: ") {
		t.Errorf("duplicate name: %v, want name: ... ErrConflict", err)
	}
	_, err := src.CreateCampaign(ctx, codes.Campaign{Name: "imp", Codes: []string{"X1", "X2", "USED-2"}})
	if !errors.Is(err, codes.ErrConflict) || !strings.HasPrefix(err.Error(), `codes[2]: code "USED-2" already exists`) {
		t.Errorf("importing a used code: %v, want codes[2]: ... ErrConflict", err)
	}
	if _, err := src.Campaign(ctx, "imp"); !errors.Is(err, codes.ErrNotFound) {
		t.Errorf("a campaign rejected for its codes was stored: %v", err)
	}
	imp := mustCreate(t, src, codes.Campaign{Name: "imp", Codes: []string{"X1", "X2"}}) // not reserved by the failure
	if got := publishN(t, src, imp.ID, 2); !cmp.Equal(got, []string{"X1", "X2"}) {
		t.Errorf("codes of imp = %q, want X1 X2", got)
	}
	if got := publishN(t, src, first.ID, 2); !cmp.Equal(got, []string{"USED-1", "USED-2"}) {
		t.Errorf("codes of first = %q, want USED-1 USED-2", got)
	}
}

// testPublishValidation: a request missing a required field fails with
// ErrInvalid naming it, and publishes nothing.
func testPublishValidation(t *testing.T, src Source) {
	camp := mustCreate(t, src, codes.Campaign{Name: "c", Codes: []string{"ONLY"}})
	for _, tt := range []struct {
		req  codes.PublishRequest
		want string
	}{
		{codes.PublishRequest{CampaignID: camp.ID, CustomerID: "c"}, "key: required"},
		{codes.PublishRequest{Key: "k", CustomerID: "c"}, "campaign_id: required"},
		{codes.PublishRequest{Key: "k", CampaignID: camp.ID}, "customer_id: required"},
	} {
		if _, err := src.Publish(t.Context(), tt.req); !errors.Is(err, codes.ErrInvalid) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Publish(%+v) = %v, want %q wrapping ErrInvalid", tt.req, err, tt.want)
		}
	}
	checkRemaining(t, src, camp.ID, 1)
	checkPublications(t, src, camp.ID, 0)
}
