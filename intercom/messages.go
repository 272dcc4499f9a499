package intercom

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Email templates (Message.Template).
const (
	TemplatePlain    = "plain"
	TemplatePersonal = "personal"
)

// messageRequest is the body of POST /messages.
type messageRequest struct {
	MessageType string        `json:"message_type"`
	Subject     string        `json:"subject,omitempty"`
	Body        string        `json:"body"`
	Template    string        `json:"template,omitempty"`
	From        wireReference `json:"from"`
	To          wireReference `json:"to"`
	// CreateConversation is create_conversation_without_contact_reply.
	CreateConversation bool `json:"create_conversation_without_contact_reply,omitempty"`
}

type wireReference struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type messageResponse struct {
	Type           string `json:"type"`
	ID             string `json:"id"`
	CreatedAt      int64  `json:"created_at"`
	MessageType    string `json:"message_type"`
	ConversationID string `json:"conversation_id"`
}

// Validate reports the missing or invalid fields of msg (an error matching
// ErrInvalid that names them); SendMessage calls it before sending.
func (msg *Message) Validate() error {
	var problems []string
	switch msg.Type {
	case InApp:
	case Email:
		if strings.TrimSpace(msg.Subject) == "" {
			problems = append(problems, "Subject is required for an email")
		}
		switch msg.Template {
		case "", TemplatePlain, TemplatePersonal:
		default:
			problems = append(problems, fmt.Sprintf("Template %q is not %q or %q", msg.Template, TemplatePlain, TemplatePersonal))
		}
	default:
		problems = append(problems, fmt.Sprintf("Type %q is not %q or %q", msg.Type, InApp, Email))
	}
	if strings.TrimSpace(msg.Body) == "" {
		problems = append(problems, "Body is required")
	}
	if msg.FromAdminID == "" {
		problems = append(problems, "FromAdminID is required")
	}
	if msg.To.ID == "" {
		problems = append(problems, "To.ID is required")
	}
	switch msg.To.Role {
	case RoleUser, RoleLead, "":
	default:
		problems = append(problems, fmt.Sprintf("To.Role %q is not %q or %q", msg.To.Role, RoleUser, RoleLead))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: message: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// SendMessage sends an admin-initiated in-app message or email to one
// contact (POST /messages) and returns Intercom's message id and, when
// Intercom opened one, the conversation id.
//
// A message that is rejected before sending (bad fields) fails with
// ErrInvalid. A 429 is waited out and retried. A send that may
// have reached Intercom (a 5xx, a connection lost after the request went
// out, a deadline hit while waiting for the answer) is not repeated: the
// error matches ErrAmbiguous and the caller decides.
func (c *Client) SendMessage(ctx context.Context, msg Message) (SentMessage, error) {
	if err := msg.Validate(); err != nil {
		return SentMessage{}, err
	}
	body := messageRequest{
		MessageType:        string(msg.Type),
		Body:               msg.Body,
		From:               wireReference{Type: "admin", ID: msg.FromAdminID},
		To:                 wireReference{Type: string(msg.To.Role), ID: msg.To.ID},
		CreateConversation: msg.CreateConversationWithoutContactReply,
	}
	if body.To.Type == "" {
		body.To.Type = string(RoleUser)
	}
	if msg.Type == Email {
		body.Subject = msg.Subject
		body.Template = msg.Template
		if body.Template == "" {
			body.Template = TemplatePlain
		}
	}
	req, err := newRequest(http.MethodPost, "/messages", &body)
	if err != nil {
		return SentMessage{}, err
	}
	req.paced = msg.Paced
	var resp messageResponse
	if err := c.do(ctx, req, &resp); err != nil {
		return SentMessage{}, err
	}
	return SentMessage{
		ID:             resp.ID,
		ConversationID: resp.ConversationID,
		Type:           MessageType(resp.MessageType),
		CreatedAt:      unixTime(resp.CreatedAt),
	}, nil
}

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
