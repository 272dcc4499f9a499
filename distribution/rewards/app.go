// Package rewards is the Rewards Intercom inbox app (Canvas Kit): a
// teammate picks a predefined reward in a conversation and the customer
// gets a unique code, as the teammate's reply or as a Messenger card.
//
// The app is the user interface; the behaviour is the Manager's
// (distribution.Manager.GiveReward): codes come from the Manager's code
// source and each send is a Delivery in its ledger, through the same
// pipeline and the same crash rule as every other delivery, so one
// customer never gets two codes for one reward in one conversation,
// however often the teammate clicks.
//
//	app, err := rewards.New(m, rewards.Config{Secret: clientSecret, Rewards: []distribution.Reward{...}})
//	mux.Handle("POST /intercom/rewards/initialize", app.InitializeHandler())
//	mux.Handle("POST /intercom/rewards/submit", app.SubmitHandler())
//	mux.Handle("POST /intercom/rewards/messenger", app.MessengerInitializeHandler())
//
// Every request is checked against X-Body-Signature before anything else
// (missing or bad: 401) and counted against the API limit
// (Manager.CountInbound); errors a teammate can act on (customer unknown,
// consent missing, no codes left, limit reached, reply failed) are shown
// as a canvas and send nothing.
package rewards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
)

// Config configures an App. Zero values are documented defaults.
type Config struct {
	// Secret is the Intercom app's client secret: every request's
	// X-Body-Signature is checked with it. Required.
	Secret string
	// Rewards are the rewards teammates may send (at least one, with
	// distinct IDs; see Manager.ValidateReward).
	Rewards []distribution.Reward
	// Delivery is how codes reach customers when a reward sets none;
	// default distribution.RewardByReply (which needs the Manager's
	// Config.Replier or an *intercom.Client as Config.Intercom).
	Delivery distribution.RewardDelivery
	// MaxBodyBytes bounds a request body; default
	// intercom.DefaultCanvasMaxBody.
	MaxBodyBytes int64
	// Logger receives the app's log; default: discarded.
	Logger *slog.Logger
}

// App is the Rewards Canvas Kit app. Create it with New; it is safe for
// concurrent use.
//
// The conversation's contact is found by external id (= source_id), by
// the source id "intercom:<id>" of a synced contact without one, and last
// by the Intercom id in metadata (intercom.MetaIntercomID): that last
// lookup reads every customer once per contact (then cached), so hosts
// with many customers should sync contacts (intercom.SyncContacts) or set
// source_id to the external id.
type App struct {
	m       *distribution.Manager
	log     *slog.Logger
	rewards []*distribution.Reward
	byID    map[string]*distribution.Reward

	initH, submitH, messengerH *intercom.CanvasHandler

	mu       sync.Mutex
	byIntcID map[string]string // Intercom contact id -> customer id (metadata scan cache)
}

