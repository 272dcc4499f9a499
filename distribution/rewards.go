package distribution

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/internal/tmpl"
)

// Replier posts a conversation reply as a teammate (POST
// /conversations/{id}/reply). *intercom.Client implements it.
// Implementations must be safe for concurrent use; an error matching
// intercom.ErrAmbiguous means the reply may have been posted.
type Replier interface {
	ReplyToConversation(ctx context.Context, conversationID string, r intercom.Reply) error
}

var _ Replier = (*intercom.Client)(nil)

// RewardDelivery says how a reward's code reaches the customer.
type RewardDelivery string

// The reward deliveries.
const (
	// RewardByReply posts the rendered message as the teammate's reply in
	// the conversation (the default).
	RewardByReply RewardDelivery = "reply"
	// RewardByCard answers the teammate's submit with
	// card_creation_options: Intercom then calls the Messenger initialize
	// URL and inserts the card showing the code into the conversation.
	// The app needs the Messenger ("Within conversations") capability too.
	RewardByCard RewardDelivery = "card"
)

// Ledger channel names of reward deliveries.
const (
	RewardReplyChannel = "intercom_reply"
	RewardCardChannel  = "intercom_card"
)

// RewardDistributionID is the Delivery.DistributionID (and
// Publication.DistributionID) of the deliveries of reward rewardID:
// "reward:" + rewardID. List them with
// m.Deliveries(ctx, DeliveryFilter{DistributionID: RewardDistributionID(id)}).
func RewardDistributionID(rewardID string) string { return "reward:" + rewardID }

// ConversationTrigger is the Delivery.TriggerKey of a reward sent in
// conversation conversationID: "conversation:" + conversationID. One
// customer gets at most one code per reward and conversation.
func ConversationTrigger(conversationID string) string { return "conversation:" + conversationID }

// Reward is a predefined reward a teammate sends from a conversation.
type Reward struct {
	// ID identifies the reward in the ledger and the idempotency key
	// (letters, digits, '-', '_' and '.', at most 64). Required, unique,
	// keep it stable.
	ID string
	// Name is shown to the teammate ("Sorry coupon"). Required.
	Name string
	// Label is the priority or reason ("Complaint — high").
	Label string
	// Campaign is the campaign (id, or name for the built-in Campaigns)
	// codes come from. Required.
	Campaign string
	// Message is the template of what the customer gets: the reply body
	// (HTML; values are HTML-escaped) or the card's text. It may use the
	// distribution tags ({{customer.name}}, {{voucher.code}},
	// {{campaign.name}}, ...) and {{reward.name}}, {{reward.label}}.
	// Required.
	Message string
	// Consents is the consent policy the customer must satisfy (default:
	// not unsubscribed).
	Consents ConsentPolicy
	// Delivery overrides RewardsConfig.Delivery for this reward.
	Delivery RewardDelivery
}

// RewardsConfig configures a RewardsApp. Zero values are documented
// defaults.
type RewardsConfig struct {
	// Secret is the Intercom app's client secret: every request's
	// X-Body-Signature is checked with it. Required.
	Secret string
	// Rewards are the rewards teammates may send (at least one).
	Rewards []Reward
	// Delivery is how codes reach customers; default RewardByReply.
	Delivery RewardDelivery
	// Replier posts replies (RewardByReply). Default: the Manager's
	// Config.Intercom when it implements Replier (*intercom.Client does).
	Replier Replier
	// MaxBodyBytes bounds a request body; default
	// intercom.DefaultCanvasMaxBody.
	MaxBodyBytes int64
	// Logger receives the app's log; default: the Manager's.
	Logger *slog.Logger
}

