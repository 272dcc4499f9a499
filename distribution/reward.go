package distribution

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

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
	// RewardByCard hands the code over as a Messenger card: the card is
	// offered to Intercom (the delivery stays in sending) and is sent when
	// Intercom asks for its content (ConfirmReward).
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

// Reward is a predefined reward a teammate sends from a conversation (the
// Rewards inbox app, package distribution/rewards, lists them).
type Reward struct {
	// ID identifies the reward in the ledger and the idempotency key
	// (letters, digits, '-', '_' and '.', at most 64). Required, unique,
	// keep it stable.
	ID string
	// Name is shown to the teammate ("Sorry coupon"). Required.
	Name string
	// Label is the priority or reason ("Complaint — high").
	Label string
	// Campaign is the campaign (id, or name where the code source
	// resolves names) codes come from. Required.
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
	// Delivery is how the code reaches the customer; default
	// RewardByReply.
	Delivery RewardDelivery
}

var rewardIDRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// rewardTags are the template tags of a reward message.
func rewardTags(path string) bool {
	return baseTags(path) || path == "reward.name" || path == "reward.label"
}

// ValidateReward checks r and normalizes it in place (names trimmed,
// Delivery defaulted, Campaign resolved to the campaign's id where the
// code source can). An error wraps ErrInvalid (and ErrNotFound for an
// unknown campaign) and its text starts with the field's name ("Campaign: ...",
// "Message: line 1, column 4: ..."), so a caller can prefix it with
// where the reward came from.
func (m *Manager) ValidateReward(ctx context.Context, r *Reward) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalid)
	}
	r.Name, r.Label, r.Campaign = strings.TrimSpace(r.Name), strings.TrimSpace(r.Label), strings.TrimSpace(r.Campaign)
	switch {
	case !rewardIDRe.MatchString(r.ID):
		return bad("ID", "%q must be 1 to 64 letters, digits, '-', '_' or '.'", r.ID)
	case r.Name == "":
		return bad("Name", "required")
	case r.Campaign == "":
		return bad("Campaign", "required (the campaign codes come from)")
	case strings.TrimSpace(r.Message) == "":
		return bad("Message", "required")
	}
	switch r.Delivery {
	case "":
		r.Delivery = RewardByReply
	case RewardByReply, RewardByCard:
	default:
		return bad("Delivery", "%q is not %q or %q", r.Delivery, RewardByReply, RewardByCard)
	}
	if r.Delivery == RewardByReply && m.replier == nil {
		return bad("Delivery", "%s needs a Replier to post replies (Config.Replier, or Config.Intercom set to an *intercom.Client)", r.Delivery)
	}
	if _, err := tmpl.Parse(r.Message, rewardTags); err != nil {
		return templateError("Message", err)
	}
	if m.campaignLookup != nil {
		c, err := m.campaignLookup.Campaign(ctx, r.Campaign)
		if err != nil {
			return fmt.Errorf("Campaign: %w (%w)", err, ErrInvalid)
		}
		r.Campaign = c.ID
	}
	return nil
}

// RewardRequest asks GiveReward for one reward's code for one customer in
// one conversation.
type RewardRequest struct {
	// Reward is the reward to give (checked with ValidateReward).
	Reward Reward
	// CustomerID is the customer's id or source_id. Required.
	CustomerID string
	// ConversationID is the conversation the teammate works in. Required.
	ConversationID string
	// AdminID is the teammate replying (RewardByReply); default
	// Config.AdminID.
	AdminID string
}

// RewardResult is what GiveReward did.
type RewardResult struct {
	// Delivery is the reward's ledger row after the call: sent (a reply
	// posted), sending (a card offered, until ConfirmReward; or another
	// call is sending it), failed, unknown, or, when nothing was recorded
	// (Recorded false), skipped with the reason (consent missing, no codes
	// left) or failed (publishing the code failed).
	Delivery Delivery
	// Recorded reports whether Delivery is in the ledger.
	Recorded bool
	// Already reports that an earlier call gave (or is giving) this reward
	// in this conversation: nothing was published or sent now.
	Already bool
	// Message is the rendered message (HTML) for a row with a code.
	Message string
}

