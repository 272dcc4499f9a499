package distribution

import (
	"time"

	"github.com/codedrop/codedrop/internal/ids"
)

// IDPrefix starts every distribution id ("distr_...").
const IDPrefix = "distr"

// Mode says when a distribution sends.
type Mode string

// The modes.
const (
	// Manual distributions send once, to one customer or to every member
	// of a segment, ManualDelay after Send (and after the segment synced).
	Manual Mode = "manual"
	// Automatic distributions send to the customer of each event that
	// matches their Trigger while they are active (see Manager.Activate
	// and Manager.HandleEvent).
	Automatic Mode = "automatic"
)

// Status is where a distribution is in its life.
type Status string

// The statuses. A manual distribution moves draft -> scheduled -> sending
// -> done (or failed when it stopped early, e.g. no codes left); draft and
// scheduled may move to canceled. An automatic distribution moves draft ->
// active <-> paused, and to canceled from any of them.
const (
	StatusDraft     Status = "draft"
	StatusScheduled Status = "scheduled"
	StatusSending   Status = "sending"
	StatusDone      Status = "done"
	StatusCanceled  Status = "canceled"
	StatusFailed    Status = "failed"
	// StatusActive: an automatic distribution that handles its trigger's
	// events.
	StatusActive Status = "active"
	// StatusPaused: an automatic distribution that ignores events until
	// activated again.
	StatusPaused Status = "paused"
)

// Audience is who a manual distribution sends to: exactly one of
// CustomerID (a customer id or source_id) and SegmentID.
type Audience struct {
	CustomerID string `json:"customer_id,omitempty"`
	SegmentID  string `json:"segment_id,omitempty"`
}

// ConsentPolicy says which marketing consents a recipient needs.
type ConsentPolicy struct {
	// Required lists consent ids ("cnst_...") that must all be granted.
	Required []string `json:"required,omitempty"`
	// Disabled turns the consent check off: neither Required nor the
	// customer's unsubscribed flag is checked. (Intercom's own
	// unsubscribed_from_emails is still honoured for email.)
	Disabled bool `json:"disabled,omitempty"`
}

// Trigger is what starts an automatic distribution: one event type,
// optionally narrowed; a manual distribution leaves it zero. See
// EventTypes for the types and what each narrows by.
type Trigger struct {
	// Event is the event type, such as "customer.order.paid" (required).
	Event string `json:"event,omitempty"`
	// SegmentID is the segment of customer.segment.entered and
	// customer.segment.left (required for them, not allowed otherwise).
	SegmentID string `json:"segment_id,omitempty"`
	// CampaignID narrows voucher, redemption, reward and publication
	// events to vouchers of one campaign (its id or name).
	CampaignID string `json:"campaign_id,omitempty"`
	// IncludeExisting (customer.segment.entered only) also sends to the
	// customers already in the segment when the distribution is first
	// activated.
	IncludeExisting bool `json:"include_existing,omitempty"`
}

// The built-in channels (values of ChannelMessage.Channel).
const (
	IntercomInApp = "intercom_inapp"
	IntercomEmail = "intercom_email"
)

// ChannelMessage is one channel of a distribution and the message it sends.
// Subject and Body are templates (see package doc, Templates).
type ChannelMessage struct {
	// Channel names a registered Channel: IntercomInApp, IntercomEmail or
	// one from Config.Channels.
	Channel string `json:"channel"`
	// Subject is the email subject (required for email channels; not
	// HTML-escaped).
	Subject string `json:"subject,omitempty"`
	// Body is the message body (HTML for Intercom; values HTML-escaped).
	Body string `json:"body"`
	// Template is the Intercom email template, "plain" (default) or
	// "personal".
	Template string `json:"template,omitempty"`
}

// Distribution sends a message, optionally with a unique code from a
// campaign, to an audience through one or more channels.
type Distribution struct {
	ID      string `json:"id"` // "distr_..."
	Name    string `json:"name"`
	Purpose string `json:"purpose,omitempty"`
	Mode    Mode   `json:"mode"` // default Manual
	// Trigger is for automatic distributions; zero for manual ones.
	Trigger  Trigger          `json:"trigger,omitzero"`
	Audience Audience         `json:"audience"`
	Consents ConsentPolicy    `json:"consents,omitzero"`
	Channels []ChannelMessage `json:"channels"`
	// Campaign is the id of the campaign codes are published from; empty
	// sends a plain message with no code.
	Campaign string `json:"campaign,omitempty"`
	// Transactional exempts the distribution from frequency caps: its
	// messages are neither capped nor counted (Config.FrequencyCaps).
	Transactional bool `json:"transactional,omitempty"`
	// IgnoreQuietHours sends at any hour (Config.QuietHours).
	IgnoreQuietHours bool   `json:"ignore_quiet_hours,omitempty"`
	Status           Status `json:"status"`
	// SendAt is when a scheduled manual distribution fires; zero while it
	// waits for its segment to finish syncing.
	SendAt time.Time `json:"send_at,omitzero"`
	// ResolvedAt is when the audience was turned into deliveries (one per
	// member and channel); zero until then.
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Report is the latest progress while sending and the final report
	// once done.
	Report Report `json:"report,omitzero"`
	// Revision counts stored changes; the Store compares it on update
	// (optimistic concurrency) and increments it.
	Revision  int64     `json:"revision"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Clone returns a deep copy of d.
func (d Distribution) Clone() Distribution {
	d.Consents.Required = append([]string(nil), d.Consents.Required...)
	d.Channels = append([]ChannelMessage(nil), d.Channels...)
	d.Report.SkipReasons = cloneCounts(d.Report.SkipReasons)
	d.Report.FailReasons = cloneCounts(d.Report.FailReasons)
	return d
}

func cloneCounts(m map[string]int) map[string]int {
	if m == nil {
		return nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Report counts a distribution's deliveries (one per recipient and
// channel).
type Report struct {
	// Recipients is how many customers the audience resolved to.
	Recipients int `json:"recipients"`
	// Deliveries is Recipients times the number of channels.
	Deliveries int `json:"deliveries"`
	// ToProcess counts deliveries not yet final (scheduled or sending).
	ToProcess int `json:"to_process"`
	Sent      int `json:"sent"`
	Skipped   int `json:"skipped"`
	Failed    int `json:"failed"`
	// Unknown counts sends that may or may not have reached the provider.
	Unknown  int `json:"unknown"`
	Canceled int `json:"canceled"`
	// SkipReasons and FailReasons count deliveries by reason.
	SkipReasons map[string]int `json:"skip_reasons,omitempty"`
	FailReasons map[string]int `json:"fail_reasons,omitempty"`
	// Stopped says why sending stopped early ("no codes left"); empty
	// otherwise.
	Stopped    string    `json:"stopped,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

func newDistributionID() string { return ids.New(IDPrefix) }