// RewardsApp is the Rewards Canvas Kit app: a teammate picks a predefined
// reward in a conversation and the customer gets a unique code, as a reply
// or a Messenger card. Codes come from the Manager's code source and each
// send is a Delivery in the Manager's ledger (see RewardDistributionID),
// so one customer never gets two codes for one reward in one conversation,
// however often the teammate clicks.
//
// Every request is checked against X-Body-Signature before anything else
// (missing or bad: 401) and counted against the API limit
// (Manager.CountInbound); errors a teammate can act on (customer unknown,
// consent missing, no codes left, limit reached, reply failed) are shown
// as a canvas and send nothing. Safe for concurrent use.
//
// A reply caught mid-send by a crash stays "being sent" for twice
// Config.SendTimeout and then becomes unknown (it may have been posted):
// like any unknown delivery it is never repeated automatically.
//
// The conversation's contact is found by external id (= source_id), by
// the source id "intercom:<id>" of a synced contact without one, and last
// by the Intercom id in metadata (intercom.MetaIntercomID): that last
// lookup reads every customer once per contact (then cached), so hosts
// with many customers should sync contacts (intercom.SyncContacts) or set
// source_id to the external id.
type RewardsApp struct {
	m       *Manager
	log     *slog.Logger
	rewards []*rewardDef
	byID    map[string]*rewardDef
	replier Replier

	initH, submitH, messengerH *intercom.CanvasHandler

	mu       sync.Mutex
	byIntcID map[string]string // Intercom contact id -> customer id (metadata scan cache)
}

type rewardDef struct {
	Reward
	msg *tmpl.Template
}

var rewardIDRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// rewardTags are the template tags of a reward message.
func rewardTags(path string) bool {
	return baseTags(path) || path == "reward.name" || path == "reward.label"
}

// RewardsApp checks cfg and returns the Rewards app. Errors wrap
// ErrInvalid and name the field ("RewardsConfig.Rewards[1].Message: ...").
func (m *Manager) RewardsApp(cfg RewardsConfig) (*RewardsApp, error) {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("distribution: RewardsConfig.%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalid)
	}
	if cfg.Secret == "" {
		return nil, bad("Secret", "required (the Intercom app's client secret)")
	}
	if len(cfg.Rewards) == 0 {
		return nil, bad("Rewards", "at least one reward is required")
	}
	switch cfg.Delivery {
	case "":
		cfg.Delivery = RewardByReply
	case RewardByReply, RewardByCard:
	default:
		return nil, bad("Delivery", "%q is not %q or %q", cfg.Delivery, RewardByReply, RewardByCard)
	}
	a := &RewardsApp{m: m, log: cfg.Logger, byID: map[string]*rewardDef{}, replier: cfg.Replier, byIntcID: map[string]string{}}
	if a.log == nil {
		a.log = m.log
	}
	if a.replier == nil {
		a.replier = m.intercomReplier()
	}
	for i, r := range cfg.Rewards {
		field := fmt.Sprintf("Rewards[%d]", i)
		r.Name, r.Label, r.Campaign = strings.TrimSpace(r.Name), strings.TrimSpace(r.Label), strings.TrimSpace(r.Campaign)
		switch {
		case !rewardIDRe.MatchString(r.ID):
			return nil, bad(field+".ID", "%q must be 1 to 64 letters, digits, '-', '_' or '.'", r.ID)
		case a.byID[r.ID] != nil:
			return nil, bad(field+".ID", "%q is used twice", r.ID)
		case r.Name == "":
			return nil, bad(field+".Name", "required")
		case r.Campaign == "":
			return nil, bad(field+".Campaign", "required (the campaign codes come from)")
		case strings.TrimSpace(r.Message) == "":
			return nil, bad(field+".Message", "required")
		}
		switch r.Delivery {
		case "":
			r.Delivery = cfg.Delivery
		case RewardByReply, RewardByCard:
		default:
			return nil, bad(field+".Delivery", "%q is not %q or %q", r.Delivery, RewardByReply, RewardByCard)
		}
		if r.Delivery == RewardByReply && a.replier == nil {
			return nil, bad("Replier", "required to deliver %s by reply (or set Config.Intercom to an *intercom.Client)", r.ID)
		}
		msg, err := tmpl.Parse(r.Message, rewardTags)
		if err != nil {
			return nil, bad(field+".Message", "%v", err)
		}
		if m.campaigns != nil {
			if _, err := m.campaigns.Campaign(context.Background(), r.Campaign); err != nil {
				return nil, bad(field+".Campaign", "%v", err)
			}
		}
		d := &rewardDef{Reward: r, msg: msg}
		a.rewards = append(a.rewards, d)
		a.byID[r.ID] = d
	}
	hc := intercom.CanvasHandlerConfig{Secret: cfg.Secret, MaxBodyBytes: cfg.MaxBodyBytes, Logger: a.log}
	var err error
	if a.initH, err = intercom.NewCanvasHandler(hc, a.initialize); err != nil {
		return nil, err
	}
	if a.submitH, err = intercom.NewCanvasHandler(hc, a.submit); err != nil {
		return nil, err
	}
	if a.messengerH, err = intercom.NewCanvasHandler(hc, a.messengerInitialize); err != nil {
		return nil, err
	}
	return a, nil
}