// GiveReward gives req.Reward's code to a customer in a conversation,
// through the same pipeline as every other delivery: consent check, code
// publication (idempotent by reward, customer and conversation),
// rendering, the ledger row in sending right before the reply is posted
// (or the card offered), and its outcome. A row already sent, being sent
// or unknown is never sent again (Already); a failed one is sent again
// with the same code. A row in sending for longer than
// Config.InterruptAfter is taken as interrupted and becomes unknown (the
// crash rule of every delivery). Bad requests fail with ErrInvalid (or
// ErrNotFound for an unknown customer or campaign).
func (m *Manager) GiveReward(ctx context.Context, req RewardRequest) (RewardResult, error) {
	if err := m.init(ctx); err != nil {
		return RewardResult{}, err
	}
	defer m.act.begin()()
	r := req.Reward
	if err := m.ValidateReward(ctx, &r); err != nil {
		return RewardResult{}, fmt.Errorf("distribution: reward %q: %w", r.ID, err)
	}
	if req.ConversationID == "" {
		return RewardResult{}, fmt.Errorf("distribution: reward %q: conversation_id: required: %w", r.ID, ErrInvalid)
	}
	admin := req.AdminID
	if admin == "" {
		admin = m.adminID
	}
	if r.Delivery == RewardByReply && admin == "" {
		return RewardResult{}, fmt.Errorf("distribution: reward %q: admin_id: required to reply: %w", r.ID, ErrInvalid)
	}
	c, err := m.store.GetCustomer(ctx, req.CustomerID)
	if err != nil {
		return RewardResult{}, fmt.Errorf("distribution: reward %q: customer %q: %w", r.ID, req.CustomerID, err)
	}
	pl, err := m.rewardPlan(r, req.ConversationID, admin)
	if err != nil {
		return RewardResult{}, err
	}
	k := DeliveryKey{pl.d.ID, c.ID, ConversationTrigger(req.ConversationID), pl.d.Channels[0].Channel}
	dl, err := m.store.GetDelivery(ctx, DeliveryID(k))
	opts := deliverOpts{}
	switch {
	case errors.Is(err, ErrNotFound):
		now := m.clock.Now()
		dl = Delivery{ID: DeliveryID(k), DistributionID: k.DistributionID, CustomerID: k.CustomerID, TriggerKey: k.TriggerKey,
			Channel: k.Channel, State: DeliveryScheduled, CreatedAt: now, UpdatedAt: now}
		opts.insert = true
	case err != nil:
		return RewardResult{}, err
	case dl.State == DeliveryFailed:
		// A failed reply is sent again, with the same code.
		dl.State, dl.Reason, dl.UpdatedAt = DeliveryScheduled, "", m.clock.Now()
		if err := m.store.UpdateDelivery(ctx, dl, DeliveryFailed); err != nil {
			if !errors.Is(err, ErrConflict) {
				return RewardResult{}, err
			}
			return m.rewardAlready(ctx, pl, dl.ID)
		}
	case dl.State == DeliverySending && m.clock.Now().Sub(dl.UpdatedAt) > m.interruptBound():
		if _, err := m.interrupt(ctx, []Delivery{dl}); err != nil {
			return RewardResult{}, err
		}
		return m.rewardAlready(ctx, pl, dl.ID)
	default:
		return m.rewardAlready(ctx, pl, dl.ID)
	}
	out, err := m.pipe.deliver(ctx, pl, dl, opts)
	if err != nil {
		return RewardResult{}, fmt.Errorf("distribution: reward %q: %w", r.ID, err)
	}
	if out.State == DeliveryScheduled {
		return m.rewardAlready(ctx, pl, dl.ID) // a concurrent call recorded it first
	}
	// A new row is recorded when it moves to sending (its first attempt).
	res := RewardResult{Delivery: out, Recorded: !opts.insert || out.Attempts > 0}
	if out.Code != "" {
		res.Message = m.renderReward(ctx, pl, &c, out.Code)
	}
	return res, nil
}

// rewardAlready answers a call for a reward row another call made.
func (m *Manager) rewardAlready(ctx context.Context, pl *plan, id string) (RewardResult, error) {
	dl, err := m.store.GetDelivery(ctx, id)
	if err != nil {
		return RewardResult{}, err
	}
	res := RewardResult{Delivery: dl, Recorded: true, Already: true}
	if dl.Code != "" {
		if c, err := m.store.GetCustomer(ctx, dl.CustomerID); err == nil {
			res.Message = m.renderReward(ctx, pl, &c, dl.Code)
		}
	}
	return res, nil
}

