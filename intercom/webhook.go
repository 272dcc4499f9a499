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
	"strconv"
	"strings"
	"sync"
	"time"
)

// WebhookConfig configures a WebhookHandler. Secret is required, and at
// least one of Customers, OnContact and OnNotification.
type WebhookConfig struct {
	// Secret is the key of the X-Hub-Signature HMAC: the app's
	// client_secret (or a legacy subscription's hub_secret). Required.
	Secret string
	// Customers, when set, keeps customers current from contact
	// notifications (see [WebhookHandler]): distribution.Manager
	// implements it, so segment memberships and entered/left triggers
	// follow. OnContact, when also set, runs after it.
	Customers WebhookCustomers
	// Store shares de-duplication and contact ordering between the
	// replicas of a host (store.Memory and store/postgres implement it).
	// nil keeps both in this process: the last RememberIDs notification
	// ids, and a [MemoryWebhookStore] for contact ordering.
	Store WebhookStore
	// Meter, when set, counts every notification that passes the
	// signature check as one inbound call (distribution.Manager's
	// CountInbound; see distribution.Manager.WebhookConfig). An error
	// matching ErrInboundLimit answers 429 and the notification is not
	// handled; any other error answers 500.
	Meter InboundMeter
	// Tags, when set, names the tags of contacts whose inline tags carry
	// only ids, as SyncContacts does (a *Client implements it; the names
	// are cached and listed again at most once a minute when an unknown
	// id shows up). nil: such tags are recorded by id.
	Tags TagLister
	// OnContact receives contact.* notifications. An error answers 500, so
	// Intercom delivers the notification again.
	OnContact func(ctx context.Context, ev ContactEvent) error
	// OnNotification, when set, receives every other topic (including
	// "ping").
	OnNotification func(ctx context.Context, n Notification) error
	// MaxBodyBytes bounds the request body. Default 1 MiB.
	MaxBodyBytes int64
	// RememberIDs is how many handled notification ids are remembered to
	// drop repeated deliveries when Store is nil. Default 10,000.
	RememberIDs int
	// Retention is how long Store remembers handled notification ids and
	// deleted contacts; default DefaultWebhookRetention (7 days). The
	// handler prunes older records at most once an hour, after handling a
	// notification (see [WebhookHandler.Prune]).
	Retention time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives rejected deliveries and host errors. Default: discard.
	Logger *slog.Logger
}

// WebhookHandler is an http.Handler for Intercom webhooks. It answers the
// HEAD request Intercom sends to validate the URL, verifies X-Hub-Signature
// (HMAC-SHA1 of the raw body, compared in constant time; a missing or bad
// signature gets 401 and never reaches the host), bounds the body, decodes
// the notification_event envelope, counts it (Config.Meter) and drops
// notification ids it has already handled. It is safe for concurrent use.
//
// # De-duplication
//
// With Config.Store, a notification is claimed in the store before it is
// handled ([WebhookStore.ClaimNotification]), so the handlers of every
// replica sharing the store handle it once: a repeat of a handled one
// answers 200, one being handled elsewhere answers 503 with Retry-After
// (so Intercom delivers it again later, in case that handler dies; its
// claim lapses after WebhookClaimLease). A failed handling forgets the
// claim and answers 500, so Intercom's redelivery is handled. Handled ids
// are kept for Config.Retention (7 days by default: Intercom gives up on
// an endpoint after 7 days of errors) and pruned lazily. Without a Store
// the last RememberIDs ids are remembered in memory.
//
// # Customers
//
// With Config.Customers, contact notifications become customer writes
// with the mapping of SyncContacts ([ContactToCustomer]; source_id is the
// contact's external_id or "intercom:" + its id; metadata.source is
// "Intercom"; merged into the stored customer):
//
//   - contact.user.created/updated, contact.lead.created/updated/signed_up,
//     contact.email.updated, contact.unsubscribed and every other contact
//     topic carrying a contact: an upsert of the contact;
//   - contact.*.tag.created / .tag.deleted: the tag's name is added to or
//     removed from the stored customer's intercom_tags (the rest of the
//     customer is left as stored);
//   - contact.deleted (and contact.user.deleted, contact.lead.deleted): the
//     customer is deleted (found by external_id, by the source_id it was
//     last written under, or as "intercom:" + id).
//
// Notifications about one contact apply in order: each carries a version
// (the contact's updated_at, else the notification's created_at), and one
// older than the newest applied is dropped (answered 200), under a lock
// on the contact that the store holds across replicas
// ([WebhookStore.UpdateContactState]), so two replicas handling two
// notifications of one contact cannot go backwards. A deleted contact
// stays deleted: later notifications about it are dropped. A notification
// with no version at all is applied as it comes.
type WebhookHandler struct {
	cfg      WebhookConfig
	log      *slog.Logger
	now      func() time.Time
	contacts WebhookStore // Store, or a MemoryWebhookStore for contact ordering
	tags     tagCache

	mu        sync.Mutex
	state     map[string]bool // without Store: id -> done (false: in flight)
	ring      []string        // done ids, oldest first, for eviction
	next      int
	lastPrune time.Time
}