// New checks cfg (each reward with m.ValidateReward) and returns the app.
// Errors wrap distribution.ErrInvalid (ErrNotFound for an unknown
// campaign) and name the field ("rewards: Config.Rewards[1].Message:
// ...").
func New(m *distribution.Manager, cfg Config) (*App, error) {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("rewards: Config.%s: %s: %w", field, fmt.Sprintf(format, args...), distribution.ErrInvalid)
	}
	if cfg.Secret == "" {
		return nil, bad("Secret", "required (the Intercom app's client secret)")
	}
	if len(cfg.Rewards) == 0 {
		return nil, bad("Rewards", "at least one reward is required")
	}
	switch cfg.Delivery {
	case "":
		cfg.Delivery = distribution.RewardByReply
	case distribution.RewardByReply, distribution.RewardByCard:
	default:
		return nil, bad("Delivery", "%q is not %q or %q", cfg.Delivery, distribution.RewardByReply, distribution.RewardByCard)
	}
	a := &App{m: m, log: cfg.Logger, byID: map[string]*distribution.Reward{}, byIntcID: map[string]string{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	ctx := context.Background()
	for i, r := range cfg.Rewards {
		if r.Delivery == "" {
			r.Delivery = cfg.Delivery
		}
		if err := m.ValidateReward(ctx, &r); err != nil {
			return nil, fmt.Errorf("rewards: Config.Rewards[%d].%w", i, err)
		}
		if a.byID[r.ID] != nil {
			return nil, bad(fmt.Sprintf("Rewards[%d].ID", i), "%q is used twice", r.ID)
		}
		a.rewards = append(a.rewards, &r)
		a.byID[r.ID] = &r
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

// InitializeHandler serves the Inbox "Initialize flow webhook URL": it
// shows the conversation's customer and the rewards they may receive.
func (a *App) InitializeHandler() http.Handler { return a.initH }

// SubmitHandler serves the Inbox "Submit flow webhook URL": it publishes
// the chosen reward's code and delivers it.
func (a *App) SubmitHandler() http.Handler { return a.submitH }

// MessengerInitializeHandler serves the Messenger "Initialize flow
// webhook URL": it renders the customer's card for RewardByCard.
func (a *App) MessengerInitializeHandler() http.Handler { return a.messengerH }

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
func (a *App) count(ctx context.Context) (*intercom.CanvasResponse, error) {
	err := a.m.CountInbound(ctx)
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, distribution.ErrLimitExceeded):
		a.log.WarnContext(ctx, "rewards: API limit reached", "err", err)
		return errorCanvas("Limit reached", "The API limit for calls from Intercom is reached, so no reward can be sent now. "+err.Error(), false), nil
	default:
		return nil, err
	}
}

func (a *App) initialize(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
	if resp, err := a.count(ctx); resp != nil || err != nil {
		return resp, err
	}
	return a.picker(ctx, req, "")
}

// picker shows the customer and the rewards they may receive; note, when
// set, is shown above them.
func (a *App) picker(ctx context.Context, req *intercom.CanvasRequest, note string) (*intercom.CanvasResponse, error) {
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
	var eligible []*distribution.Reward
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
			dl, err := a.m.Delivery(ctx, distribution.DeliveryID(a.key(r, c.ID, conv)))
			if err == nil && dl.Code != "" && (dl.State == distribution.DeliverySent || dl.State == distribution.DeliverySending) {
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
			&intercom.ButtonComponent{ID: rewardSendPfx + r.ID, Label: "Send " + r.Name, Action: intercom.SubmitAction()})
	case n <= intercom.MaxSelectOptions:
		opts := make([]intercom.SelectOption, n)
		for i, r := range eligible {
			opts[i] = intercom.SelectOption{ID: r.ID, Text: rewardTitle(r)}
		}
		comps = append(comps,
			&intercom.DropdownComponent{ID: rewardPicker, Label: "Reward", Options: opts, Value: opts[0].ID},
			&intercom.ButtonComponent{ID: rewardSend, Label: "Send reward", Action: intercom.SubmitAction()})
	default:
		items := make([]intercom.ListItem, n)
		for i, r := range eligible {
			items[i] = intercom.ListItem{ID: rewardSendPfx + r.ID, Title: r.Name, Subtitle: r.Label, Action: intercom.SubmitAction()}
		}
		comps = append(comps, &intercom.ListComponent{Items: items})
	}
	if len(refused) > 0 {
		comps = append(comps, &intercom.SpacerComponent{Size: "s"},
			&intercom.TextComponent{Text: "Not available: " + strings.Join(refused, "; "), Style: "muted"})
	}
	return &intercom.CanvasResponse{Canvas: &intercom.Canvas{
		Content:    &intercom.CanvasContent{Components: comps},
		StoredData: map[string]any{storedCustomer: c.ID},
	}}, nil
}

// key is the ledger key of reward r for customer custID in conversation conv.
func (a *App) key(r *distribution.Reward, custID, conv string) distribution.DeliveryKey {
	ch := distribution.RewardReplyChannel
	if r.Delivery == distribution.RewardByCard {
		ch = distribution.RewardCardChannel
	}
	return distribution.DeliveryKey{DistributionID: distribution.RewardDistributionID(r.ID), CustomerID: custID, TriggerKey: distribution.ConversationTrigger(conv), Channel: ch}
}

// consentProblem says, for the teammate, why c may not receive r ("" if
// it may).
func (a *App) consentProblem(ctx context.Context, r *distribution.Reward, c *customer.Customer) string {
	why, id := r.Consents.Check(c)
	if why == distribution.ReasonConsentMissing {
		if cs, err := a.m.Consent(ctx, id); err == nil {
			return fmt.Sprintf("consent %q not granted", cs.Name)
		}
	}
	return why
}

func (a *App) submit(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
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
	adminID := ""
	if req.Admin != nil {
		adminID = req.Admin.ID
	}
	if why := a.consentProblem(ctx, r, &c); why != "" {
		return errorCanvas("Consent missing", fmt.Sprintf("%s cannot receive %s: %s. Nothing was sent.", displayName(&c), r.Name, why), true), nil
	}
	// Replies and ledger writes finish even if Intercom hangs up.
	res, err := a.m.GiveReward(context.WithoutCancel(ctx), distribution.RewardRequest{Reward: *r, CustomerID: c.ID, ConversationID: conv, AdminID: adminID})
	if errors.Is(err, distribution.ErrInvalid) && strings.Contains(err.Error(), "admin_id") {
		return errorCanvas("Cannot send", "The request names no teammate to reply as.", false), nil
	}
	if err != nil {
		return nil, err
	}
	return a.answer(ctx, r, &c, res, resend), nil
}

