package intercom

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// Tag is an Intercom tag. Tags listed inline in a contact carry only their
// id; Name is filled where Intercom sends it (tag endpoints, webhooks) or
// after SyncContacts resolves it.
type Tag struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// wireContact is Intercom's contact object, as far as this package reads it.
type wireContact struct {
	Type                   string         `json:"type,omitempty"`
	ID                     string         `json:"id"`
	WorkspaceID            string         `json:"workspace_id,omitempty"`
	ExternalID             *string        `json:"external_id"`
	Role                   string         `json:"role"`
	Email                  *string        `json:"email"`
	Phone                  *string        `json:"phone"`
	Name                   *string        `json:"name"`
	UnsubscribedFromEmails bool           `json:"unsubscribed_from_emails"`
	CustomAttributes       map[string]any `json:"custom_attributes"`
	Tags                   wireTags       `json:"tags"`
	CreatedAt              int64          `json:"created_at"`
	UpdatedAt              int64          `json:"updated_at"`
}

// wireTags accepts the shapes Intercom uses for a contact's tags: a
// contact_tags object ({"data":[...]}), a tag.list ({"tags":[...]}) or a
// bare array.
type wireTags []Tag

func (t *wireTags) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = nil
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var list []Tag
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		*t = list
		return nil
	}
	var obj struct {
		Data []Tag `json:"data"`
		Tags []Tag `json:"tags"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*t = append(obj.Data, obj.Tags...)
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (w *wireContact) contact() Contact {
	c := Contact{
		ID:                     w.ID,
		Role:                   Role(w.Role),
		ExternalID:             str(w.ExternalID),
		Email:                  str(w.Email),
		Phone:                  str(w.Phone),
		Name:                   str(w.Name),
		UnsubscribedFromEmails: w.UnsubscribedFromEmails,
		CustomAttributes:       w.CustomAttributes,
		CreatedAt:              unixTime(w.CreatedAt),
		UpdatedAt:              unixTime(w.UpdatedAt),
	}
	if len(w.Tags) > 0 {
		c.Tags = []Tag(w.Tags)
	}
	return c
}

// GetContact returns the contact with Intercom id id (GET /contacts/{id}).
// A merged contact fails with an *Error matching ErrContactMerged whose
// CanonicalContactID names the contact to use instead.
func (c *Client) GetContact(ctx context.Context, id string) (Contact, error) {
	if id == "" {
		return Contact{}, fmt.Errorf("%w: contact id is empty", ErrInvalid)
	}
	return c.getContact(ctx, "/contacts/"+url.PathEscape(id))
}

// FindContactByExternalID returns the user whose external_id is
// externalID (GET /contacts/find_by_external_id/{id}); Intercom answers
// this for users only, not leads. No such user gives an error matching
// ErrNotFound.
func (c *Client) FindContactByExternalID(ctx context.Context, externalID string) (Contact, error) {
	if externalID == "" {
		return Contact{}, fmt.Errorf("%w: external id is empty", ErrInvalid)
	}
	return c.getContact(ctx, "/contacts/find_by_external_id/"+url.PathEscape(externalID))
}

func (c *Client) getContact(ctx context.Context, path string) (Contact, error) {
	var w wireContact
	if err := c.do(ctx, &request{method: http.MethodGet, path: path, replayable: true}, &w); err != nil {
		return Contact{}, err
	}
	return w.contact(), nil
}

// ContactInput is the body of a contact create or update. Empty fields are
// left out (so an update leaves them as they are).
type ContactInput struct {
	// Role is "user" or "lead" (create only; default user when ExternalID
	// or Email is set).
	Role       Role   `json:"role,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Name       string `json:"name,omitempty"`
	// UnsubscribedFromEmails is sent when not nil.
	UnsubscribedFromEmails *bool `json:"unsubscribed_from_emails,omitempty"`
	// CustomAttributes must name attributes that exist in the workspace
	// (see CreateDataAttribute).
	CustomAttributes map[string]any `json:"custom_attributes,omitempty"`
}