// intercomReplier is Config.Intercom when it can reply, else nil.
func (m *Manager) intercomReplier() Replier {
	if ch, ok := m.channels[IntercomInApp].(*intercomChannel); ok {
		if r, ok := ch.ic.ms.(Replier); ok {
			return r
		}
	}
	return nil
}

// InitializeHandler serves the Inbox "Initialize flow webhook URL": it
// shows the conversation's customer and the rewards they may receive.
func (a *RewardsApp) InitializeHandler() http.Handler { return a.initH }

// SubmitHandler serves the Inbox "Submit flow webhook URL": it publishes
// the chosen reward's code and delivers it.
func (a *RewardsApp) SubmitHandler() http.Handler { return a.submitH }

// MessengerInitializeHandler serves the Messenger "Initialize flow
// webhook URL": it renders the customer's card for RewardByCard.
func (a *RewardsApp) MessengerInitializeHandler() http.Handler { return a.messengerH }

// Component ids of the app's canvases.
const (
	rewardPicker   = "reward"  // dropdown of rewards
	rewardSend     = "send"    // button sending the dropdown's reward
	rewardSendPfx  = "send:"   // button or list item sending one reward
	rewardResend   = "resend:" // insert a card again (same code)
	rewardBack     = "back"    // back to the picker
	storedCustomer = "customer_id"
)

// count meters an inbound request; a canvas when the cap is reached.
func (a *RewardsApp) count(ctx context.Context) (*intercom.CanvasResponse, error) {
	err := a.m.CountInbound(ctx)
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, ErrLimitExceeded):
		a.log.WarnContext(ctx, "rewards: API limit reached", "err", err)
		return errorCanvas("Limit reached", "The API limit for calls from Intercom is reached, so no reward can be sent now. "+err.Error(), false), nil
	default:
		return nil, err
	}
}

func (a *RewardsApp) initialize(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
	if resp, err := a.count(ctx); resp != nil || err != nil {
		return resp, err
	}
	return a.picker(ctx, req, "")
}

