package intercom

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// Notification is Intercom's webhook envelope (type notification_event).
type Notification struct {
	// ID is the notification id ("notif_..."), unique per event; repeated
	// deliveries carry the same id.
	ID               string
	Topic            string
	AppID            string
	CreatedAt        time.Time
	FirstSentAt      time.Time
	DeliveryAttempts int
	// Item is data.item, the raw JSON of the object the event is about.
	Item json.RawMessage
}

type wireNotification struct {
	Type             string `json:"type"`
	ID               string `json:"id"`
	Topic            string `json:"topic"`
	AppID            string `json:"app_id"`
	CreatedAt        int64  `json:"created_at"`
	FirstSentAt      int64  `json:"first_sent_at"`
	DeliveryAttempts int    `json:"delivery_attempts"`
	Data             struct {
		Item json.RawMessage `json:"item"`
	} `json:"data"`
}

// ContactEventKind says what happened to a contact.
type ContactEventKind int

// The contact event kinds.
const (
	// ContactChanged: created, updated, signed up, email added or changed,
	// unsubscribed, archived or unarchived; Contact is the new state.
	ContactChanged ContactEventKind = iota + 1
	// ContactDeleted: the contact is gone; Contact has its id (and
	// external_id when Intercom sent it).
	ContactDeleted
	// ContactTagAdded and ContactTagRemoved: Tag was attached to or
	// removed from Contact.
	ContactTagAdded
	ContactTagRemoved
)

// String returns the kind's name.
func (k ContactEventKind) String() string {
	switch k {
	case ContactChanged:
		return "changed"
	case ContactDeleted:
		return "deleted"
	case ContactTagAdded:
		return "tag_added"
	case ContactTagRemoved:
		return "tag_removed"
	}
	return fmt.Sprintf("ContactEventKind(%d)", int(k))
}

// ContactEvent is a contact.* webhook notification, decoded.
type ContactEvent struct {
	Notification Notification
	Kind         ContactEventKind
	Contact      Contact
	// Tag is set for ContactTagAdded and ContactTagRemoved.
	Tag *Tag
}

// Customer returns the customer update the event implies
// (ContactToCustomer of the contact; for a tag event the tag is added to or
// removed from the contact's tags first). For ContactDeleted use
// SourceID(e.Contact) to find the customer to delete.
func (e ContactEvent) Customer() customer.Customer {
	c := e.Contact
	if e.Tag != nil {
		tags := make([]Tag, 0, len(c.Tags)+1)
		for _, t := range c.Tags {
			if t.ID != e.Tag.ID {
				tags = append(tags, t)
			}
		}
		if e.Kind == ContactTagAdded {
			tags = append(tags, *e.Tag)
		}
		c.Tags = tags
	}
	return ContactToCustomer(c)
}

// ParseContactEvent decodes a contact.* notification. It reports false for
// other topics.
func ParseContactEvent(n Notification) (ContactEvent, bool, error) {
	if !strings.HasPrefix(n.Topic, "contact.") {
		return ContactEvent{}, false, nil
	}
	ev := ContactEvent{Notification: n, Kind: ContactChanged}
	switch {
	case n.Topic == "contact.deleted":
		ev.Kind = ContactDeleted
	case strings.HasSuffix(n.Topic, ".tag.created"):
		ev.Kind = ContactTagAdded
	case strings.HasSuffix(n.Topic, ".tag.deleted"):
		ev.Kind = ContactTagRemoved
	}
	if ev.Kind == ContactTagAdded || ev.Kind == ContactTagRemoved {
		var item struct {
			Tag     *Tag        `json:"tag"`
			Contact wireContact `json:"contact"`
		}
		if err := json.Unmarshal(n.Item, &item); err != nil {
			return ContactEvent{}, true, fmt.Errorf("%w: webhook %s (%s): data.item: %w", ErrInvalid, n.ID, n.Topic, err)
		}
		if item.Tag == nil || item.Tag.ID == "" || item.Contact.ID == "" {
			return ContactEvent{}, true, fmt.Errorf("%w: webhook %s (%s): data.item needs a tag and a contact", ErrInvalid, n.ID, n.Topic)
		}
		ev.Tag, ev.Contact = item.Tag, item.Contact.contact()
		return ev, true, nil
	}
	var w wireContact
	if err := json.Unmarshal(n.Item, &w); err != nil {
		return ContactEvent{}, true, fmt.Errorf("%w: webhook %s (%s): data.item: %w", ErrInvalid, n.ID, n.Topic, err)
	}
	if w.ID == "" {
		return ContactEvent{}, true, fmt.Errorf("%w: webhook %s (%s): data.item has no contact id", ErrInvalid, n.ID, n.Topic)
	}
	ev.Contact = w.contact()
	return ev, true, nil
}

