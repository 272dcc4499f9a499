package distribution_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/rewards"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

const rewardSecret = "rewards-client-secret"

// rewardsEnv is an env with a rewards app, a customer Jo (source_id
// cust-1) and her Intercom contact.
type rewardsEnv struct {
	*env
	app     *rewards.App
	contact intercom.Contact
	jo      customer.Customer
	camp    distribution.Campaign
}

func sorryReward(campaign string) distribution.Reward {
	return distribution.Reward{ID: "sorry", Name: "Sorry coupon", Label: "Complaint — high", Campaign: campaign,
		Message: "Sorry, {{customer.name}}! Use <b>{{voucher.code}}</b> ({{reward.label}})."}
}

func newRewardsEnv(t *testing.T, codes []string, edit func(*rewards.Config)) *rewardsEnv {
	t.Helper()
	return newRewardsEnvWith(t, codes, nil, edit)
}

// newRewardsEnvWith also tunes the Manager's Config.
func newRewardsEnvWith(t *testing.T, codes []string, mgr func(*distribution.Config), edit func(*rewards.Config)) *rewardsEnv {
	t.Helper()
	e := &rewardsEnv{env: newEnv(t)}
	if mgr != nil {
		e.start(mgr)
	}
	e.contact = e.srv.AddContact(intercom.Contact{ExternalID: "cust-1", Name: "Jo <Doe>", Email: "jo@example.com"})
	e.jo = e.customer(customer.Customer{SourceID: "cust-1", Name: "Jo <Doe>", Email: "jo@example.com"})
	e.camp = e.campaign(distribution.Campaign{Name: "Sorry", Codes: codes})
	cfg := rewards.Config{Secret: rewardSecret, Rewards: []distribution.Reward{sorryReward(e.camp.ID)}}
	if edit != nil {
		edit(&cfg)
	}
	app, err := rewards.New(e.m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.app = app
	return e
}

func (e *rewardsEnv) canvasApp() intercomtest.CanvasApp {
	return intercomtest.CanvasApp{Secret: rewardSecret, Initialize: e.app.InitializeHandler(), Submit: e.app.SubmitHandler(),
		MessengerInitialize: e.app.MessengerInitializeHandler()}
}

func (e *rewardsEnv) inbox() *intercomtest.Inbox {
	return e.srv.Inbox(e.canvasApp(), "524", e.contact)
}

// texts joins the text components (and button labels) of a canvas.
func texts(resp *intercom.CanvasResponse) string {
	var b strings.Builder
	if resp == nil || resp.Canvas == nil || resp.Canvas.Content == nil {
		return ""
	}
	for _, c := range resp.Canvas.Content.Components {
		switch c := c.(type) {
		case *intercom.TextComponent:
			b.WriteString(c.Text + "\n")
		case *intercom.ButtonComponent:
			b.WriteString("[" + c.ID + ": " + c.Label + "]\n")
		case *intercom.DropdownComponent:
			b.WriteString("<" + c.ID + ">\n")
		case *intercom.ListComponent:
			for _, it := range c.Items {
				b.WriteString("- " + it.ID + " " + it.Title + "\n")
			}
		}
	}
	return b.String()
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

func (e *rewardsEnv) publications() []distribution.Publication {
	e.t.Helper()
	pubs, err := e.codes.Publications(e.ctx, e.camp.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return pubs
}

func TestRewardsReply(t *testing.T) {
	t.Parallel()
	e := newRewardsEnv(t, []string{"SORRY-1", "SORRY-2"}, nil)
	in := e.inbox()
	resp, err := in.Initialize(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "initialize canvas", texts(resp), "Reward Jo <Doe>", "Customer cust-1 · jo@example.com", "Sorry coupon — Complaint — high", "[send:sorry: Send Sorry coupon]")
	if got := resp.Canvas.StoredData["customer_id"]; got != e.jo.ID {
		t.Errorf("stored customer_id %v, want %s", got, e.jo.ID)
	}
	if len(e.publications()) != 0 || len(e.srv.Replies()) != 0 {
		t.Fatal("initialize published or replied")
	}

	resp, err = in.Submit(e.ctx, "send:sorry", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Event == nil || resp.Event.Type != "completed" {
		t.Errorf("event %+v, want completed", resp.Event)
	}
	mustContain(t, "submit canvas", texts(resp), "Code: **SORRY-1**", "Sent as your reply")
	reps := e.srv.Replies()
	if len(reps) != 1 {
		t.Fatalf("%d replies, want 1", len(reps))
	}
	r := reps[0]
	if r.ConversationID != "524" || r.AdminID != e.srv.AdminID() || r.Note {
		t.Errorf("reply %+v", r)
	}
	if want := "Sorry, Jo &lt;Doe&gt;! Use <b>SORRY-1</b> (Complaint — high)."; r.Body != want {
		t.Errorf("reply body %q, want %q", r.Body, want)
	}
	dls := e.deliveries(distribution.DeliveryFilter{DistributionID: distribution.RewardDistributionID("sorry")})
	if len(dls) != 1 {
		t.Fatalf("%d deliveries, want 1", len(dls))
	}
	dl := dls[0]
	if dl.State != distribution.DeliverySent || dl.Code != "SORRY-1" || dl.CustomerID != e.jo.ID ||
		dl.TriggerKey != distribution.ConversationTrigger("524") || dl.Channel != distribution.RewardReplyChannel || dl.SentAt.IsZero() || dl.PublicationID == "" {
		t.Errorf("delivery %+v", dl)
	}
	pubs := e.publications()
	if len(pubs) != 1 || pubs[0].Metadata["conversation_id"] != "524" || pubs[0].DistributionID != "reward:sorry" {
		t.Errorf("publications %+v", pubs)
	}

	// A second click: no new code, no new reply.
	resp, err = in.Submit(e.ctx, "send:sorry", nil)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "second submit", texts(resp), "SORRY-1", "Already sent")
	if n := len(e.srv.Replies()); n != 1 {
		t.Errorf("%d replies after a double click", n)
	}
	if n := len(e.publications()); n != 1 {
		t.Errorf("%d publications after a double click", n)
	}
	// Reopening the app shows what was sent.
	resp, err = in.Submit(e.ctx, "back", nil)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "back", texts(resp), "Already sent in this conversation: Sorry coupon (SORRY-1)")

	// Another conversation is another reward occasion.
	in2 := e.srv.Inbox(e.canvasApp(), "525", e.contact)
	in2.ContactKey = "customer"
	if _, err := in2.Initialize(e.ctx); err != nil {
		t.Fatal(err)
	}
	if resp, err = in2.Submit(e.ctx, "send:sorry", nil); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "other conversation", texts(resp), "SORRY-2")
	if n := len(e.srv.Replies()); n != 2 {
		t.Errorf("%d replies, want 2", n)
	}
}

func TestRewardsDropdownAndList(t *testing.T) {
	t.Parallel()
	e := newRewardsEnv(t, []string{"A-1", "A-2"}, nil)
	gift := e.campaign(distribution.Campaign{Name: "Gift", Code: distribution.CodeConfig{Pattern: "GIFT-####"}})
	app, err := rewards.New(e.m, rewards.Config{Secret: rewardSecret, Rewards: []distribution.Reward{
		sorryReward(e.camp.ID),
		{ID: "gift", Name: "Gift card", Label: "Delay — low", Campaign: "Gift", Message: "A gift: {{voucher.code}} from {{campaign.name}}"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	in := e.srv.Inbox(intercomtest.CanvasApp{Secret: rewardSecret, Initialize: app.InitializeHandler(), Submit: app.SubmitHandler()}, "9", e.contact)
	resp, err := in.Initialize(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "initialize", texts(resp), "<reward>", "[send: Send reward]")
	if resp, err = in.Submit(e.ctx, "send", map[string]any{"reward": "gift"}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "submit", texts(resp), "Gift card for Jo <Doe>", "GIFT-")
	if reps := e.srv.Replies(); len(reps) != 1 || !strings.HasPrefix(reps[0].Body, "A gift: GIFT-") || !strings.HasSuffix(reps[0].Body, " from Gift") {
		t.Errorf("replies %+v", reps)
	}
	if pubs, _ := e.codes.Publications(e.ctx, gift.ID); len(pubs) != 1 {
		t.Errorf("gift publications %d", len(pubs))
	}

	// More than 10 rewards: a clickable list.
	var many []distribution.Reward
	for i := range 11 {
		r := sorryReward(e.camp.ID)
		r.ID, r.Name = "r"+string(rune('a'+i)), "Reward "+string(rune('A'+i))
		many = append(many, r)
	}
	app, err = rewards.New(e.m, rewards.Config{Secret: rewardSecret, Rewards: many})
	if err != nil {
		t.Fatal(err)
	}
	in = e.srv.Inbox(intercomtest.CanvasApp{Secret: rewardSecret, Initialize: app.InitializeHandler(), Submit: app.SubmitHandler()}, "10", e.contact)
	if resp, err = in.Initialize(e.ctx); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "list", texts(resp), "- send:ra Reward A", "- send:rk Reward K")
	if resp, err = in.Submit(e.ctx, "send:rk", nil); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "list submit", texts(resp), "Reward K for", "A-")
}

// Many simultaneous clicks (double clicks, two teammates) publish one
// code and post one reply.
func TestRewardsConcurrentSubmits(t *testing.T) {
	t.Parallel()
	e := newRewardsEnv(t, []string{"ONE", "TWO", "THREE"}, nil)
	var wg sync.WaitGroup
	const clicks = 8
	codes := make([]string, clicks)
	for i := range clicks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := e.inbox()
			if _, err := in.Initialize(e.ctx); err != nil {
				t.Error(err)
				return
			}
			resp, err := in.Submit(e.ctx, "send:sorry", nil)
			if err != nil {
				t.Error(err)
				return
			}
			codes[i] = texts(resp)
		}()
	}
	wg.Wait()
	if n := len(e.srv.Replies()); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}
	if n := len(e.publications()); n != 1 {
		t.Errorf("%d publications, want 1", n)
	}
	for _, c := range codes {
		if c != "" && strings.Contains(c, "TWO") {
			t.Errorf("a click got a second code:\n%s", c)
		}
	}
}