// NewWebhookHandler returns a handler for cfg.
func NewWebhookHandler(cfg WebhookConfig) (*WebhookHandler, error) {
	if cfg.Secret == "" {
		return nil, errors.New("intercom: WebhookConfig.Secret is required")
	}
	if cfg.OnContact == nil && cfg.OnNotification == nil && cfg.Customers == nil {
		return nil, errors.New("intercom: WebhookConfig needs Customers, OnContact or OnNotification")
	}
	if cfg.Retention < 0 {
		return nil, fmt.Errorf("intercom: WebhookConfig.Retention %v is negative", cfg.Retention)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.RememberIDs <= 0 {
		cfg.RememberIDs = 10000
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultWebhookRetention
	}
	h := &WebhookHandler{cfg: cfg, log: cfg.Logger, now: cfg.Now, contacts: cfg.Store}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.contacts == nil {
		h.contacts = &MemoryWebhookStore{}
		h.state, h.ring = map[string]bool{}, make([]string, cfg.RememberIDs)
	}
	return h, nil
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
	ctx := r.Context()
	if h.cfg.Meter != nil {
		if err := h.cfg.Meter.CountInbound(ctx); err != nil {
			if errors.Is(err, ErrInboundLimit) {
				h.log.WarnContext(ctx, "intercom webhook: inbound call limit reached; notification not handled", "id", n.ID, "topic", n.Topic, "err", err)
				http.Error(w, "inbound call limit reached", http.StatusTooManyRequests)
				return
			}
			h.log.ErrorContext(ctx, "intercom webhook: counting the call failed", "id", n.ID, "err", err)
			http.Error(w, "notification not processed", http.StatusInternalServerError)
			return
		}
	}
	switch claim, err := h.begin(ctx, n.ID); {
	case err != nil:
		h.log.ErrorContext(ctx, "intercom webhook: claiming the notification failed", "id", n.ID, "err", err)
		http.Error(w, "notification not processed", http.StatusInternalServerError)
		return
	case claim == AlreadyHandled:
		w.WriteHeader(http.StatusOK) // a repeat
		return
	case claim == InFlight:
		if h.cfg.Store == nil {
			w.WriteHeader(http.StatusOK) // in flight in this process, which answers for it
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(WebhookClaimLease/time.Second)))
		http.Error(w, "notification is being handled", http.StatusServiceUnavailable)
		return
	}
	if err := h.dispatch(ctx, n); err != nil {
		h.end(ctx, n.ID, false)
		h.log.ErrorContext(ctx, "intercom webhook: handler failed", "id", n.ID, "topic", n.Topic, "err", err)
		status := http.StatusInternalServerError
		if errors.Is(err, ErrInvalid) {
			status = http.StatusBadRequest
		}
		http.Error(w, "notification not processed", status)
		return
	}
	h.end(ctx, n.ID, true)
	w.WriteHeader(http.StatusOK)
	h.maybePrune(ctx)
}

func (h *WebhookHandler) dispatch(ctx context.Context, n Notification) error {
	if h.cfg.OnContact != nil || h.cfg.Customers != nil {
		ev, ok, err := ParseContactEvent(n)
		if err != nil {
			return err
		}
		if ok {
			if h.cfg.Customers != nil {
				if err := h.syncContact(ctx, ev); err != nil {
					return err
				}
			}
			if h.cfg.OnContact != nil {
				return h.cfg.OnContact(ctx, ev)
			}
			return nil
		}
	}
	if h.cfg.OnNotification != nil {
		return h.cfg.OnNotification(ctx, n)
	}
	return nil
}

// begin claims id in the Store, or in this process without one.
func (h *WebhookHandler) begin(ctx context.Context, id string) (ClaimResult, error) {
	if h.cfg.Store != nil {
		return h.cfg.Store.ClaimNotification(ctx, id, h.now(), WebhookClaimLease)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if done, seen := h.state[id]; seen {
		if done {
			return AlreadyHandled, nil
		}
		return InFlight, nil
	}
	h.state[id] = false
	return Claimed, nil
}

// end records the outcome: a success is remembered, a failure forgotten so
// a redelivery is processed.
func (h *WebhookHandler) end(ctx context.Context, id string, ok bool) {
	if h.cfg.Store != nil {
		if err := h.cfg.Store.FinishNotification(context.WithoutCancel(ctx), id, ok, h.now()); err != nil {
			// A handled id not recorded as such: a redelivery after the
			// lease is handled again (the writes are idempotent).
			h.log.ErrorContext(ctx, "intercom webhook: recording the outcome failed", "id", id, "handled", ok, "err", err)
		}
		return
	}
	h.endLocal(id, ok)
}

// Prune makes Config.Store forget what is older than Config.Retention
// (handled notification ids, lapsed claims, deleted contacts) and returns
// how many records it removed. The handler calls it at most once an hour
// by itself; a host may call it on its own schedule too. Without a Store
// it does nothing.
func (h *WebhookHandler) Prune(ctx context.Context) (int, error) {
	if h.cfg.Store == nil {
		return 0, nil
	}
	n, err := h.cfg.Store.PruneWebhookState(ctx, h.now().Add(-h.cfg.Retention))
	if err != nil {
		return n, fmt.Errorf("intercom: pruning webhook state: %w", err)
	}
	return n, nil
}

// pruneEvery is how often the handler prunes the Store by itself.
const pruneEvery = time.Hour

func (h *WebhookHandler) maybePrune(ctx context.Context) {
	if h.cfg.Store == nil {
		return
	}
	now := h.now()
	h.mu.Lock()
	due := h.lastPrune.IsZero() || now.Sub(h.lastPrune) >= pruneEvery
	if due {
		h.lastPrune = now
	}
	h.mu.Unlock()
	if !due {
		return
	}
	if n, err := h.Prune(context.WithoutCancel(ctx)); err != nil {
		h.log.ErrorContext(ctx, "intercom webhook: pruning failed", "err", err)
	} else if n > 0 {
		h.log.DebugContext(ctx, "intercom webhook: pruned old state", "records", n)
	}
}

// endLocal records the outcome without a Store: a success is remembered
// (evicting the oldest remembered id), a failure forgotten.
func (h *WebhookHandler) endLocal(id string, ok bool) {
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
