package distribution

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"
)

// DeliveryState is where one delivery is.
type DeliveryState string

// The delivery states:
//
//	scheduled -> sending -> sent | failed | unknown
//	scheduled -> skipped | canceled
//	sending   -> scheduled (a transient failure, retried later)
//	failed    -> scheduled (RetryFailed)
//
// A delivery goes to sending before the provider is called, so a delivery
// found in sending after a restart may have been sent: once it has been in
// sending for longer than Config.InterruptAfter (until then
// another replica may be sending it), it becomes unknown, never sent again
// automatically.
const (
	DeliveryScheduled DeliveryState = "scheduled"
	DeliverySending   DeliveryState = "sending"
	DeliverySent      DeliveryState = "sent"
	DeliverySkipped   DeliveryState = "skipped"
	DeliveryFailed    DeliveryState = "failed"
	DeliveryUnknown   DeliveryState = "unknown"
	DeliveryCanceled  DeliveryState = "canceled"
)

// Final reports whether s is a final state (sent, skipped, failed,
// unknown, canceled).
func (s DeliveryState) Final() bool {
	return s != DeliveryScheduled && s != DeliverySending
}

// ManualTrigger is the TriggerKey of every delivery of a manual
// distribution (each member is processed once).
const ManualTrigger = "manual"

// Reasons recorded on skipped and failed deliveries.
const (
	ReasonUnsubscribed     = "customer unsubscribed"
	ReasonConsentMissing   = "consent not granted" // ReasonDetail: the consent id
	ReasonNoEmail          = "customer has no email"
	ReasonEmailUnsubscribe = "unsubscribed from emails in Intercom"
	ReasonNoCodesLeft      = "no codes left"
	ReasonNoContact        = "no Intercom contact"
	ReasonCustomerDeleted  = "customer not found"
	ReasonInterrupted      = "interrupted during send; the message may have been sent"
)

// Delivery is one ledger record: one message of one distribution to one
// customer through one channel for one trigger. (DistributionID,
// CustomerID, TriggerKey, Channel) is unique, which makes every step safe
// to repeat.
type Delivery struct {
	// ID is derived from the key ("dlv_..."), so it is the same on every
	// attempt to create the row.
	ID             string `json:"id"`
	DistributionID string `json:"distribution_id"`
	CustomerID     string `json:"customer_id"`
	// TriggerKey identifies the trigger occurrence: ManualTrigger for a
	// manual distribution, the event's dedup key for an automatic one.
	TriggerKey string        `json:"trigger_key"`
	Channel    string        `json:"channel"`
	State      DeliveryState `json:"state"`
	// Reason says why a delivery was skipped, failed or is unknown, or the
	// last transient error of a scheduled retry. A skip's reason is one of
	// the stable Reason* values (or a Checker's own), so hosts can count
	// by it (Report.SkipReasons); its specifics are in ReasonDetail.
	Reason string `json:"reason,omitempty"`
	// ReasonDetail completes Reason: the consent id missing
	// (ReasonConsentMissing), the cap reached (ReasonFrequencyCapped).
	ReasonDetail string `json:"reason_detail,omitempty"`
	Attempts     int    `json:"attempts"`
	// Code is the published code sent (empty for a plain message).
	Code          string `json:"code,omitempty"`
	PublicationID string `json:"publication_id,omitempty"`
	// ProviderMessageID is the provider's id of the sent message.
	ProviderMessageID string `json:"provider_message_id,omitempty"`
	// NextAttemptAt is when a transient failure is retried.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	SentAt        time.Time `json:"sent_at,omitzero"`
}

// DeliveryKey is the unique key of a delivery.
type DeliveryKey struct {
	DistributionID, CustomerID, TriggerKey, Channel string
}

// Key returns d's unique key.
func (d Delivery) Key() DeliveryKey {
	return DeliveryKey{d.DistributionID, d.CustomerID, d.TriggerKey, d.Channel}
}

var b32 = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// DeliveryID returns the id of the delivery with key k: "dlv_" and 26
// characters of a SHA-256 of the key.
func DeliveryID(k DeliveryKey) string {
	var buf [256]byte // the key, on the stack unless it is long
	b := buf[:0]
	for _, s := range [...]string{k.DistributionID, k.CustomerID, k.TriggerKey, k.Channel} {
		b = append(append(b, s...), 0)
	}
	sum := sha256.Sum256(b)
	var id [4 + 26]byte
	copy(id[:], "dlv_")
	b32.Encode(id[4:], sum[:16])
	return string(id[:])
}

// publicationKey is the CodeSource idempotency key of the code a
// (distribution, customer, trigger) gets; all channels share it.
func publicationKey(distributionID, customerID, triggerKey string) string {
	return strings.Join([]string{distributionID, customerID, triggerKey}, "/")
}

// DeliveryFilter selects deliveries. Zero fields match everything.
type DeliveryFilter struct {
	DistributionID string
	CustomerID     string
	TriggerKey     string
	Channel        string
	States         []DeliveryState
	// Reason matches deliveries whose reason starts with it.
	Reason string
	// After starts the listing after this delivery id (a cursor).
	After string
	// Limit stops after this many deliveries; 0 means no limit.
	Limit int
}

// Match reports whether d passes f (After and Limit aside); stores may use
// it.
func (f DeliveryFilter) Match(d *Delivery) bool {
	if f.DistributionID != "" && d.DistributionID != f.DistributionID ||
		f.CustomerID != "" && d.CustomerID != f.CustomerID ||
		f.TriggerKey != "" && d.TriggerKey != f.TriggerKey ||
		f.Channel != "" && d.Channel != f.Channel ||
		f.Reason != "" && !strings.HasPrefix(d.Reason, f.Reason) {
		return false
	}
	if len(f.States) == 0 {
		return true
	}
	for _, s := range f.States {
		if d.State == s {
			return true
		}
	}
	return false
}

// DeliveryCounts counts a distribution's deliveries by state and by reason.
type DeliveryCounts struct {
	States map[DeliveryState]int
	// Reasons counts skipped and failed deliveries by state and reason.
	Reasons map[DeliveryState]map[string]int
}