func TestRewardsCard(t *testing.T) {
	t.Parallel()
	e := newRewardsEnv(t, []string{"CARD-1"}, func(c *rewards.Config) { c.Delivery = distribution.RewardByCard })
	in := e.inbox()
	if _, err := in.Initialize(e.ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := in.Submit(e.ctx, "send:sorry", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Event == nil || resp.CardCreationOptions["delivery_id"] == nil {
		t.Errorf("response %+v: want completed and card_creation_options", resp)
	}
	mustContain(t, "teammate canvas", texts(resp), "CARD-1", "as a card")
	cards := e.srv.Cards()
	if len(cards) != 1 {
		t.Fatalf("%d cards, want 1", len(cards))
	}
	card := texts(&intercom.CanvasResponse{Canvas: &cards[0].Canvas})
	mustContain(t, "card", card, "Sorry, Jo <Doe>! Use **CARD-1** (Complaint — high).\n", "CARD-1\n")
	if n := len(e.srv.Replies()); n != 0 {
		t.Errorf("%d replies with card delivery", n)
	}
	dls := e.deliveries(distribution.DeliveryFilter{DistributionID: "reward:sorry"})
	if len(dls) != 1 || dls[0].State != distribution.DeliverySent || dls[0].Channel != distribution.RewardCardChannel {
		t.Errorf("deliveries %+v", dls)
	}
	// Clicking again adds no card and publishes nothing.
	if resp, err = in.Submit(e.ctx, "send:sorry", nil); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "second click", texts(resp), "Already sent")
	if resp.CardCreationOptions != nil || len(e.srv.Cards()) != 1 || len(e.publications()) != 1 {
		t.Errorf("second click: options %v, %d cards", resp.CardCreationOptions, len(e.srv.Cards()))
	}
	// A card request for another conversation, or an unknown delivery, shows nothing.
	for _, opts := range []struct {
		conv string
		id   any
	}{{"999", cards[0].CardCreationOptions["delivery_id"]}, {"524", "dlv_nope"}, {"524", nil}} {
		body := intercomtest.CanvasCall{CardCreationOptions: map[string]any{"delivery_id": opts.id},
			Context: &intercom.CanvasContext{ConversationID: opts.conv, Location: "conversation"}}.JSON()
		rec := httptest.NewRecorder()
		e.app.MessengerInitializeHandler().ServeHTTP(rec, intercomtest.CanvasRequest("/m", rewardSecret, body))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "not available") || strings.Contains(rec.Body.String(), "CARD-1") {
			t.Errorf("card for %v: %d %s", opts, rec.Code, rec.Body)
		}
	}
}