// CreateContact creates a contact (POST /contacts). Intercom requires at
// least one of Role, ExternalID and Email.
//
// A create that may have reached Intercom is not repeated (ErrAmbiguous):
// look the contact up by external id before trying again.
func (c *Client) CreateContact(ctx context.Context, in ContactInput) (Contact, error) {
	if in.Role == "" && in.ExternalID == "" && in.Email == "" {
		return Contact{}, fmt.Errorf("%w: contact: one of Role, ExternalID and Email is required", ErrInvalid)
	}
	req, err := newRequest(http.MethodPost, "/contacts", &in)
	if err != nil {
		return Contact{}, err
	}
	var w wireContact
	if err := c.do(ctx, req, &w); err != nil {
		return Contact{}, err
	}
	return w.contact(), nil
}

// UpdateContact updates contact id with the set fields of in
// (PUT /contacts/{id}).
func (c *Client) UpdateContact(ctx context.Context, id string, in ContactInput) (Contact, error) {
	if id == "" {
		return Contact{}, fmt.Errorf("%w: contact id is empty", ErrInvalid)
	}
	req, err := newRequest(http.MethodPut, "/contacts/"+url.PathEscape(id), &in)
	if err != nil {
		return Contact{}, err
	}
	var w wireContact
	if err := c.do(ctx, req, &w); err != nil {
		return Contact{}, err
	}
	return w.contact(), nil
}

// MaxPerPage is the largest page Intercom serves for contacts.
const MaxPerPage = 150

// ListOptions tunes Contacts and SearchContacts.
type ListOptions struct {
	// PerPage is the page size, 1 to MaxPerPage. Default MaxPerPage.
	PerPage int
	// StartingAfter resumes a listing at a cursor (pages.next.starting_after).
	StartingAfter string
}

func (o ListOptions) perPage() (int, error) {
	switch {
	case o.PerPage == 0:
		return MaxPerPage, nil
	case o.PerPage < 0 || o.PerPage > MaxPerPage:
		return 0, fmt.Errorf("%w: ListOptions.PerPage %d is not between 1 and %d", ErrInvalid, o.PerPage, MaxPerPage)
	}
	return o.PerPage, nil
}

type contactList struct {
	Data       []wireContact `json:"data"`
	TotalCount int           `json:"total_count"`
	Pages      *struct {
		Next *struct {
			StartingAfter string `json:"starting_after"`
		} `json:"next"`
	} `json:"pages"`
}

func (l *contactList) next() string {
	if l.Pages == nil || l.Pages.Next == nil {
		return ""
	}
	return l.Pages.Next.StartingAfter
}

// Contacts iterates over every contact of the workspace (GET /contacts),
// following cursor pages (pages.next.starting_after). Merged contacts are
// not listed. Iteration stops at the first error, which is yielded.
func (c *Client) Contacts(ctx context.Context, opts ListOptions) iter.Seq2[Contact, error] {
	return c.paginate(ctx, opts, func(perPage int, cursor string) (*request, error) {
		q := url.Values{"per_page": {strconv.Itoa(perPage)}}
		if cursor != "" {
			q.Set("starting_after", cursor)
		}
		return &request{method: http.MethodGet, path: "/contacts", query: q, replayable: true}, nil
	})
}