// answer turns what GiveReward did into the teammate's canvas.
func (a *App) answer(ctx context.Context, r *distribution.Reward, c *customer.Customer, res distribution.RewardResult, resend bool) *intercom.CanvasResponse {
	dl := res.Delivery
	if res.Already {
		if dl.State == distribution.DeliverySending && r.Delivery == distribution.RewardByCard && resend {
			return cardResponse(r, c, dl)
		}
		return a.already(r, c, dl)
	}
	switch dl.State {
	case distribution.DeliverySent:
		a.log.InfoContext(ctx, "rewards: code sent", "reward", r.ID, "customer", c.ID, "delivery", dl.ID)
		return doneCanvas(r, c, dl.Code, "Sent as your reply in this conversation.")
	case distribution.DeliverySending: // a card offered
		a.log.InfoContext(ctx, "rewards: card offered", "reward", r.ID, "customer", c.ID, "delivery", dl.ID)
		return cardResponse(r, c, dl)
	case distribution.DeliveryUnknown:
		a.log.WarnContext(ctx, "rewards: reply outcome unknown", "delivery", dl.ID, "reason", dl.Reason)
		return errorCanvas("Reply may not have been sent",
			fmt.Sprintf("Intercom did not confirm the reply with code %s (%s). Check the conversation before sending anything else.", dl.Code, dl.Reason), false)
	case distribution.DeliverySkipped:
		if dl.Reason == distribution.ReasonNoCodesLeft {
			a.log.WarnContext(ctx, "rewards: no codes left", "reward", r.ID, "campaign", r.Campaign)
			return errorCanvas("No codes left", fmt.Sprintf("The campaign of %s has no codes left. Nothing was sent.", r.Name), true)
		}
		return errorCanvas("Not sent", fmt.Sprintf("%s was not sent: %s. Nothing was sent.", r.Name, dl.Reason), true)
	default: // failed
		if !res.Recorded {
			a.log.ErrorContext(ctx, "rewards: publishing a code", "reward", r.ID, "reason", dl.Reason)
			return errorCanvas("Cannot send", "Publishing a code failed: "+strings.TrimPrefix(dl.Reason, "publishing a code: ")+". Nothing was sent.", true)
		}
		a.log.ErrorContext(ctx, "rewards: reply failed", "delivery", dl.ID, "reason", dl.Reason)
		return errorCanvas("Reply failed",
			fmt.Sprintf("The reply with code %s could not be posted (%s). Nothing was sent; send the reward again to retry with the same code.", dl.Code, dl.Reason), true)
	}
}

func (a *App) messengerInitialize(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
	if resp, err := a.count(ctx); resp != nil || err != nil {
		return resp, err
	}
	unavailable := func() *intercom.CanvasResponse {
		return &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{
			&intercom.TextComponent{Text: "This reward is not available.", Style: "muted"},
		}}}}
	}
	id, _ := req.CardCreationOptions["delivery_id"].(string)
	if id == "" {
		return unavailable(), nil
	}
	dl, err := a.m.Delivery(ctx, id)
	if errors.Is(err, distribution.ErrNotFound) {
		return unavailable(), nil
	} else if err != nil {
		return nil, err
	}
	r := a.byID[strings.TrimPrefix(dl.DistributionID, "reward:")]
	conv, _ := strings.CutPrefix(dl.TriggerKey, "conversation:")
	if r == nil || (req.ConversationID() != "" && req.ConversationID() != conv) {
		a.log.WarnContext(ctx, "rewards: card for another conversation or no reward card", "delivery", id, "conversation", req.ConversationID())
		return unavailable(), nil
	}
	res, err := a.m.ConfirmReward(ctx, *r, id)
	if errors.Is(err, distribution.ErrNotFound) || errors.Is(err, distribution.ErrConflict) {
		a.log.WarnContext(ctx, "rewards: card not available", "delivery", id, "err", err)
		return unavailable(), nil
	} else if err != nil {
		return nil, err
	}
	return &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{
		&intercom.TextComponent{Text: htmlToText(res.Message)},
		&intercom.SpacerComponent{Size: "s"},
		&intercom.TextComponent{Text: res.Delivery.Code, Style: "header", Align: "center"},
	}}}}, nil
}