// A card Intercom never rendered can be inserted again, with the same code.
func TestRewardsCardResend(t *testing.T) {
	t.Parallel()
	e := newRewardsEnv(t, []string{"CARD-1", "CARD-2"}, func(c *rewards.Config) { c.Delivery = distribution.RewardByCard })
	app := e.canvasApp()
	app.MessengerInitialize = nil // Intercom does not call back
	in := e.srv.Inbox(app, "524", e.contact)
	if _, err := in.Initialize(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Submit(e.ctx, "send:sorry", nil); err == nil {
		t.Fatal("want an error: no Messenger initialize handler")
	}
	in.App = e.canvasApp()
	resp, err := in.Submit(e.ctx, "send:sorry", nil)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "pending card", texts(resp), "already added", "[resend:sorry: Insert the card again]")
	if resp.CardCreationOptions != nil || len(e.srv.Cards()) != 0 {
		t.Fatal("a plain click re-inserted the card")
	}
	if _, err = in.Submit(e.ctx, "resend:sorry", nil); err != nil {
		t.Fatal(err)
	}
	cards := e.srv.Cards()
	if len(cards) != 1 || !strings.Contains(texts(&intercom.CanvasResponse{Canvas: &cards[0].Canvas}), "CARD-1") || len(e.publications()) != 1 {
		t.Errorf("cards %+v, %d publications", cards, len(e.publications()))
	}
}

func TestRewardsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(e *rewardsEnv, cfg *rewards.Config)
		// contact overrides the conversation's contact
		contact *intercom.Contact
		want    []string
		// initWant, when set, is expected on the initialize canvas
		initWant []string
		state    distribution.DeliveryState // the ledger row left, "" for none
	}{
		{
			name:     "customer unknown",
			contact:  &intercom.Contact{ID: "6543", ExternalID: "stranger", Name: "Stranger"},
			initWant: []string{"Customer unknown", `Stranger is not a known customer (no customer with source_id "stranger"`},
		},
		{
			name: "unsubscribed",
			setup: func(e *rewardsEnv, cfg *rewards.Config) {
				jo := e.jo
				jo.Consents.Unsubscribed = true
				e.customer(jo)
			},
			initWant: []string{"No reward can be sent", "Not available: Sorry coupon: customer unsubscribed"},
			want:     []string{"Consent missing", "cannot receive Sorry coupon: customer unsubscribed. Nothing was sent."},
		},
		{
			name: "consent missing",
			setup: func(e *rewardsEnv, cfg *rewards.Config) {
				cs, err := e.m.CreateConsent(e.ctx, distribution.Consent{Name: "Coupons"})
				if err != nil {
					e.t.Fatal(err)
				}
				cfg.Rewards[0].Consents.Required = []string{cs.ID}
			},
			initWant: []string{`Sorry coupon: consent "Coupons" not granted`},
			want:     []string{"Consent missing", `consent "Coupons" not granted`},
		},
		{
			name: "no codes left",
			setup: func(e *rewardsEnv, cfg *rewards.Config) {
				if _, err := e.codes.Publish(e.ctx, distribution.PublishRequest{Key: "other", CampaignID: e.camp.ID, CustomerID: "someone"}); err != nil {
					e.t.Fatal(err)
				}
			},
			want: []string{"No codes left", "has no codes left. Nothing was sent."},
		},
		{
			name: "reply refused",
			setup: func(e *rewardsEnv, cfg *rewards.Config) {
				e.srv.Inject(intercomtest.Fault{Method: "POST", Path: "/conversations/524/reply", Status: 403})
			},
			want:  []string{"Reply failed", "CODE-1 could not be posted", "403"},
			state: distribution.DeliveryFailed,
		},
		{
			name: "reply outcome unknown",
			setup: func(e *rewardsEnv, cfg *rewards.Config) {
				e.srv.Inject(intercomtest.Fault{Method: "POST", Path: "/conversations/524/reply", Status: 503, AfterHandling: true})
			},
			want:  []string{"Reply may not have been sent", "Check the conversation"},
			state: distribution.DeliveryUnknown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newRewardsEnv(t, []string{"CODE-1"}, nil)
			cfg := rewards.Config{Secret: rewardSecret, Rewards: []distribution.Reward{sorryReward(e.camp.ID)}}
			if tt.setup != nil {
				tt.setup(e, &cfg)
			}
			app, err := rewards.New(e.m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			e.app = app
			in := e.inbox()
			if tt.contact != nil {
				in.Contact = *tt.contact
			}
			resp, err := in.Initialize(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			mustContain(t, "initialize", texts(resp), tt.initWant...)
			resp, err = in.Submit(e.ctx, "send:sorry", nil)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = tt.initWant
			}
			mustContain(t, "submit", texts(resp), want...)
			if resp.Event != nil {
				t.Errorf("event %+v on an error canvas", resp.Event)
			}
			reps := e.srv.Replies()
			if tt.state == distribution.DeliveryUnknown {
				if len(reps) != 1 { // the fault lets the reply through
					t.Errorf("%d replies", len(reps))
				}
			} else if len(reps) != 0 {
				t.Errorf("replies sent: %+v", reps)
			}
			dls := e.deliveries(distribution.DeliveryFilter{DistributionID: "reward:sorry"})
			switch {
			case tt.state == "" && len(dls) != 0:
				t.Errorf("ledger rows %+v", dls)
			case tt.state != "" && (len(dls) != 1 || dls[0].State != tt.state):
				t.Errorf("ledger rows %+v, want one %s", dls, tt.state)
			}
			if tt.state == "" {
				return
			}
			// Clicking again: a failed reply is retried with the same code,
			// an unknown one is never repeated.
			resp, err = in.Submit(e.ctx, "send:sorry", nil)
			if err != nil {
				t.Fatal(err)
			}
			reps = e.srv.Replies()
			if tt.state == distribution.DeliveryFailed {
				mustContain(t, "retry", texts(resp), "Code: **CODE-1**")
				if len(reps) != 1 || !strings.Contains(reps[0].Body, "CODE-1") {
					t.Errorf("retry replies %+v", reps)
				}
			} else {
				mustContain(t, "after unknown", texts(resp), "may have reached")
				if len(reps) != 1 {
					t.Errorf("unknown reply repeated: %+v", reps)
				}
			}
			if n := len(e.publications()); n != 1 {
				t.Errorf("%d publications", n)
			}
		})
	}
}