// picker shows the customer and the rewards they may receive; note, when
// set, is shown above them.
func (a *RewardsApp) picker(ctx context.Context, req *intercom.CanvasRequest, note string) (*intercom.CanvasResponse, error) {
	c, resp, err := a.customerOf(ctx, req)
	if resp != nil || err != nil {
		return resp, err
	}
	comps := []intercom.Component{
		&intercom.TextComponent{Text: "Reward " + displayName(&c), Style: "header"},
		&intercom.TextComponent{Text: customerLine(&c), Style: "muted"},
	}
	if note != "" {
		comps = append(comps, &intercom.TextComponent{Text: note, Style: "error"})
	}
	var eligible []*rewardDef
	var refused []string
	for _, r := range a.rewards {
		if why := a.consentProblem(ctx, r, &c); why != "" {
			refused = append(refused, r.Name+": "+why)
			continue
		}
		eligible = append(eligible, r)
	}
	if conv := req.ConversationID(); conv != "" {
		var sent []string
		for _, r := range a.rewards {
			dl, err := a.m.store.GetDelivery(ctx, DeliveryID(a.key(r, c.ID, conv)))
			if err == nil && dl.Code != "" && (dl.State == DeliverySent || dl.State == DeliverySending) {
				sent = append(sent, fmt.Sprintf("%s (%s)", r.Name, dl.Code))
			}
		}
		if len(sent) > 0 {
			comps = append(comps, &intercom.TextComponent{Text: "Already sent in this conversation: " + strings.Join(sent, ", "), Style: "muted"})
		}
	}
	comps = append(comps, &intercom.DividerComponent{})
	switch n := len(eligible); {
	case n == 0:
		comps = append(comps, &intercom.TextComponent{Text: "No reward can be sent to this customer.", Style: "error"})
	case n == 1:
		r := eligible[0]
		comps = append(comps,
			&intercom.TextComponent{Text: rewardTitle(r)},
			&intercom.ButtonComponent{ID: rewardSendPfx + r.ID, Label: "Send " + r.Name, Action: intercom.Submit()})
	case n <= intercom.MaxSelectOptions:
		opts := make([]intercom.SelectOption, n)
		for i, r := range eligible {
			opts[i] = intercom.SelectOption{ID: r.ID, Text: rewardTitle(r)}
		}
		comps = append(comps,
			&intercom.DropdownComponent{ID: rewardPicker, Label: "Reward", Options: opts, Value: opts[0].ID},
			&intercom.ButtonComponent{ID: rewardSend, Label: "Send reward", Action: intercom.Submit()})
	default:
		items := make([]intercom.ListItem, n)
		for i, r := range eligible {
			items[i] = intercom.ListItem{ID: rewardSendPfx + r.ID, Title: r.Name, Subtitle: r.Label, Action: intercom.Submit()}
		}
		comps = append(comps, &intercom.ListComponent{Items: items})
	}
	if len(refused) > 0 {
		comps = append(comps, &intercom.SpacerComponent{Size: "s"},
			&intercom.TextComponent{Text: "Not available: " + strings.Join(refused, "; "), Style: "muted"})
	}
	return &intercom.CanvasResponse{Canvas: &intercom.Canvas{
		Content:    &intercom.Content{Components: comps},
		StoredData: map[string]any{storedCustomer: c.ID},
	}}, nil
}

func rewardTitle(r *rewardDef) string {
	if r.Label == "" {
		return r.Name
	}
	return r.Name + " — " + r.Label
}

func displayName(c *customer.Customer) string {
	for _, s := range []string{c.Name, c.Email, c.SourceID, c.ID} {
		if s != "" {
			return s
		}
	}
	return "customer"
}

func customerLine(c *customer.Customer) string {
	parts := []string{"Customer " + c.SourceID}
	if c.SourceID == "" {
		parts[0] = "Customer " + c.ID
	}
	if c.Email != "" {
		parts = append(parts, c.Email)
	}
	return strings.Join(parts, " · ")
}

// key is the ledger key of reward r for customer custID in conversation conv.
func (a *RewardsApp) key(r *rewardDef, custID, conv string) DeliveryKey {
	ch := RewardReplyChannel
	if r.Delivery == RewardByCard {
		ch = RewardCardChannel
	}
	return DeliveryKey{RewardDistributionID(r.ID), custID, ConversationTrigger(conv), ch}
}

// consentProblem says, for the teammate, why c may not receive r ("" if
// it may).
func (a *RewardsApp) consentProblem(ctx context.Context, r *rewardDef, c *customer.Customer) string {
	d := Distribution{Consents: r.Consents}
	why := a.m.consentSkip(ctx, &d, c)
	if id, ok := strings.CutPrefix(why, ReasonConsentMissing+": "); ok {
		if cs, err := a.m.store.GetConsent(ctx, id); err == nil {
			return fmt.Sprintf("consent %q not granted", cs.Name)
		}
	}
	return why
}

