package intercom

import (
	"context"
	"time"
)

// Messenger is what codedrop's distribution Manager needs from Intercom to
// deliver a message: find the recipient's contact and send to it. *Client
// implements it; intercomtest's server gives a Client that talks to a fake.
// Implementations must be safe for concurrent use.
type Messenger interface {
	// GetContact returns the contact with Intercom id id.
	GetContact(ctx context.Context, id string) (Contact, error)
	// FindContactByExternalID returns the contact whose external_id (the
	// host's user id) is externalID, or an error matching ErrNotFound.
	FindContactByExternalID(ctx context.Context, externalID string) (Contact, error)
	// SendMessage sends an admin-initiated message (POST /messages). An
	// error matching ErrAmbiguous means the message may have been sent.
	SendMessage(ctx context.Context, msg Message) (SentMessage, error)
}

// MessageType is the kind of admin-initiated message.
type MessageType string

// The message types (wire values of message_type).
const (
	InApp MessageType = "inapp"
	Email MessageType = "email"
)

// Role is an Intercom contact's role.
type Role string

// The contact roles.
const (
	RoleUser Role = "user"
	RoleLead Role = "lead"
)

// Message is an admin-initiated message. SendMessage checks it before
// sending and names any missing field (ErrInvalid).
type Message struct {
	Type MessageType
	// Subject is the email subject (email only; required there).
	Subject string
	// Body is HTML or plain text.
	Body string
	// Template is "plain" or "personal" (email only; default "plain").
	Template string
	// FromAdminID is the id of the admin the message is sent from.
	FromAdminID string
	// To is the recipient contact.
	To Recipient
	// CreateConversationWithoutContactReply opens the conversation at once.
	CreateConversationWithoutContactReply bool
	// Paced says the caller already took this call from the rate limit
	// with Client.Wait: SendMessage sends at once, and returns a 429 (an
	// error matching ErrRateLimited, with RateLimitReset) instead of
	// waiting and retrying, so the caller decides when to try again.
	Paced bool
}

// Recipient names a contact by Intercom id and role (an empty Role is
// sent as "user"). A customer made by ContactToCustomer holds both under
// MetaIntercomID and MetaIntercomRole.
type Recipient struct {
	Role Role
	ID   string
}

// SentMessage is Intercom's answer to a sent message.
type SentMessage struct {
	ID             string
	ConversationID string
	Type           MessageType
	CreatedAt      time.Time
}

// Contact is an Intercom contact (a user or a lead).
type Contact struct {
	ID                     string
	Role                   Role
	ExternalID             string
	Email                  string
	Phone                  string
	Name                   string
	UnsubscribedFromEmails bool
	CustomAttributes       map[string]any
	// Tags are the contact's tags (ids always; names when Intercom sent
	// them or SyncContacts resolved them).
	Tags      []Tag
	CreatedAt time.Time
	UpdatedAt time.Time
}