func TestRewardsCustomerResolution(t *testing.T) {
	t.Parallel()
	e := newRewardsEnv(t, []string{"R-1", "R-2", "R-3"}, nil)
	// A lead synced from Intercom (source_id intercom:<id>) and a customer
	// known only through the Intercom id in its metadata.
	lead := e.srv.AddContact(intercom.Contact{Role: intercom.RoleLead, Name: "Lee"})
	e.customer(intercom.ContactToCustomer(lead))
	meta := e.srv.AddContact(intercom.Contact{ExternalID: "crm-77", Name: "Mia"})
	e.customer(customer.Customer{SourceID: "shop-77", Name: "Mia", Metadata: customer.Metadata{intercom.MetaIntercomID: meta.ID}})
	for _, tt := range []struct {
		contact intercom.Contact
		key     string
		want    string
	}{
		{lead, "contact", "Reward Lee"},
		{meta, "customer", "Reward Mia"},
		{meta, "contact", "Reward Mia"}, // cached
		{e.contact, "customer", "Reward Jo"},
	} {
		in := e.srv.Inbox(e.canvasApp(), "77", tt.contact)
		in.ContactKey = tt.key
		resp, err := in.Initialize(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, tt.contact.Name, texts(resp), tt.want)
	}
}

func TestRewardsSignature(t *testing.T) {
	t.Parallel()
	e := newRewardsEnv(t, []string{"S-1"}, nil)
	body := intercomtest.CanvasCall{Admin: &intercom.Admin{ID: e.srv.AdminID()}, ConversationID: "524", Contact: &e.contact, ComponentID: "send:sorry",
		CurrentCanvas: &intercom.Canvas{Content: &intercom.CanvasContent{}}}.JSON()
	for name, req := range map[string]func() *httptest.ResponseRecorder{
		"unsigned": func() *httptest.ResponseRecorder {
			r := intercomtest.CanvasRequest("/submit", rewardSecret, body)
			r.Header.Del(intercom.CanvasSignatureHeader)
			rec := httptest.NewRecorder()
			e.app.SubmitHandler().ServeHTTP(rec, r)
			return rec
		},
		"other secret": func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			e.app.SubmitHandler().ServeHTTP(rec, intercomtest.CanvasRequest("/submit", "guess", body))
			return rec
		},
	} {
		if rec := req(); rec.Code != 401 {
			t.Errorf("%s: status %d", name, rec.Code)
		}
	}
	if len(e.publications()) != 0 || len(e.srv.Replies()) != 0 {
		t.Error("an unsigned submit published or replied")
	}
	rec := httptest.NewRecorder()
	e.app.SubmitHandler().ServeHTTP(rec, intercomtest.CanvasRequest("/submit", rewardSecret, body))
	if rec.Code != 200 || len(e.srv.Replies()) != 1 {
		t.Errorf("signed submit: %d %s, %d replies", rec.Code, rec.Body, len(e.srv.Replies()))
	}
}

func TestRewardsConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	camp := e.campaign(distribution.Campaign{Name: "C", Count: 2, Code: distribution.CodeConfig{Pattern: "X-####"}})
	ok := sorryReward(camp.ID)
	tests := []struct {
		name string
		cfg  rewards.Config
		want string
	}{
		{"no secret", rewards.Config{Rewards: []distribution.Reward{ok}}, "Config.Secret"},
		{"no rewards", rewards.Config{Secret: "s"}, "Config.Rewards: at least one"},
		{"bad id", rewards.Config{Secret: "s", Rewards: []distribution.Reward{func() distribution.Reward { r := ok; r.ID = "a b"; return r }()}}, "Rewards[0].ID"},
		{"duplicate id", rewards.Config{Secret: "s", Rewards: []distribution.Reward{ok, ok}}, `Rewards[1].ID: "sorry" is used twice`},
		{"no name", rewards.Config{Secret: "s", Rewards: []distribution.Reward{func() distribution.Reward { r := ok; r.Name = " "; return r }()}}, "Rewards[0].Name"},
		{"unknown campaign", rewards.Config{Secret: "s", Rewards: []distribution.Reward{func() distribution.Reward { r := ok; r.Campaign = "nope"; return r }()}}, "Rewards[0].Campaign"},
		{"bad template", rewards.Config{Secret: "s", Rewards: []distribution.Reward{func() distribution.Reward { r := ok; r.Message = "{{customer.nam}}"; return r }()}}, "Rewards[0].Message: line 1, column"},
		{"bad delivery", rewards.Config{Secret: "s", Delivery: "fax", Rewards: []distribution.Reward{ok}}, "Config.Delivery"},
	}
	for _, tt := range tests {
		_, err := rewards.New(e.m, tt.cfg)
		if err == nil || !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalid naming %q", tt.name, err, tt.want)
		}
	}
	// Without Intercom, a reply reward needs a Replier; a card reward does not.
	m, err := distribution.NewManager(distribution.Config{Store: e.st, Codes: e.codes})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rewards.New(m, rewards.Config{Secret: "s", Rewards: []distribution.Reward{ok}}); err == nil || !strings.Contains(err.Error(), "Replier") {
		t.Errorf("no replier: %v", err)
	}
	if _, err := rewards.New(m, rewards.Config{Secret: "s", Delivery: distribution.RewardByCard, Rewards: []distribution.Reward{ok}}); err != nil {
		t.Errorf("card without replier: %v", err)
	}
	var _ distribution.Replier = replierFunc(nil)
}