// SearchQuery is a contact search filter: a single condition (Field,
// Operator such as "=", "~", ">", Value) or a group (Operator "AND" or
// "OR", Value a []SearchQuery). Intercom allows two levels of nesting and
// 15 filters per group.
type SearchQuery struct {
	Field    string `json:"field,omitempty"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

// SearchOptions tunes SearchContacts.
type SearchOptions struct {
	ListOptions
	// SortField orders the results by a contact field; SortOrder is
	// "ascending" or "descending" (Intercom's default).
	SortField, SortOrder string
}

type searchRequest struct {
	Query      SearchQuery       `json:"query"`
	Pagination *searchPagination `json:"pagination,omitempty"`
	Sort       *searchSort       `json:"sort,omitempty"`
}

type searchPagination struct {
	PerPage       int    `json:"per_page,omitempty"`
	StartingAfter string `json:"starting_after,omitempty"`
}

type searchSort struct {
	Field string `json:"field"`
	Order string `json:"order,omitempty"`
}

// SearchContacts iterates over the contacts matching q
// (POST /contacts/search, the cursor travels in the body). New contacts
// may take a few minutes to become searchable.
func (c *Client) SearchContacts(ctx context.Context, q SearchQuery, opts SearchOptions) iter.Seq2[Contact, error] {
	return c.paginate(ctx, opts.ListOptions, func(perPage int, cursor string) (*request, error) {
		if q.Operator == "" {
			return nil, fmt.Errorf("%w: SearchQuery.Operator is empty", ErrInvalid)
		}
		body := searchRequest{Query: q, Pagination: &searchPagination{PerPage: perPage, StartingAfter: cursor}}
		if opts.SortField != "" {
			body.Sort = &searchSort{Field: opts.SortField, Order: opts.SortOrder}
		}
		r, err := newRequest(http.MethodPost, "/contacts/search", &body)
		if err != nil {
			return nil, err
		}
		r.replayable = true // a search changes nothing
		return r, nil
	})
}

func (c *Client) paginate(ctx context.Context, opts ListOptions, page func(perPage int, cursor string) (*request, error)) iter.Seq2[Contact, error] {
	return func(yield func(Contact, error) bool) {
		perPage, err := opts.perPage()
		if err != nil {
			yield(Contact{}, err)
			return
		}
		cursor := opts.StartingAfter
		for {
			req, err := page(perPage, cursor)
			if err != nil {
				yield(Contact{}, err)
				return
			}
			var list contactList
			if err := c.do(ctx, req, &list); err != nil {
				yield(Contact{}, err)
				return
			}
			for i := range list.Data {
				if !yield(list.Data[i].contact(), nil) {
					return
				}
			}
			next := list.next()
			if next == "" || len(list.Data) == 0 || next == cursor {
				return
			}
			cursor = next
		}
	}
}

// ContactTags lists the tags of a contact (GET /contacts/{id}/tags).
func (c *Client) ContactTags(ctx context.Context, contactID string) ([]Tag, error) {
	if contactID == "" {
		return nil, fmt.Errorf("%w: contact id is empty", ErrInvalid)
	}
	var out struct {
		Data []Tag `json:"data"`
	}
	if err := c.do(ctx, &request{method: http.MethodGet, path: "/contacts/" + url.PathEscape(contactID) + "/tags", replayable: true}, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// TagContact attaches tag tagID to a contact (POST /contacts/{id}/tags).
// Tagging twice is harmless, so it is retried like a read.
func (c *Client) TagContact(ctx context.Context, contactID, tagID string) (Tag, error) {
	if contactID == "" || tagID == "" {
		return Tag{}, fmt.Errorf("%w: contact id %q or tag id %q is empty", ErrInvalid, contactID, tagID)
	}
	req, err := newRequest(http.MethodPost, "/contacts/"+url.PathEscape(contactID)+"/tags", map[string]string{"id": tagID})
	if err != nil {
		return Tag{}, err
	}
	req.replayable = true
	var t Tag
	if err := c.do(ctx, req, &t); err != nil {
		return Tag{}, err
	}
	return t, nil
}

// UntagContact removes tag tagID from a contact
// (DELETE /contacts/{id}/tags/{tag_id}).
func (c *Client) UntagContact(ctx context.Context, contactID, tagID string) error {
	if contactID == "" || tagID == "" {
		return fmt.Errorf("%w: contact id %q or tag id %q is empty", ErrInvalid, contactID, tagID)
	}
	return c.do(ctx, &request{method: http.MethodDelete, path: "/contacts/" + url.PathEscape(contactID) + "/tags/" + url.PathEscape(tagID), replayable: true}, nil)
}

// Tags lists the workspace's tags (GET /tags).
func (c *Client) Tags(ctx context.Context) ([]Tag, error) {
	var out struct {
		Data []Tag `json:"data"`
	}
	if err := c.do(ctx, &request{method: http.MethodGet, path: "/tags", replayable: true}, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// CreateTag creates a tag, or returns the existing one with that name
// (POST /tags; names are case-insensitive, so it is safe to repeat).
func (c *Client) CreateTag(ctx context.Context, name string) (Tag, error) {
	if name == "" {
		return Tag{}, fmt.Errorf("%w: tag name is empty", ErrInvalid)
	}
	req, err := newRequest(http.MethodPost, "/tags", map[string]string{"name": name})
	if err != nil {
		return Tag{}, err
	}
	req.replayable = true
	var t Tag
	if err := c.do(ctx, req, &t); err != nil {
		return Tag{}, err
	}
	return t, nil
}