// ConfirmReward records that a reward card (RewardByCard) reached the
// conversation: Intercom asked for its content. The row moves from sending
// to sent (a sent one stays sent) and the result carries the rendered
// message for the card. A row of another reward or channel fails with
// ErrNotFound; a row in any other state with ErrConflict.
func (m *Manager) ConfirmReward(ctx context.Context, r Reward, deliveryID string) (RewardResult, error) {
	if err := m.init(ctx); err != nil {
		return RewardResult{}, err
	}
	if err := m.ValidateReward(ctx, &r); err != nil {
		return RewardResult{}, fmt.Errorf("distribution: reward %q: %w", r.ID, err)
	}
	dl, err := m.store.GetDelivery(ctx, deliveryID)
	if err != nil {
		return RewardResult{}, err
	}
	if dl.DistributionID != RewardDistributionID(r.ID) || dl.Channel != RewardCardChannel || dl.Code == "" {
		return RewardResult{}, fmt.Errorf("distribution: delivery %s is not a card of reward %q: %w", deliveryID, r.ID, ErrNotFound)
	}
	switch dl.State {
	case DeliverySending:
		now := m.clock.Now()
		dl.State, dl.SentAt, dl.UpdatedAt = DeliverySent, now, now
		if err := m.pipe.ledger.UpdateDelivery(ctx, dl, DeliverySending); err != nil && !errors.Is(err, ErrConflict) {
			return RewardResult{}, fmt.Errorf("distribution: recording card %s sent: %w", deliveryID, err)
		}
		m.act.notify()
	case DeliverySent:
	default:
		return RewardResult{}, fmt.Errorf("distribution: card %s is %s: %w", deliveryID, dl.State, ErrConflict)
	}
	pl, err := m.rewardPlan(r, strings.TrimPrefix(dl.TriggerKey, "conversation:"), m.adminID)
	if err != nil {
		return RewardResult{}, err
	}
	c, err := m.store.GetCustomer(ctx, dl.CustomerID)
	if errors.Is(err, ErrNotFound) {
		c.ID = dl.CustomerID
	} else if err != nil {
		return RewardResult{}, err
	}
	return RewardResult{Delivery: dl, Recorded: true, Message: m.renderReward(ctx, pl, &c, dl.Code)}, nil
}

// rewardPlan is the plan of reward r (validated) in conversation conv:
// its one channel posts a reply as admin or offers a card; no send-time
// policy applies (a teammate decided to send it now).
func (m *Manager) rewardPlan(r Reward, conv, admin string) (*plan, error) {
	msg, err := tmpl.Parse(r.Message, rewardTags)
	if err != nil {
		return nil, fmt.Errorf("distribution: reward %q: %w", r.ID, templateError("Message", err))
	}
	var ch Channel = cardChannel{}
	if r.Delivery == RewardByReply {
		ch = replyChannel{r: m.replier, conversation: conv, admin: admin}
	}
	d := Distribution{ID: RewardDistributionID(r.ID), Name: r.Name, Mode: Manual, Campaign: r.Campaign, Consents: r.Consents,
		Channels: []ChannelMessage{{Channel: ch.Name(), Body: r.Message}}}
	return &plan{d: d, tpl: []compiled{{body: msg}}, channels: []Channel{ch},
		extra: func(path string) (string, bool) {
			switch path {
			case "reward.name":
				return r.Name, true
			case "reward.label":
				return r.Label, true
			}
			return "", false
		},
		pubChannel: ch.Name(),
		pubMeta:    map[string]any{"conversation_id": conv, "admin_id": admin, "reward": r.ID},
	}, nil
}

// renderReward renders the message of a reward plan for c with code.
func (m *Manager) renderReward(ctx context.Context, pl *plan, c *customer.Customer, code string) string {
	camp := ""
	if m.campaignLookup != nil {
		if cp, err := m.campaignLookup.Campaign(ctx, pl.d.Campaign); err == nil {
			camp = cp.Name
		}
	}
	data := renderData{c: c, code: code, campaignName: camp, distName: pl.d.Name, extra: pl.extra}
	_, body := pl.tpl[0].render(&data, true)
	return body
}

// replyChannel posts a reward as the teammate's conversation reply.
type replyChannel struct {
	r            Replier
	conversation string
	admin        string
}

func (replyChannel) Name() string { return RewardReplyChannel }

func (ch replyChannel) Send(ctx context.Context, msg Message) (Receipt, error) {
	err := ch.r.ReplyToConversation(ctx, ch.conversation, intercom.Reply{AdminID: ch.admin, Body: msg.Body})
	switch {
	case err == nil:
		return Receipt{}, nil
	case errors.Is(err, intercom.ErrAmbiguous):
		return Receipt{}, AmbiguousError(err)
	default:
		return Receipt{}, PermanentError(err) // the teammate sends again
	}
}

// cardChannel offers a reward as a Messenger card: Intercom inserts it
// and asks for its content later (ConfirmReward).
type cardChannel struct{}

func (cardChannel) Name() string { return RewardCardChannel }

func (cardChannel) Send(context.Context, Message) (Receipt, error) {
	return Receipt{pending: true}, nil
}