type replierFunc func(ctx context.Context, conv string, r intercom.Reply) error

func (f replierFunc) ReplyToConversation(ctx context.Context, conv string, r intercom.Reply) error {
	return f(ctx, conv, r)
}

// Every verified Canvas Kit request counts against the API limit; over
// it the teammate sees why and nothing is published or sent.
func TestRewardsLimit(t *testing.T) {
	t.Parallel()
	t.Run("card flow", func(t *testing.T) {
		t.Parallel()
		e := newRewardsEnvWith(t, []string{"L-1", "L-2"}, func(c *distribution.Config) { c.Limits.API.Max = 3 },
			func(c *rewards.Config) { c.Delivery = distribution.RewardByCard })
		// An unsigned request is refused before it is counted.
		rec := httptest.NewRecorder()
		e.app.InitializeHandler().ServeHTTP(rec, intercomtest.CanvasRequest("/i", "wrong", []byte(`{}`)))
		if rec.Code != 401 {
			t.Fatalf("unsigned: %d", rec.Code)
		}
		in := e.inbox()
		if _, err := in.Initialize(e.ctx); err != nil { // 1
			t.Fatal(err)
		}
		if _, err := in.Submit(e.ctx, "send:sorry", nil); err != nil { // 2, and the Messenger initialize 3
			t.Fatal(err)
		}
		if n := len(e.srv.Cards()); n != 1 {
			t.Fatalf("%d cards", n)
		}
		u, err := e.m.Usage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if u.API.Used != 3 || u.API.Remaining != 0 {
			t.Errorf("API usage %+v, want 3 used", u.API)
		}
		resp, err := in.Initialize(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, "over the limit", texts(resp), "Limit reached", "API limit")
		if u, _ = e.m.Usage(e.ctx); u.API.Used != 3 || u.API.Rejected != 1 {
			t.Errorf("API usage %+v, want 3 used, 1 rejected", u.API)
		}
	})
	t.Run("reply flow", func(t *testing.T) {
		t.Parallel()
		e := newRewardsEnvWith(t, []string{"L-1"}, func(c *distribution.Config) { c.Limits.API.Max = 1 }, nil)
		in := e.inbox()
		if _, err := in.Initialize(e.ctx); err != nil {
			t.Fatal(err)
		}
		resp, err := in.Submit(e.ctx, "send:sorry", nil)
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, "submit over the limit", texts(resp), "Limit reached")
		if resp.Event != nil || len(e.srv.Replies()) != 0 || len(e.publications()) != 0 ||
			len(e.deliveries(distribution.DeliveryFilter{DistributionID: "reward:sorry"})) != 0 {
			t.Errorf("something was sent over the limit: event %v, replies %v", resp.Event, e.srv.Replies())
		}
	})
}

// barrierStore holds every reader of a scheduled delivery until two have
// read it, so two clicks race for the same ledger row.
type barrierStore struct {
	distribution.ManagerStore
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func (b *barrierStore) GetDelivery(ctx context.Context, id string) (distribution.Delivery, error) {
	dl, err := b.ManagerStore.GetDelivery(ctx, id)
	if err != nil || dl.State != distribution.DeliveryScheduled {
		return dl, err
	}
	b.mu.Lock()
	b.waiting++
	if b.waiting == 2 {
		close(b.release)
	}
	ch := b.release
	b.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
	}
	return dl, nil
}

// Two clicks that both read the row before either claims it: the ledger's
// compare-and-set lets one reply.
func TestRewardsRacingClicks(t *testing.T) {
	t.Parallel()
	bs := &barrierStore{release: make(chan struct{})}
	e := newRewardsEnvWith(t, []string{"ONE", "TWO"}, func(c *distribution.Config) {
		bs.ManagerStore = c.Store
		c.Store = bs
	}, nil)
	var wg sync.WaitGroup
	out := make([]string, 2)
	for i := range 2 {
		in := e.inbox()
		if _, err := in.Initialize(e.ctx); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := in.Submit(e.ctx, "send:sorry", nil)
			if err != nil {
				t.Error(err)
				return
			}
			out[i] = texts(resp)
		}()
	}
	wg.Wait()
	if n := len(e.srv.Replies()); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}
	if n := len(e.publications()); n != 1 {
		t.Errorf("%d publications, want 1", n)
	}
	joined := out[0] + out[1]
	mustContain(t, "canvases", joined, "Code: **ONE**")
	if !strings.Contains(joined, "Being sent") && !strings.Contains(joined, "Already sent") {
		t.Errorf("the losing click says neither being nor already sent:\n%s", joined)
	}
}

