package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestManagerCodesFromStore: a Manager on a postgres.Store without
// Config.Codes publishes from the database: CreateCampaign stores the
// campaign there, distributions' campaigns are checked and resolved
// against it, and a second Manager (another replica) sends with it.
func TestManagerCodesFromStore(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	srv := intercomtest.NewServer()
	t.Cleanup(srv.Close)
	newManager := func() *distribution.Manager {
		m, err := distribution.NewManager(distribution.Config{Store: postgres.New(pool), Intercom: srv.Client(), AdminID: srv.AdminID(), ManualDelay: 1})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := newManager()
	camp, err := first.CreateCampaign(ctx, distribution.Campaign{Name: "Welcome", Codes: []string{"W-1", "W-2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := postgres.NewCodes(pool, nil).Campaign(ctx, "Welcome"); err != nil || got.ID != camp.ID {
		t.Fatalf("the campaign in the database = %+v, %v; want %s", got, err, camp.ID)
	}
	if first.Campaigns() != nil {
		t.Errorf("Campaigns() = %p, want nil (no in-memory code source)", first.Campaigns())
	}
	srv.AddContact(intercom.Contact{ExternalID: "u1", Name: "Ann", Email: "ann@example.com", Role: intercom.RoleUser})
	ann, err := first.UpsertCustomer(ctx, customer.Customer{SourceID: "u1", Name: "Ann", Email: "ann@example.com"}, customer.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body := []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "code {{voucher.code}}"}}
	if _, err := first.CreateDistribution(ctx, distribution.Distribution{Name: "Bad", Audience: distribution.Audience{CustomerID: ann.ID},
		Campaign: "Nope", Channels: body}); !errors.Is(err, distribution.ErrNotFound) {
		t.Errorf("a distribution with an unknown campaign: %v, want ErrNotFound", err)
	}
	d, err := first.CreateDistribution(ctx, distribution.Distribution{Name: "Hi", Audience: distribution.Audience{CustomerID: ann.ID},
		Campaign: "Welcome", Channels: body})
	if err != nil {
		t.Fatal(err)
	}
	if d.Campaign != camp.ID {
		t.Errorf("distribution campaign = %q, want the name resolved to %s", d.Campaign, camp.ID)
	}

	second := newManager()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- second.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := second.Send(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the distribution to finish", func() bool {
		d, _ = second.Distribution(ctx, d.ID)
		return d.Status == distribution.StatusDone
	})
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].Body != "code W-1" {
		t.Errorf("messages = %+v, want one with W-1", msgs)
	}
}