// customerOf resolves the request's contact to a customer: by external id
// (= source_id), by the "intercom:<id>" source id of a contact without
// one, or by the Intercom id a contacts sync keeps in metadata
// (intercom.MetaIntercomID); else by the customer id the app stored in the
// canvas. A canvas explains an unknown customer.
func (a *RewardsApp) customerOf(ctx context.Context, req *intercom.CanvasRequest) (customer.Customer, *intercom.CanvasResponse, error) {
	ct := req.Contact
	if ct == nil {
		ct = req.User
	}
	if ct != nil {
		c, err := a.findContact(ctx, ct)
		if err == nil {
			return c, nil, nil
		}
		if !errors.Is(err, customer.ErrNotFound) {
			return customer.Customer{}, nil, err
		}
		who := ct.Name
		if who == "" {
			who = ct.Email
		}
		if who == "" {
			who = "contact " + ct.ID
		}
		msg := fmt.Sprintf("%s is not a known customer (no customer with source_id %q or Intercom id %q). Import or sync the customer first.", who, ct.ExternalID, ct.ID)
		if ct.ExternalID == "" {
			msg = fmt.Sprintf("%s is not a known customer (no external id, and no customer with Intercom id %q). Import or sync the customer first.", who, ct.ID)
		}
		return customer.Customer{}, errorCanvas("Customer unknown", msg, false), nil
	}
	if id, _ := req.StoredData[storedCustomer].(string); id != "" {
		c, err := a.m.store.GetCustomer(ctx, id)
		if err == nil {
			return c, nil, nil
		}
		if !errors.Is(err, customer.ErrNotFound) {
			return customer.Customer{}, nil, err
		}
	}
	return customer.Customer{}, errorCanvas("Customer unknown", "This conversation has no contact that is a known customer.", false), nil
}

func (a *RewardsApp) findContact(ctx context.Context, ct *intercom.Contact) (customer.Customer, error) {
	if ct.ExternalID != "" {
		c, err := a.m.store.GetCustomer(ctx, ct.ExternalID)
		if !errors.Is(err, customer.ErrNotFound) {
			return c, err
		}
	}
	if ct.ID == "" {
		return customer.Customer{}, fmt.Errorf("contact without id: %w", customer.ErrNotFound)
	}
	c, err := a.m.store.GetCustomer(ctx, intercom.ContactSourcePrefix+ct.ID)
	if !errors.Is(err, customer.ErrNotFound) {
		return c, err
	}
	// The Intercom id a contacts sync keeps in metadata: cached, else a
	// scan of the customers (once per contact).
	a.mu.Lock()
	cached := a.byIntcID[ct.ID]
	a.mu.Unlock()
	if cached != "" {
		c, err := a.m.store.GetCustomer(ctx, cached)
		if err == nil && c.Metadata[intercom.MetaIntercomID] == ct.ID {
			return c, nil
		}
		if err != nil && !errors.Is(err, customer.ErrNotFound) {
			return c, err
		}
	}
	for c, err := range a.m.store.Customers(ctx, customer.ListOptions{}) {
		if err != nil {
			return customer.Customer{}, err
		}
		if id, _ := c.Metadata[intercom.MetaIntercomID].(string); id == ct.ID {
			a.mu.Lock()
			a.byIntcID[ct.ID] = c.ID
			a.mu.Unlock()
			return a.m.store.GetCustomer(ctx, c.ID) // a copy of our own
		}
	}
	return customer.Customer{}, fmt.Errorf("contact %s: %w", ct.ID, customer.ErrNotFound)
}

func errorCanvas(title, msg string, back bool) *intercom.CanvasResponse {
	comps := []intercom.Component{
		&intercom.TextComponent{Text: title, Style: "header"},
		&intercom.TextComponent{Text: msg, Style: "error"},
	}
	if back {
		comps = append(comps, &intercom.ButtonComponent{ID: rewardBack, Label: "Back", Action: intercom.Submit(), Style: "secondary"})
	}
	return &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.Content{Components: comps}}}
}

func (a *RewardsApp) submit(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
	if resp, err := a.count(ctx); resp != nil || err != nil {
		return resp, err
	}
	var rewardID string
	resend := false
	switch id := req.ComponentID; {
	case id == rewardBack:
		return a.picker(ctx, req, "")
	case id == rewardSend:
		rewardID = req.Input(rewardPicker)
	case strings.HasPrefix(id, rewardSendPfx):
		rewardID = strings.TrimPrefix(id, rewardSendPfx)
	case strings.HasPrefix(id, rewardResend):
		rewardID, resend = strings.TrimPrefix(id, rewardResend), true
	default:
		return errorCanvas("Cannot send", fmt.Sprintf("Unknown action %q.", id), true), nil
	}
	r := a.byID[rewardID]
	if r == nil {
		return errorCanvas("Cannot send", fmt.Sprintf("There is no reward %q (pick one of the list).", rewardID), true), nil
	}
	c, resp, err := a.customerOf(ctx, req)
	if resp != nil || err != nil {
		return resp, err
	}
	conv := req.ConversationID()
	if conv == "" {
		return errorCanvas("Cannot send", "The request names no conversation.", false), nil
	}
	adminID := a.m.adminID
	if req.Admin != nil && req.Admin.ID != "" {
		adminID = req.Admin.ID
	}
	if r.Delivery == RewardByReply && adminID == "" {
		return errorCanvas("Cannot send", "The request names no teammate to reply as.", false), nil
	}
	if why := a.consentProblem(ctx, r, &c); why != "" {
		return errorCanvas("Consent missing", fmt.Sprintf("%s cannot receive %s: %s. Nothing was sent.", displayName(&c), r.Name, why), true), nil
	}
	// Replies and ledger writes finish even if Intercom hangs up.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.m.sendTimeout)
	defer cancel()
	return a.send(wctx, r, &c, conv, adminID, resend)
}

