package distribution

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
)

// Event types, with Voucherify's names. An automatic distribution's
// Trigger names one of them.
const (
	EventSegmentEntered      = segment.EventEntered // "customer.segment.entered"
	EventSegmentLeft         = segment.EventLeft    // "customer.segment.left"
	EventOrderCreated        = "customer.order.created"
	EventOrderUpdated        = "customer.order.updated"
	EventOrderPaid           = "customer.order.paid"
	EventOrderCanceled       = "customer.order.canceled"
	EventGiftBalanceAdded    = "customer.voucher.gift.balance_added"
	EventLoyaltyPointsAdded  = "customer.voucher.loyalty_card.points_added"
	EventRedemptionSucceeded = "customer.redemption.succeeded"
	EventRedemptionRollback  = "customer.redemption.rollback.succeeded"
	EventRewarded            = "customer.rewarded"
	EventPublication         = "customer.publication.succeeded"
)

// eventKind describes what an event type carries and how a trigger on it
// may be narrowed.
type eventKind struct {
	payload  string // "segment", "order", "balance", "redemption", "reward", "publication"
	segment  bool   // the trigger names a segment (required)
	campaign bool   // the trigger may name a campaign
	// tags are the template tags the event provides (beside the base tags).
	tags []string
	// voucher: the event carries a voucher whose code {{voucher.code}}
	// shows when the distribution publishes none.
	voucher bool
}

var eventKinds = map[string]eventKind{
	EventSegmentEntered:      {payload: "segment", segment: true, tags: []string{"segment.id", "segment.name"}},
	EventSegmentLeft:         {payload: "segment", segment: true, tags: []string{"segment.id", "segment.name"}},
	EventOrderCreated:        {payload: "order", tags: orderTags},
	EventOrderUpdated:        {payload: "order", tags: orderTags},
	EventOrderPaid:           {payload: "order", tags: orderTags},
	EventOrderCanceled:       {payload: "order", tags: orderTags},
	EventGiftBalanceAdded:    {payload: "balance", campaign: true, voucher: true, tags: []string{"gift.amount", "gift.balance"}},
	EventLoyaltyPointsAdded:  {payload: "balance", campaign: true, voucher: true, tags: []string{"loyalty.points", "loyalty.balance"}},
	EventRedemptionSucceeded: {payload: "redemption", campaign: true, voucher: true, tags: redemptionTags},
	EventRedemptionRollback:  {payload: "redemption", campaign: true, voucher: true, tags: redemptionTags},
	EventRewarded:            {payload: "reward", campaign: true, voucher: true, tags: []string{"reward.id", "reward.name", "reward.type"}},
	EventPublication:         {payload: "publication", campaign: true, voucher: true, tags: []string{"publication.id"}},
}

var (
	orderTags      = []string{"order.id", "order.status", "order.amount", "order.items_count", "order.items"}
	redemptionTags = []string{"redemption.id", "redemption.amount"}
)

// EventTypes returns the event types a Trigger may name.
func EventTypes() []string {
	return []string{EventSegmentEntered, EventSegmentLeft, EventOrderCreated, EventOrderUpdated, EventOrderPaid,
		EventOrderCanceled, EventGiftBalanceAdded, EventLoyaltyPointsAdded, EventRedemptionSucceeded, EventRedemptionRollback,
		EventRewarded, EventPublication}
}

// Event is something that happened to a customer, handed to
// Manager.HandleEvent. Exactly the payload of its type is set: Order for
// order events; Voucher and Balance for gift and loyalty events;
// Redemption (and optionally Voucher) for redemption events; Reward (and
// optionally Voucher) for customer.rewarded; Voucher (and optionally
// Publication) for customer.publication.succeeded. Segment events come
// from segment changes, not from HandleEvent.
type Event struct {
	// ID identifies the event (required): a repeated ID is ignored.
	ID string `json:"id"`
	// Type is one of EventTypes (required).
	Type string `json:"type"`
	// CustomerID is the customer's id or source_id. When no customer has
	// it and Customer carries data, a customer is created (with
	// CustomerID as its source_id), as a Voucherify publication does.
	CustomerID string `json:"customer_id"`
	// Customer is optional customer data for creating an unknown customer
	// (its SourceID, when set, must equal CustomerID).
	Customer *customer.Customer `json:"customer,omitempty"`
	// At is when the event happened; default: when it is handled.
	At time.Time `json:"created_at,omitzero"`

	Order       *Order           `json:"order,omitempty"`
	Voucher     *EventVoucher    `json:"voucher,omitempty"`
	Redemption  *EventRedemption `json:"redemption,omitempty"`
	Reward      *EventReward     `json:"reward,omitempty"`
	Balance     *BalanceChange   `json:"balance,omitempty"`
	Publication *EventPublished  `json:"publication,omitempty"`
	// Segment is set on segment events (made by the Manager).
	Segment *EventSegment `json:"segment,omitempty"`

	// ResolvedCustomerID is the id of the customer the event was applied
	// to (set by HandleEvent before the event is stored).
	ResolvedCustomerID string `json:"resolved_customer_id,omitempty"`
	// ProcessedAt is when handling finished (zero while in progress).
	ProcessedAt time.Time `json:"processed_at,omitzero"`
	// ClaimedBy and ClaimedUntil are the replica processing the event and
	// until when its claim holds (set by the Manager; see
	// EventStore.ClaimEvent).
	ClaimedBy    string    `json:"claimed_by,omitempty"`
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
}

