package intercomtest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/codedrop/codedrop/intercom"
)

// FakeMessenger is an in-memory intercom.Messenger without HTTP, for unit
// tests of code that only sends. It validates messages like the client
// and records them. It is safe for concurrent use.
type FakeMessenger struct {
	// Fail, when set, is called at the start of every method with the
	// method's name ("GetContact", "FindContactByExternalID",
	// "SendMessage"); a non-nil result is returned as the method's error
	// (for SendMessage, before anything is recorded).
	Fail func(method string) error

	mu         sync.Mutex
	contacts   map[string]intercom.Contact
	byExternal map[string]string
	messages   []Message
}

var _ intercom.Messenger = (*FakeMessenger)(nil)

// NewFakeMessenger returns a FakeMessenger holding contacts (each needs an ID).
func NewFakeMessenger(contacts ...intercom.Contact) *FakeMessenger {
	f := &FakeMessenger{contacts: map[string]intercom.Contact{}, byExternal: map[string]string{}}
	for _, c := range contacts {
		f.AddContact(c)
	}
	return f
}

// AddContact adds or replaces a contact.
func (f *FakeMessenger) AddContact(c intercom.Contact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Role == "" {
		c.Role = intercom.RoleUser
	}
	f.contacts[c.ID] = c
	if c.ExternalID != "" {
		f.byExternal[c.ExternalID] = c.ID
	}
}

func (f *FakeMessenger) fail(method string) error {
	if f.Fail == nil {
		return nil
	}
	return f.Fail(method)
}

func notFound(what string) error {
	return &intercom.Error{StatusCode: 404, Errors: []intercom.ErrorDetail{{Code: "not_found", Message: what + " Not Found"}}}
}

// GetContact implements intercom.Messenger.
func (f *FakeMessenger) GetContact(ctx context.Context, id string) (intercom.Contact, error) {
	if err := f.fail("GetContact"); err != nil {
		return intercom.Contact{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.contacts[id]
	if !ok {
		return intercom.Contact{}, notFound("User")
	}
	return c, nil
}

// FindContactByExternalID implements intercom.Messenger (users only, as
// Intercom).
func (f *FakeMessenger) FindContactByExternalID(ctx context.Context, externalID string) (intercom.Contact, error) {
	if err := f.fail("FindContactByExternalID"); err != nil {
		return intercom.Contact{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.contacts[f.byExternal[externalID]]
	if !ok || c.Role != intercom.RoleUser {
		return intercom.Contact{}, notFound("User")
	}
	return c, nil
}

// SendMessage implements intercom.Messenger.
func (f *FakeMessenger) SendMessage(ctx context.Context, msg intercom.Message) (intercom.SentMessage, error) {
	if err := f.fail("SendMessage"); err != nil {
		return intercom.SentMessage{}, err
	}
	if err := ctx.Err(); err != nil {
		return intercom.SentMessage{}, err
	}
	if err := msg.Validate(); err != nil {
		return intercom.SentMessage{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.contacts[msg.To.ID]; !ok {
		return intercom.SentMessage{}, notFound("User")
	}
	if msg.Type == intercom.Email && msg.Template == "" {
		msg.Template = intercom.TemplatePlain
	}
	if msg.To.Role == "" {
		msg.To.Role = intercom.RoleUser
	}
	n := len(f.messages) + 1
	m := Message{Message: msg, ID: strconv.Itoa(1000 + n), ConversationID: fmt.Sprintf("conv-%d", n), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	f.messages = append(f.messages, m)
	return intercom.SentMessage{ID: m.ID, ConversationID: m.ConversationID, Type: msg.Type, CreatedAt: m.CreatedAt}, nil
}

// Messages returns a copy of the messages sent so far, in order.
func (f *FakeMessenger) Messages() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.messages...)
}