// WebhookConfig configures a WebhookHandler.
type WebhookConfig struct {
	// Secret is the key of the X-Hub-Signature HMAC: the app's
	// client_secret (or a legacy subscription's hub_secret). Required.
	Secret string
	// OnContact receives contact.* notifications. An error answers 500, so
	// Intercom delivers the notification again.
	OnContact func(ctx context.Context, ev ContactEvent) error
	// OnNotification, when set, receives every other topic (including
	// "ping").
	OnNotification func(ctx context.Context, n Notification) error
	// MaxBodyBytes bounds the request body. Default 1 MiB.
	MaxBodyBytes int64
	// RememberIDs is how many handled notification ids are remembered to
	// drop repeated deliveries. Default 10,000.
	RememberIDs int
	// Logger receives rejected deliveries and host errors. Default: discard.
	Logger *slog.Logger
}

// WebhookHandler is an http.Handler for Intercom webhooks. It answers the
// HEAD request Intercom sends to validate the URL, verifies X-Hub-Signature
// (HMAC-SHA1 of the raw body, compared in constant time; a missing or bad
// signature gets 401 and never reaches the host), bounds the body, decodes
// the notification_event envelope and drops notification ids it has
// already handled. It is safe for concurrent use.
type WebhookHandler struct {
	cfg WebhookConfig
	log *slog.Logger

	mu    sync.Mutex
	state map[string]bool // id -> done (false: in flight)
	ring  []string        // done ids, oldest first, for eviction
	next  int
}

// NewWebhookHandler returns a handler for cfg.
func NewWebhookHandler(cfg WebhookConfig) (*WebhookHandler, error) {
	if cfg.Secret == "" {
		return nil, errors.New("intercom: WebhookConfig.Secret is required")
	}
	if cfg.OnContact == nil && cfg.OnNotification == nil {
		return nil, errors.New("intercom: WebhookConfig needs OnContact or OnNotification")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.RememberIDs <= 0 {
		cfg.RememberIDs = 10000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &WebhookHandler{cfg: cfg, log: log, state: map[string]bool{}, ring: make([]string, cfg.RememberIDs)}, nil
}

// VerifySignature reports whether header (an X-Hub-Signature value,
// "sha1=<hex>") is the HMAC-SHA1 of body under secret.
func VerifySignature(secret string, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha1=")
	if !ok || len(hexSig) != sha1.Size*2 {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign returns the X-Hub-Signature value for body (for tests and for
// forwarding notifications).
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

// ServeHTTP implements http.Handler.
func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodHead:
		w.WriteHeader(http.StatusOK)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.log.WarnContext(r.Context(), "intercom webhook: body too large", "limit", h.cfg.MaxBodyBytes)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if !VerifySignature(h.cfg.Secret, body, r.Header.Get("X-Hub-Signature")) {
		h.log.WarnContext(r.Context(), "intercom webhook: missing or bad signature", "remote", r.RemoteAddr)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var wn wireNotification
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&wn); err != nil || wn.ID == "" || wn.Topic == "" {
		http.Error(w, "not a notification_event (need id and topic)", http.StatusBadRequest)
		return
	}
	n := Notification{ID: wn.ID, Topic: wn.Topic, AppID: wn.AppID, CreatedAt: unixTime(wn.CreatedAt),
		FirstSentAt: unixTime(wn.FirstSentAt), DeliveryAttempts: wn.DeliveryAttempts, Item: wn.Data.Item}
	if !h.begin(n.ID) {
		w.WriteHeader(http.StatusOK) // a repeat: already handled or in flight
		return
	}
	if err := h.dispatch(r.Context(), n); err != nil {
		h.end(n.ID, false)
		h.log.ErrorContext(r.Context(), "intercom webhook: handler failed", "id", n.ID, "topic", n.Topic, "err", err)
		status := http.StatusInternalServerError
		if errors.Is(err, ErrInvalid) {
			status = http.StatusBadRequest
		}
		http.Error(w, "notification not processed", status)
		return
	}
	h.end(n.ID, true)
	w.WriteHeader(http.StatusOK)
}

func (h *WebhookHandler) dispatch(ctx context.Context, n Notification) error {
	if h.cfg.OnContact != nil {
		ev, ok, err := ParseContactEvent(n)
		if err != nil {
			return err
		}
		if ok {
			return h.cfg.OnContact(ctx, ev)
		}
	}
	if h.cfg.OnNotification != nil {
		return h.cfg.OnNotification(ctx, n)
	}
	return nil
}

// begin claims id; false when it is done or in flight.
func (h *WebhookHandler) begin(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, seen := h.state[id]; seen {
		return false
	}
	h.state[id] = false
	return true
}

// end records the outcome: a success is remembered (evicting the oldest
// remembered id), a failure forgotten so a redelivery is processed.
func (h *WebhookHandler) end(id string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !ok {
		delete(h.state, id)
		return
	}
	h.state[id] = true
	if old := h.ring[h.next]; old != "" {
		delete(h.state, old)
	}
	h.ring[h.next] = id
	h.next = (h.next + 1) % len(h.ring)
}
