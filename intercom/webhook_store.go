package intercom

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultWebhookRetention is how long a [WebhookStore] remembers handled
// notification ids and deleted contacts when WebhookConfig.Retention is
// zero. Intercom stops delivering to (and suspends) a subscription whose
// endpoint has failed for 7 days, so no notification is delivered again
// after that.
const DefaultWebhookRetention = 7 * 24 * time.Hour

// WebhookClaimLease is how long a claimed notification stays in flight
// (see [WebhookStore.ClaimNotification]): a handler that died while
// handling it (a crashed replica) leaves the claim, and a redelivery
// after the lease is handled again.
const WebhookClaimLease = time.Minute

// ClaimResult is what [WebhookStore.ClaimNotification] found.
type ClaimResult int

// The claim results.
const (
	// Claimed: the caller handles the notification and then calls
	// FinishNotification.
	Claimed ClaimResult = iota + 1
	// AlreadyHandled: a handler finished it; the delivery is a repeat.
	AlreadyHandled
	// InFlight: another handler claimed it and its lease has not run out.
	InFlight
)

// String returns the result's name.
func (r ClaimResult) String() string {
	switch r {
	case Claimed:
		return "claimed"
	case AlreadyHandled:
		return "already_handled"
	case InFlight:
		return "in_flight"
	}
	return fmt.Sprintf("ClaimResult(%d)", int(r))
}

// ContactState is what a [WebhookStore] remembers of one Intercom contact,
// so that notifications about it apply in order.
type ContactState struct {
	// UpdatedAt is the newest contact updated_at (or, for a notification
	// without one, its created_at) applied to the customer; zero when none.
	UpdatedAt time.Time
	// SourceID is the customer source_id the contact was last written
	// under (to find it again from an id-only deletion).
	SourceID string
	// DeletedAt is the created_at of the contact.deleted notification;
	// zero while the contact exists. A deleted contact's state is
	// forgotten once its DeletedAt is older than the retention.
	DeletedAt time.Time
}

// WebhookStore is the webhook state that the replicas of a host share:
// which notifications were handled (de-duplication) and, per contact, the
// newest version applied (ordering). store.Memory and store/postgres
// implement it; [MemoryWebhookStore] is the in-process one. All methods
// must be safe for concurrent use, by goroutines and by processes sharing
// the store. Times come from the handler's clock.
type WebhookStore interface {
	// ClaimNotification claims notification id for the caller: Claimed
	// when it is unknown, or in flight with a lease that ended before now,
	// or was released by a failed handler; then it is in flight until
	// now+lease. AlreadyHandled when a handler finished it, InFlight when
	// another claim is live. The check and the claim are one atomic step.
	ClaimNotification(ctx context.Context, id string, now time.Time, lease time.Duration) (ClaimResult, error)

	// FinishNotification ends the caller's claim: handled true remembers
	// the id as handled at now (until pruned); false forgets the claim so
	// that a redelivery is handled.
	FinishNotification(ctx context.Context, id string, handled bool, now time.Time) error

	// UpdateContactState runs fn with the state of contact contactID (the
	// zero ContactState when unknown) while holding a lock on that contact
	// that every UpdateContactState of the same contact waits for, in this
	// process and in every other one sharing the store. When fn returns
	// nil the state it returns is stored before the lock is released;
	// when it returns an error nothing is stored and the error is
	// returned. fn may write elsewhere (customers) but must not call
	// UpdateContactState itself.
	UpdateContactState(ctx context.Context, contactID string, fn func(ContactState) (ContactState, error)) error

	// PruneWebhookState forgets notifications handled before before,
	// claims whose lease ended before before, and the state of contacts
	// deleted before before. It returns how many records it removed.
	PruneWebhookState(ctx context.Context, before time.Time) (int, error)
}

// MemoryWebhookStore is an in-process [WebhookStore]: it de-duplicates and
// orders notifications for the handlers of one process only. Its zero
// value is ready to use. store.Memory uses one; several replicas need a
// shared store (store/postgres).
type MemoryWebhookStore struct {
	mu       sync.Mutex
	notes    map[string]memNote
	contacts map[string]*memContact
}

type memNote struct {
	until   time.Time // lease end while in flight
	handled time.Time // zero while in flight
}

type memContact struct {
	lock  sync.Mutex   // held while fn runs
	refs  int          // callers holding or waiting for lock; guarded by MemoryWebhookStore.mu
	state ContactState // guarded by lock (read by Prune when refs is 0)
	known bool         // state was stored once
}

var _ WebhookStore = (*MemoryWebhookStore)(nil)

// ClaimNotification implements WebhookStore.
func (s *MemoryWebhookStore) ClaimNotification(ctx context.Context, id string, now time.Time, lease time.Duration) (ClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.notes[id]; ok {
		if !n.handled.IsZero() {
			return AlreadyHandled, nil
		}
		if n.until.After(now) {
			return InFlight, nil
		}
	}
	if s.notes == nil {
		s.notes = map[string]memNote{}
	}
	s.notes[id] = memNote{until: now.Add(lease)}
	return Claimed, nil
}

// FinishNotification implements WebhookStore.
func (s *MemoryWebhookStore) FinishNotification(ctx context.Context, id string, handled bool, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.notes[id]; !ok || !n.handled.IsZero() {
		return nil
	}
	if handled {
		s.notes[id] = memNote{handled: now}
	} else {
		delete(s.notes, id)
	}
	return nil
}

// UpdateContactState implements WebhookStore.
func (s *MemoryWebhookStore) UpdateContactState(ctx context.Context, contactID string, fn func(ContactState) (ContactState, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.contacts == nil {
		s.contacts = map[string]*memContact{}
	}
	c := s.contacts[contactID]
	if c == nil {
		c = &memContact{}
		s.contacts[contactID] = c
	}
	c.refs++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if c.refs--; c.refs == 0 && !c.known {
			delete(s.contacts, contactID)
		}
		s.mu.Unlock()
	}()
	c.lock.Lock()
	defer c.lock.Unlock()
	next, err := fn(c.state)
	if err != nil {
		return err
	}
	c.state, c.known = next, true
	return nil
}

// PruneWebhookState implements WebhookStore.
func (s *MemoryWebhookStore) PruneWebhookState(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, note := range s.notes {
		if !note.handled.IsZero() && note.handled.Before(before) || note.handled.IsZero() && note.until.Before(before) {
			delete(s.notes, id)
			n++
		}
	}
	for id, c := range s.contacts {
		// refs == 0: nobody holds c.lock, and the last holder's writes
		// happened before its refs-- under s.mu.
		if c.refs == 0 && !c.state.DeletedAt.IsZero() && c.state.DeletedAt.Before(before) {
			delete(s.contacts, id)
			n++
		}
	}
	return n, nil
}
