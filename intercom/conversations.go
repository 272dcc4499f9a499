package intercom

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Reply is an admin's reply in a conversation (used by the Rewards app to
// hand a code to a customer in the inbox).
type Reply struct {
	// AdminID is the replying admin. Required.
	AdminID string
	// Body is HTML or plain text. Required.
	Body string
	// Note makes it an internal note instead of a reply the customer sees.
	Note bool
}

// ReplyToConversation posts an admin reply to a conversation
// (POST /conversations/{id}/reply). Like SendMessage, a reply that may
// have reached Intercom is not repeated (ErrAmbiguous).
func (c *Client) ReplyToConversation(ctx context.Context, conversationID string, r Reply) error {
	if conversationID == "" || r.AdminID == "" || r.Body == "" {
		return fmt.Errorf("%w: reply: conversation id %q, AdminID %q and Body are required", ErrInvalid, conversationID, r.AdminID)
	}
	mt := "comment"
	if r.Note {
		mt = "note"
	}
	req, err := newRequest(http.MethodPost, "/conversations/"+url.PathEscape(conversationID)+"/reply", map[string]string{
		"message_type": mt, "type": "admin", "admin_id": r.AdminID, "body": r.Body,
	})
	if err != nil {
		return err
	}
	return c.do(ctx, req, nil)
}