// send publishes r's code for c in conv (idempotent) and delivers it
// through the ledger: a row found sent, sending or unknown is never sent
// again; a failed one is retried with the same code.
func (a *RewardsApp) send(ctx context.Context, r *rewardDef, c *customer.Customer, conv, adminID string, resend bool) (*intercom.CanvasResponse, error) {
	k := a.key(r, c.ID, conv)
	id := DeliveryID(k)
	dl, err := a.m.store.GetDelivery(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		pub, err := a.m.codes.Publish(ctx, PublishRequest{
			Key:            publicationKey(k.DistributionID, c.ID, k.TriggerKey),
			CampaignID:     r.Campaign,
			CustomerID:     c.ID,
			DistributionID: k.DistributionID,
			Channel:        k.Channel,
			Metadata:       map[string]any{"conversation_id": conv, "admin_id": adminID, "reward": r.ID},
		})
		if errors.Is(err, ErrNoCodesLeft) {
			a.log.WarnContext(ctx, "rewards: no codes left", "reward", r.ID, "campaign", r.Campaign)
			return errorCanvas("No codes left", fmt.Sprintf("The campaign of %s has no codes left. Nothing was sent.", r.Name), true), nil
		}
		if err != nil {
			a.log.ErrorContext(ctx, "rewards: publishing a code", "reward", r.ID, "err", err)
			return errorCanvas("Cannot send", "Publishing a code failed: "+err.Error()+". Nothing was sent.", true), nil
		}
		now := a.m.clock.Now()
		dl = Delivery{ID: id, DistributionID: k.DistributionID, CustomerID: c.ID, TriggerKey: k.TriggerKey, Channel: k.Channel,
			State: DeliveryScheduled, Code: pub.Code, PublicationID: pub.ID, CreatedAt: now, UpdatedAt: now}
		if _, err := a.m.store.InsertDeliveries(ctx, []Delivery{dl}); err != nil {
			return nil, fmt.Errorf("rewards: recording delivery %s: %w", id, err)
		}
		if dl, err = a.m.store.GetDelivery(ctx, id); err != nil { // another click may have inserted it first
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	from := dl.State
	switch from {
	case DeliveryScheduled, DeliveryFailed:
	case DeliverySending:
		if r.Delivery == RewardByCard && resend {
			return a.cardResponse(r, c, dl), nil
		}
		if r.Delivery == RewardByReply && a.m.clock.Now().Sub(dl.UpdatedAt) > 2*a.m.sendTimeout {
			// The process posting it died: the reply may have been posted.
			dl.State, dl.Reason, dl.UpdatedAt = DeliveryUnknown, ReasonInterrupted, a.m.clock.Now()
			if err := a.m.store.UpdateDelivery(ctx, dl, DeliverySending); err != nil {
				if !errors.Is(err, ErrConflict) {
					return nil, fmt.Errorf("rewards: marking delivery %s unknown: %w", id, err)
				}
				if dl, err = a.m.store.GetDelivery(ctx, id); err != nil {
					return nil, err
				}
			}
		}
		return a.already(r, c, dl), nil
	default:
		return a.already(r, c, dl), nil
	}
	dl.State, dl.Attempts, dl.Reason, dl.UpdatedAt = DeliverySending, dl.Attempts+1, "", a.m.clock.Now()
	if err := a.m.store.UpdateDelivery(ctx, dl, from); err != nil {
		if errors.Is(err, ErrConflict) { // a concurrent click took it
			cur, gerr := a.m.store.GetDelivery(ctx, id)
			if gerr != nil {
				return nil, gerr
			}
			return a.already(r, c, cur), nil
		}
		return nil, fmt.Errorf("rewards: marking delivery %s sending: %w", id, err)
	}
	if r.Delivery == RewardByCard {
		a.log.InfoContext(ctx, "rewards: card offered", "reward", r.ID, "customer", c.ID, "conversation", conv, "delivery", id)
		return a.cardResponse(r, c, dl), nil
	}
	body := a.render(r, c, dl.Code, true)
	rerr := a.replier.ReplyToConversation(ctx, conv, intercom.Reply{AdminID: adminID, Body: body})
	now := a.m.clock.Now()
	dl.UpdatedAt = now
	switch {
	case rerr == nil:
		dl.State, dl.SentAt = DeliverySent, now
	case errors.Is(rerr, intercom.ErrAmbiguous):
		dl.State, dl.Reason = DeliveryUnknown, rerr.Error()
	default:
		dl.State, dl.Reason = DeliveryFailed, rerr.Error()
	}
	if err := a.m.store.UpdateDelivery(ctx, dl, DeliverySending); err != nil {
		a.log.ErrorContext(ctx, "rewards: recording the reply", "delivery", id, "state", dl.State, "err", err)
	}
	switch dl.State {
	case DeliverySent:
		a.log.InfoContext(ctx, "rewards: code sent", "reward", r.ID, "customer", c.ID, "conversation", conv, "delivery", id)
		return doneCanvas(r, c, dl.Code, "Sent as your reply in this conversation."), nil
	case DeliveryUnknown:
		a.log.WarnContext(ctx, "rewards: reply outcome unknown", "delivery", id, "err", rerr)
		return errorCanvas("Reply may not have been sent",
			fmt.Sprintf("Intercom did not confirm the reply with code %s (%v). Check the conversation before sending anything else.", dl.Code, rerr), false), nil
	default:
		a.log.ErrorContext(ctx, "rewards: reply failed", "delivery", id, "err", rerr)
		return errorCanvas("Reply failed",
			fmt.Sprintf("The reply with code %s could not be posted (%v). Nothing was sent; send the reward again to retry with the same code.", dl.Code, rerr), true), nil
	}
}

// already answers a click on a reward that was sent (or is being sent).
func (a *RewardsApp) already(r *rewardDef, c *customer.Customer, dl Delivery) *intercom.CanvasResponse {
	switch dl.State {
	case DeliverySent:
		resp := doneCanvas(r, c, dl.Code, "Already sent in this conversation; no new code was published.")
		return resp
	case DeliverySending:
		if r.Delivery == RewardByCard {
			resp := doneCanvas(r, c, dl.Code, "A card with this code was already added to this conversation.")
			resp.Canvas.Content.Components = append(resp.Canvas.Content.Components,
				&intercom.ButtonComponent{ID: rewardResend + r.ID, Label: "Insert the card again", Action: intercom.Submit(), Style: "secondary"})
			resp.Event = nil
			return resp
		}
		return errorCanvas("Being sent", fmt.Sprintf("%s with code %s is being sent to %s.", r.Name, dl.Code, displayName(c)), false)
	case DeliveryUnknown:
		return errorCanvas("Reply may have been sent", fmt.Sprintf("Code %s may have reached %s already (%s). Check the conversation.", dl.Code, displayName(c), dl.Reason), false)
	default:
		return errorCanvas("Not sent", fmt.Sprintf("%s was not sent (%s: %s).", r.Name, dl.State, dl.Reason), true)
	}
}

// cardResponse asks Intercom to insert the Messenger card of dl.
func (a *RewardsApp) cardResponse(r *rewardDef, c *customer.Customer, dl Delivery) *intercom.CanvasResponse {
	resp := doneCanvas(r, c, dl.Code, "Added to the conversation as a card.")
	resp.CardCreationOptions = map[string]any{"delivery_id": dl.ID}
	return resp
}

func doneCanvas(r *rewardDef, c *customer.Customer, code, how string) *intercom.CanvasResponse {
	return &intercom.CanvasResponse{
		Canvas: &intercom.Canvas{Content: &intercom.Content{Components: []intercom.Component{
			&intercom.TextComponent{Text: r.Name + " for " + displayName(c), Style: "header"},
			&intercom.TextComponent{Text: "Code: **" + code + "**"},
			&intercom.TextComponent{Text: how, Style: "muted"},
			&intercom.DividerComponent{},
			&intercom.ButtonComponent{ID: rewardBack, Label: "Back to rewards", Action: intercom.Submit(), Style: "secondary"},
		}}},
		Event: intercom.Completed(),
	}
}

// render renders r's message for c with code.
func (a *RewardsApp) render(r *rewardDef, c *customer.Customer, code string, escape bool) string {
	camp := ""
	if a.m.campaigns != nil {
		if cp, err := a.m.campaigns.Campaign(context.Background(), r.Campaign); err == nil {
			camp = cp.Name
		}
	}
	data := renderData{c: c, code: code, campaignName: camp, distName: r.Name, extra: func(path string) (string, bool) {
		switch path {
		case "reward.name":
			return r.Name, true
		case "reward.label":
			return r.Label, true
		}
		return "", false
	}}
	return r.msg.String(data.lookup, escape)
}

func (a *RewardsApp) messengerInitialize(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
	if resp, err := a.count(ctx); resp != nil || err != nil {
		return resp, err
	}
	unavailable := func() *intercom.CanvasResponse {
		return &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.Content{Components: []intercom.Component{
			&intercom.TextComponent{Text: "This reward is not available.", Style: "muted"},
		}}}}
	}
	id, _ := req.CardCreationOptions["delivery_id"].(string)
	if id == "" {
		return unavailable(), nil
	}
	dl, err := a.m.store.GetDelivery(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return unavailable(), nil
	} else if err != nil {
		return nil, err
	}
	r := a.byID[strings.TrimPrefix(dl.DistributionID, "reward:")]
	conv, _ := strings.CutPrefix(dl.TriggerKey, "conversation:")
	if r == nil || dl.Channel != RewardCardChannel || dl.Code == "" || (req.ConversationID() != "" && req.ConversationID() != conv) {
		a.log.WarnContext(ctx, "rewards: card for another conversation or no reward card", "delivery", id, "conversation", req.ConversationID())
		return unavailable(), nil
	}
	switch dl.State {
	case DeliverySending:
		dl.State, dl.SentAt, dl.UpdatedAt = DeliverySent, a.m.clock.Now(), a.m.clock.Now()
		if err := a.m.store.UpdateDelivery(ctx, dl, DeliverySending); err != nil && !errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("rewards: recording card %s sent: %w", id, err)
		}
	case DeliverySent:
	default:
		return unavailable(), nil
	}
	c, err := a.m.store.GetCustomer(ctx, dl.CustomerID)
	if errors.Is(err, customer.ErrNotFound) {
		c = customer.Customer{ID: dl.CustomerID}
	} else if err != nil {
		return nil, err
	}
	return &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.Content{Components: []intercom.Component{
		&intercom.TextComponent{Text: htmlToText(a.render(r, &c, dl.Code, true))},
		&intercom.SpacerComponent{Size: "s"},
		&intercom.TextComponent{Text: dl.Code, Style: "header", Align: "center"},
	}}}}, nil
}

var (
	htmlBreak = regexp.MustCompile(`(?i)<br\s*/?>|</p>|</div>|</li>`)
	htmlBold  = regexp.MustCompile(`(?i)</?(b|strong)>`)
	htmlTag   = regexp.MustCompile(`<[^>]*>`)
)

// htmlToText turns a rendered HTML message (values escaped) into a card's
// text: line breaks for <br> and block ends, **bold** for <b> and
// <strong>, other tags dropped, entities decoded.
func htmlToText(s string) string {
	s = htmlBreak.ReplaceAllString(s, "\n")
	s = htmlBold.ReplaceAllString(s, "**")
	s = htmlTag.ReplaceAllString(s, "")
	return strings.TrimSpace(html.UnescapeString(s))
}