// A reply caught mid-send by a crash shows as being sent, and after twice
// the send timeout as possibly sent: it is never posted again.
func TestRewardsInterruptedReply(t *testing.T) {
	t.Parallel()
	e := newRewardsEnv(t, []string{"I-1"}, nil)
	k := distribution.DeliveryKey{DistributionID: distribution.RewardDistributionID("sorry"), CustomerID: e.jo.ID,
		TriggerKey: distribution.ConversationTrigger("524"), Channel: distribution.RewardReplyChannel}
	now := e.clk.Now()
	if _, err := e.st.InsertDeliveries(e.ctx, []distribution.Delivery{{ID: distribution.DeliveryID(k), DistributionID: k.DistributionID,
		CustomerID: k.CustomerID, TriggerKey: k.TriggerKey, Channel: k.Channel, State: distribution.DeliverySending, Code: "I-1",
		Attempts: 1, CreatedAt: now, UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	in := e.inbox()
	if _, err := in.Initialize(e.ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := in.Submit(e.ctx, "send:sorry", nil)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "in flight", texts(resp), "Being sent", "I-1")
	e.clk.Advance(interruptBound + time.Second) // the crash rule of every delivery (Config.InterruptAfter)
	if resp, err = in.Submit(e.ctx, "send:sorry", nil); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "stale", texts(resp), "may have reached", distribution.ReasonInterrupted)
	dl, err := e.st.GetDelivery(e.ctx, distribution.DeliveryID(k))
	if err != nil || dl.State != distribution.DeliveryUnknown {
		t.Errorf("delivery %+v, %v; want unknown", dl, err)
	}
	if n := len(e.srv.Replies()); n != 0 {
		t.Errorf("%d replies", n)
	}
}

// Without a contact in the request, the customer the app stored in the
// canvas is used; without either, the teammate is told.
func TestRewardsStoredCustomer(t *testing.T) {
	t.Parallel()
	e := newRewardsEnv(t, []string{"ST-1"}, nil)
	submit := func(stored map[string]any) string {
		t.Helper()
		body := intercomtest.CanvasCall{Admin: &intercom.Admin{ID: e.srv.AdminID()}, ConversationID: "524", ComponentID: "send:sorry",
			CurrentCanvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{&intercom.DividerComponent{}}}, StoredData: stored}}.JSON()
		rec := httptest.NewRecorder()
		e.app.SubmitHandler().ServeHTTP(rec, intercomtest.CanvasRequest("/submit", rewardSecret, body))
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	if got := submit(nil); !strings.Contains(got, "Customer unknown") || !strings.Contains(got, "no contact") {
		t.Errorf("no contact, no stored data: %s", got)
	}
	if got := submit(map[string]any{"customer_id": "cus_gone"}); !strings.Contains(got, "Customer unknown") {
		t.Errorf("stored customer deleted: %s", got)
	}
	if n := len(e.srv.Replies()); n != 0 {
		t.Fatalf("%d replies for an unknown customer", n)
	}
	if got := submit(map[string]any{"customer_id": e.jo.ID}); !strings.Contains(got, "ST-1") {
		t.Errorf("stored customer: %s", got)
	}
	if reps := e.srv.Replies(); len(reps) != 1 || !strings.Contains(reps[0].Body, "ST-1") {
		t.Errorf("replies %+v", reps)
	}
	// A contact without external id that is no customer.
	in := e.srv.Inbox(e.canvasApp(), "600", intercom.Contact{ID: "lead-9", Role: intercom.RoleLead, Email: "x@example.com"})
	resp, err := in.Initialize(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "lead", texts(resp), `x@example.com is not a known customer (no external id, and no customer with Intercom id "lead-9")`)
}
