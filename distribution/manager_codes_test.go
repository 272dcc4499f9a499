package distribution_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/distribution"
)

// noCodes makes a Manager without Config.Codes: the store provides them.
func noCodes(c *distribution.Config) { c.Codes = nil }

// Campaigns live in the store: a second Manager on the same store.Memory
// finds the campaign the first created and sends with it (issue 15: it
// had a code source of its own and failed every delivery).
func TestManagerCodesFromStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(noCodes)
	ann := e.intercomCustomer("u1", "Ann", "ann@example.com")
	camp, err := e.m.CreateCampaign(e.ctx, distribution.Campaign{Name: "Welcome", Codes: []string{"W-1", "W-2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.mem.Campaign(e.ctx, "Welcome"); err != nil || got.ID != camp.ID {
		t.Fatalf("the store's campaign = %+v, %v; want the one CreateCampaign made", got, err)
	}
	if e.m.Campaigns() != e.mem.Codes() {
		t.Errorf("Manager.Campaigns() is not the store's code source")
	}
	d := e.create(distribution.Distribution{Name: "Hi", Audience: distribution.Audience{CustomerID: ann.ID}, Campaign: "Welcome",
		Channels: inApp("code {{voucher.code}}")})
	if d.Campaign != camp.ID {
		t.Errorf("distribution campaign = %q, want the name resolved to %s", d.Campaign, camp.ID)
	}
	if _, err := e.m.CreateDistribution(e.ctx, distribution.Distribution{Name: "Bad", Audience: distribution.Audience{CustomerID: ann.ID},
		Campaign: "Nope", Channels: inApp("x")}); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("distribution with an unknown campaign: %v, want ErrNotFound", err)
	}

	e.start(noCodes) // a second Manager on the same store.Memory
	done := e.sendNow(d.ID, distribution.StatusDone)
	if done.Report.Sent != 1 {
		t.Errorf("report = %+v, want 1 sent", done.Report)
	}
	if diff := cmp.Diff([]string{"code W-1"}, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	pubs, err := e.mem.Publications(e.ctx, camp.ID)
	if err != nil || len(pubs) != 1 || pubs[0].Code != "W-1" || pubs[0].CustomerID != ann.ID {
		t.Errorf("the store's publications = %+v, %v; want W-1 to Ann", pubs, err)
	}
}

// publishOnly is a code source that is not a codes.Registry.
type publishOnly struct{ src codes.Source }

func (p publishOnly) Publish(ctx context.Context, r codes.PublishRequest) (codes.Publication, error) {
	return p.src.Publish(ctx, r)
}

// storeOnly hides that a store provides codes.
type storeOnly struct{ distribution.ManagerStore }

func TestManagerCodeSourceDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// Config.Codes that holds no campaigns: CreateCampaign has nowhere to
	// create one.
	e.start(func(c *distribution.Config) { c.Codes = publishOnly{e.codes} })
	if _, err := e.m.CreateCampaign(e.ctx, distribution.Campaign{Name: "x"}); !errors.Is(err, distribution.ErrNoCampaigns) {
		t.Errorf("CreateCampaign with a code source that is no codes.Registry: %v, want ErrNoCampaigns", err)
	}
	if e.m.Campaigns() != nil {
		t.Errorf("Campaigns() = %p, want nil", e.m.Campaigns())
	}

	// Config.Codes wins over the store's.
	e.start(nil)
	if _, err := e.m.CreateCampaign(e.ctx, distribution.Campaign{Name: "in codes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.codes.Campaign(e.ctx, "in codes"); err != nil {
		t.Errorf("campaign not in Config.Codes: %v", err)
	}
	if _, err := e.mem.Campaign(e.ctx, "in codes"); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("campaign in the store too: %v", err)
	}
	if e.m.Campaigns() != e.codes {
		t.Errorf("Campaigns() is not Config.Codes")
	}

	// A store that does not provide codes: a fresh in-memory source.
	e.start(func(c *distribution.Config) { c.Codes, c.Store = nil, storeOnly{e.st} })
	if _, err := e.m.CreateCampaign(e.ctx, distribution.Campaign{Name: "fresh"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mem.Campaign(e.ctx, "fresh"); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("campaign in a store that does not provide codes: %v", err)
	}
	if c := e.m.Campaigns(); c == nil || c == e.codes || c == e.mem.Codes() {
		t.Errorf("Campaigns() = %p, want a fresh in-memory source", c)
	}
}