// Order is an order event's payload. Amounts are in the host's currency
// unit (Voucherify uses the smallest unit, such as cents).
type Order struct {
	ID string `json:"id"`
	// Status is CREATED, PAID, CANCELED or FULFILLED; default: the one
	// the event type implies (CREATED for created and updated).
	Status string      `json:"status,omitempty"`
	Amount float64     `json:"amount"`
	Items  []OrderItem `json:"items,omitempty"`
	// CreatedAt is the order's own date; default: the event's.
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// OrderItem is one line of an order.
type OrderItem struct {
	ProductID string  `json:"product_id,omitempty"`
	Name      string  `json:"name,omitempty"`
	Quantity  int     `json:"quantity"`
	Price     float64 `json:"price,omitempty"`
	Amount    float64 `json:"amount,omitempty"`
}

// EventVoucher is the voucher an event is about.
type EventVoucher struct {
	Code string `json:"code"`
	// CampaignID and Campaign (its name) say which campaign it belongs to;
	// a trigger narrowed by campaign matches either.
	CampaignID string `json:"campaign_id,omitempty"`
	Campaign   string `json:"campaign,omitempty"`
}

// EventRedemption is a redemption event's payload.
type EventRedemption struct {
	ID     string  `json:"id"`
	Amount float64 `json:"amount,omitempty"`
}

// EventReward is a customer.rewarded event's payload.
type EventReward struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// BalanceChange is a gift-credit or loyalty-points change.
type BalanceChange struct {
	// Added is the amount (points) added; negative for an adjustment down.
	Added float64 `json:"added"`
	// Balance is the new balance.
	Balance float64 `json:"balance"`
}

// EventPublished is a publication event's payload beside its voucher.
type EventPublished struct {
	ID             string `json:"id,omitempty"`
	DistributionID string `json:"distribution_id,omitempty"`
}

// EventSegment is a segment event's segment.
type EventSegment struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Clone returns a deep copy of e.
func (e Event) Clone() Event {
	if e.Customer != nil {
		c := e.Customer.Clone()
		e.Customer = &c
	}
	if e.Order != nil {
		o := *e.Order
		o.Items = append([]OrderItem(nil), o.Items...)
		e.Order = &o
	}
	e.Voucher = clonePtr(e.Voucher)
	e.Redemption = clonePtr(e.Redemption)
	e.Reward = clonePtr(e.Reward)
	e.Balance = clonePtr(e.Balance)
	e.Publication = clonePtr(e.Publication)
	e.Segment = clonePtr(e.Segment)
	return e
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// validateEvent checks e (normalized in place); the error names the field
// and wraps ErrInvalid.
func validateEvent(e *Event, external bool) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("distribution: event %q: %s: %s: %w", e.ID, field, fmt.Sprintf(format, args...), ErrInvalid)
	}
	e.ID = strings.TrimSpace(e.ID)
	if e.ID == "" {
		return bad("id", "required")
	}
	k, ok := eventKinds[e.Type]
	if !ok {
		if e.Type == "" {
			return bad("type", "required")
		}
		return bad("type", "%q is not a supported event type (%s)", e.Type, strings.Join(EventTypes(), ", "))
	}
	if external && k.payload == "segment" {
		return bad("type", "%s events come from segment changes, not from HandleEvent", e.Type)
	}
	e.CustomerID = strings.TrimSpace(e.CustomerID)
	if e.CustomerID == "" && e.Customer != nil {
		e.CustomerID = e.Customer.SourceID
	}
	if e.CustomerID == "" {
		return bad("customer_id", "required (a customer id or source_id)")
	}
	if c := e.Customer; c != nil && c.SourceID != "" && c.SourceID != e.CustomerID {
		return bad("customer.source_id", "%q differs from customer_id %q", c.SourceID, e.CustomerID)
	}
	if c := e.Customer; c != nil && c.ID != "" {
		return bad("customer.id", "set customer_id to identify a customer; customer data only creates an unknown one")
	}
	present := map[string]bool{
		"order": e.Order != nil, "voucher": e.Voucher != nil, "redemption": e.Redemption != nil,
		"reward": e.Reward != nil, "balance": e.Balance != nil, "publication": e.Publication != nil, "segment": e.Segment != nil,
	}
	allowed := map[string]bool{}
	need := func(name string) error {
		allowed[name] = true
		if !present[name] {
			return bad(name, "required for %s", e.Type)
		}
		return nil
	}
	finite := func(field string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return bad(field, "not a finite number")
		}
		return nil
	}
	checkVoucher := func(required bool) error {
		allowed["voucher"] = true
		if e.Voucher == nil {
			if required {
				return bad("voucher", "required for %s", e.Type)
			}
			return nil
		}
		e.Voucher.Code = strings.TrimSpace(e.Voucher.Code)
		if e.Voucher.Code == "" {
			return bad("voucher.code", "required")
		}
		return nil
	}
	switch k.payload {
	case "segment":
		if err := need("segment"); err != nil {
			return err
		}
		if e.Segment.ID == "" {
			return bad("segment.id", "required")
		}
	case "order":
		if err := need("order"); err != nil {
			return err
		}
		o := e.Order
		o.ID = strings.TrimSpace(o.ID)
		if o.ID == "" {
			return bad("order.id", "required")
		}
		if err := finite("order.amount", o.Amount); err != nil {
			return err
		}
		if o.Amount < 0 {
			return bad("order.amount", "%v is negative", o.Amount)
		}
		o.Status = strings.ToUpper(strings.TrimSpace(o.Status))
		switch e.Type {
		case EventOrderPaid:
			if o.Status == "" {
				o.Status = OrderPaid
			}
		case EventOrderCanceled:
			if o.Status == "" {
				o.Status = OrderCanceled
			}
			if o.Status != OrderCanceled {
				return bad("order.status", "%q contradicts %s", o.Status, e.Type)
			}
		default:
			if o.Status == "" {
				o.Status = OrderCreated
			}
		}
		switch o.Status {
		case OrderCreated, OrderPaid, OrderCanceled, OrderFulfilled:
		default:
			return bad("order.status", "%q is not CREATED, PAID, CANCELED or FULFILLED", o.Status)
		}
		for i, it := range o.Items {
			f := fmt.Sprintf("order.items[%d]", i)
			if it.Quantity < 0 {
				return bad(f+".quantity", "%d is negative", it.Quantity)
			}
			if err := finite(f+".price", it.Price); err != nil {
				return err
			}
			if err := finite(f+".amount", it.Amount); err != nil {
				return err
			}
		}
	case "balance":
		if err := checkVoucher(true); err != nil {
			return err
		}
		if err := need("balance"); err != nil {
			return err
		}
		if err := finite("balance.added", e.Balance.Added); err != nil {
			return err
		}
		if err := finite("balance.balance", e.Balance.Balance); err != nil {
			return err
		}
	case "redemption":
		if err := checkVoucher(false); err != nil {
			return err
		}
		if err := need("redemption"); err != nil {
			return err
		}
		e.Redemption.ID = strings.TrimSpace(e.Redemption.ID)
		if e.Redemption.ID == "" {
			return bad("redemption.id", "required")
		}
		if err := finite("redemption.amount", e.Redemption.Amount); err != nil {
			return err
		}
	case "reward":
		if err := checkVoucher(false); err != nil {
			return err
		}
		if err := need("reward"); err != nil {
			return err
		}
		if strings.TrimSpace(e.Reward.Name) == "" && strings.TrimSpace(e.Reward.ID) == "" {
			return bad("reward", "set id or name")
		}
	case "publication":
		if err := checkVoucher(true); err != nil {
			return err
		}
		allowed["publication"] = true
	}
	for _, name := range []string{"order", "voucher", "redemption", "reward", "balance", "publication", "segment"} {
		if present[name] && !allowed[name] {
			return bad(name, "not part of a %s event", e.Type)
		}
	}
	return nil
}
