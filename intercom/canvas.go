package intercom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Canvas Kit limits, from Intercom's canvas object reference.
const (
	// MaxCanvasBytes bounds a canvas's content and its stored_data (each,
	// as JSON): "Max Size is 64KB".
	MaxCanvasBytes = 64 << 10
	// MinSelectOptions and MaxSelectOptions bound the options of a
	// single-select or dropdown ("2 to 10").
	MinSelectOptions = 2
	MaxSelectOptions = 10
)

// CanvasRequest is the body of a Canvas Kit request: Inbox initialize and
// submit (teammate flows) and Messenger initialize and submit (end-user
// flows). Fields a flow does not send are zero. Parse one with
// ParseCanvasRequest; CanvasHandler does it after checking the signature.
type CanvasRequest struct {
	// WorkspaceID is the workspace (app_id in API 1.2 and below, also
	// accepted).
	WorkspaceID string
	// WorkspaceRegion is the workspace's region as Intercom sends it.
	WorkspaceRegion string
	// Admin is the teammate using an Inbox app (nil in Messenger flows).
	Admin *Admin
	// Conversation is the conversation an Inbox app is shown in.
	Conversation *Conversation
	// Contact is the contact viewed in the Inbox details panel. Intercom's
	// documentation names it both "contact" and "customer"; either is
	// accepted.
	Contact *Contact
	// User is the end user acting in a Messenger flow ("user").
	User *Contact
	// Context is where a Messenger app is shown.
	Context *CanvasContext
	// CurrentCanvas is the canvas the app returned last (submit flows).
	CurrentCanvas *Canvas
	// ComponentID is the id of the component that submitted.
	ComponentID string
	// InputValues are the values of the canvas's input components, by
	// component id (strings for text and selects, []any for checkboxes).
	InputValues map[string]any
	// StoredData is the stored_data the app returned with the current
	// canvas: the request's own stored_data, else current_canvas's.
	StoredData map[string]any
	// CardCreationOptions are the options a configure flow or an Inbox
	// submit response returned; Intercom sends them to the Messenger
	// initialize URL.
	CardCreationOptions map[string]any
}

// Conversation is the conversation of an Inbox Canvas Kit request.
type Conversation struct {
	// ID is the conversation id (a string in the REST API; a number is
	// accepted and formatted).
	ID string
	// State is "open", "closed" or "snoozed" when Intercom sent it.
	State string
	// Raw is the whole conversation object as Intercom sent it.
	Raw json.RawMessage
}

// CanvasContext is the context object of Messenger requests.
type CanvasContext struct {
	// ConversationID is set when Location is "conversation" (Intercom
	// sends an integer; it is kept as its decimal string).
	ConversationID string
	// Location is "conversation", "home", "message" or "operator".
	Location                  string
	Locale                    string
	MessengerActionColour     string
	MessengerBackgroundColour string
	Referrer                  string
}

// ConversationID returns the conversation the request is about:
// Conversation.ID, else Context.ConversationID, else "".
func (r *CanvasRequest) ConversationID() string {
	if r.Conversation != nil && r.Conversation.ID != "" {
		return r.Conversation.ID
	}
	if r.Context != nil {
		return r.Context.ConversationID
	}
	return ""
}

// Input returns input value id as a string ("" when it is absent or not
// a string or number).
func (r *CanvasRequest) Input(id string) string {
	switch v := r.InputValues[id].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	}
	return ""
}

// flexString decodes a JSON string or number into a string.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a string or a number, got %s", b)
		}
		*f = flexString(n.String())
	}
	return nil
}

type wireCanvasRequest struct {
	WorkspaceID         flexString         `json:"workspace_id"`
	AppID               flexString         `json:"app_id"`
	WorkspaceRegion     string             `json:"workspace_region"`
	Admin               *wireCanvasAdmin   `json:"admin"`
	Conversation        json.RawMessage    `json:"conversation"`
	Contact             *wireContact       `json:"contact"`
	Customer            *wireContact       `json:"customer"`
	User                *wireContact       `json:"user"`
	Context             *wireCanvasContext `json:"context"`
	CurrentCanvas       json.RawMessage    `json:"current_canvas"`
	ComponentID         string             `json:"component_id"`
	InputValues         map[string]any     `json:"input_values"`
	StoredData          map[string]any     `json:"stored_data"`
	CardCreationOptions map[string]any     `json:"card_creation_options"`
}

type wireCanvasAdmin struct {
	ID              flexString `json:"id"`
	Name            string     `json:"name"`
	Email           string     `json:"email"`
	HasInboxSeat    bool       `json:"has_inbox_seat"`
	AwayModeEnabled bool       `json:"away_mode_enabled"`
}

type wireCanvasContext struct {
	ConversationID            flexString `json:"conversation_id"`
	Location                  string     `json:"location"`
	Locale                    string     `json:"locale"`
	MessengerActionColour     string     `json:"messenger_action_colour"`
	MessengerBackgroundColour string     `json:"messenger_background_colour"`
	Referrer                  string     `json:"referrer"`
}

// ParseCanvasRequest decodes a Canvas Kit request body. It accepts the
// documented shapes of every flow: the contact under "contact" or
// "customer", numeric or string ids, and current_canvas either as the
// canvas object or wrapped in another "current_canvas" (as Intercom's
// OpenAPI 2.11 describes it). Malformed JSON fails with an error
// matching ErrInvalid that names the field.
func ParseCanvasRequest(body []byte) (*CanvasRequest, error) {
	var w wireCanvasRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: canvas request: %w", ErrInvalid, err)
	}
	r := &CanvasRequest{
		WorkspaceID:         string(w.WorkspaceID),
		WorkspaceRegion:     w.WorkspaceRegion,
		ComponentID:         w.ComponentID,
		InputValues:         w.InputValues,
		StoredData:          w.StoredData,
		CardCreationOptions: w.CardCreationOptions,
	}
	if r.WorkspaceID == "" {
		r.WorkspaceID = string(w.AppID)
	}
	if a := w.Admin; a != nil {
		r.Admin = &Admin{ID: string(a.ID), Name: a.Name, Email: a.Email, HasInboxSeat: a.HasInboxSeat, AwayModeEnabled: a.AwayModeEnabled}
	}
	if len(w.Conversation) > 0 && string(w.Conversation) != "null" {
		var conv struct {
			ID    flexString `json:"id"`
			State string     `json:"state"`
		}
		if err := json.Unmarshal(w.Conversation, &conv); err != nil {
			return nil, fmt.Errorf("%w: canvas request: conversation: %w", ErrInvalid, err)
		}
		r.Conversation = &Conversation{ID: string(conv.ID), State: conv.State, Raw: w.Conversation}
	}
	switch {
	case w.Contact != nil:
		c := w.Contact.contact()
		r.Contact = &c
	case w.Customer != nil:
		c := w.Customer.contact()
		r.Contact = &c
	}
	if w.User != nil {
		u := w.User.contact()
		r.User = &u
	}
	if c := w.Context; c != nil {
		r.Context = &CanvasContext{ConversationID: string(c.ConversationID), Location: c.Location, Locale: c.Locale,
			MessengerActionColour: c.MessengerActionColour, MessengerBackgroundColour: c.MessengerBackgroundColour, Referrer: c.Referrer}
	}
	if len(w.CurrentCanvas) > 0 && string(w.CurrentCanvas) != "null" {
		cv, err := decodeCurrentCanvas(w.CurrentCanvas)
		if err != nil {
			return nil, fmt.Errorf("%w: canvas request: current_canvas: %w", ErrInvalid, err)
		}
		r.CurrentCanvas = cv
		if r.StoredData == nil {
			r.StoredData = cv.StoredData
		}
	}
	return r, nil
}

func decodeCurrentCanvas(b []byte) (*Canvas, error) {
	var probe struct {
		Inner json.RawMessage `json:"current_canvas"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, err
	}
	if len(probe.Inner) > 0 && string(probe.Inner) != "null" {
		b = probe.Inner
	}
	var cv Canvas
	if err := json.Unmarshal(b, &cv); err != nil {
		return nil, err
	}
	return &cv, nil
}

// CanvasResponse is the answer to a Canvas Kit request.
type CanvasResponse struct {
	// Canvas is the UI to show.
	Canvas *Canvas `json:"canvas,omitempty"`
	// CardCreationOptions, in an Inbox submit response, makes Intercom
	// call the app's Messenger initialize URL with them and insert the
	// resulting card into the conversation reply.
	CardCreationOptions map[string]any `json:"card_creation_options,omitempty"`
	// Event marks the app's work as done (CanvasCompleted()).
	Event *CanvasEvent `json:"event,omitempty"`
}

// CanvasEvent is a Canvas Kit response's event; Intercom accepts only
// CanvasEventCompleted.
type CanvasEvent struct {
	Type string `json:"type"`
}

// CanvasEventCompleted is the only canvas event type Intercom accepts.
const CanvasEventCompleted = "completed"

// CanvasCompleted returns the completed event, which closes an Inbox app's
// flow (CanvasResponse.Event).
func CanvasCompleted() *CanvasEvent { return &CanvasEvent{Type: CanvasEventCompleted} }

// Canvas is what a Canvas Kit app shows: content (or, for Messenger live
// canvases, a content URL) and data Intercom sends back with the next
// request.
type Canvas struct {
	Content    *CanvasContent `json:"content,omitempty"`
	ContentURL string         `json:"content_url,omitempty"`
	StoredData map[string]any `json:"stored_data,omitempty"`
}

// CanvasContent is a canvas's list of components.
type CanvasContent struct {
	Components []Component `json:"components"`
}

// Component is one UI component of a canvas: *TextComponent,
// *ButtonComponent, *ListComponent, *SingleSelectComponent,
// *DropdownComponent, *DividerComponent, *SpacerComponent, or a
// *RawComponent (any other type, as decoded from a request's
// current_canvas).
type Component interface {
	// ComponentType is the component's wire type ("text", "button", ...).
	ComponentType() string
}

// CanvasAction is what a canvas's button, list item or select does when
// used.
type CanvasAction struct {
	// Type is CanvasActionSubmit, CanvasActionURL or CanvasActionSheet
	// (Messenger only).
	Type string `json:"type"`
	// URL is required for CanvasActionURL and CanvasActionSheet.
	URL string `json:"url,omitempty"`
}

// The canvas action types.
const (
	CanvasActionSubmit = "submit"
	CanvasActionURL    = "url"
	CanvasActionSheet  = "sheet"
)

// SubmitAction returns a submit action: using the component calls the
// app's submit URL with its id as component_id.
func SubmitAction() *CanvasAction { return &CanvasAction{Type: CanvasActionSubmit} }

// TextComponent shows text (Markdown links and bold render).
type TextComponent struct {
	ID   string `json:"id,omitempty"`
	Text string `json:"text"`
	// Align is "left" (default), "center" or "right".
	Align string `json:"align,omitempty"`
	// Style is "header", "paragraph" (default), "muted" or "error".
	Style string `json:"style,omitempty"`
	// BottomMargin is "none" or empty.
	BottomMargin string `json:"bottom_margin,omitempty"`
}

// ButtonComponent is a button; with a submit action it calls the submit
// URL with its id as component_id.
type ButtonComponent struct {
	ID     string        `json:"id"`
	Label  string        `json:"label"`
	Action *CanvasAction `json:"action"`
	// Style is "primary" (default), "secondary" or "link".
	Style    string `json:"style,omitempty"`
	Disabled bool   `json:"disabled,omitempty"`
}

// ListComponent is a list of items; an item with an action is clickable.
type ListComponent struct {
	Items    []ListItem `json:"items"`
	Disabled bool       `json:"disabled,omitempty"`
}

// ListItem is one item of a ListComponent.
type ListItem struct {
	ID           string        `json:"id"`
	Title        string        `json:"title"`
	Subtitle     string        `json:"subtitle,omitempty"`
	TertiaryText string        `json:"tertiary_text,omitempty"`
	Image        string        `json:"image,omitempty"`
	ImageWidth   int           `json:"image_width,omitempty"`
	ImageHeight  int           `json:"image_height,omitempty"`
	RoundedImage bool          `json:"rounded_image,omitempty"`
	Disabled     bool          `json:"disabled,omitempty"`
	Action       *CanvasAction `json:"action,omitempty"`
}

// SelectOption is an option of a single-select or dropdown.
type SelectOption struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Disabled bool   `json:"disabled,omitempty"`
}

// MarshalJSON adds "type":"option".
func (o SelectOption) MarshalJSON() ([]byte, error) {
	type alias SelectOption
	return marshalTyped("option", alias(o))
}

// SingleSelectComponent is a row of 2 to 10 options; it submits
// {id: option id} in input_values.
type SingleSelectComponent struct {
	ID      string         `json:"id"`
	Label   string         `json:"label,omitempty"`
	Options []SelectOption `json:"options"`
	// Value is the selected option id.
	Value string `json:"value,omitempty"`
	// SaveState is "unsaved" (default), "saved" or "failed".
	SaveState string        `json:"save_state,omitempty"`
	Disabled  bool          `json:"disabled,omitempty"`
	Action    *CanvasAction `json:"action,omitempty"`
}

// DropdownComponent is a dropdown of 2 to 10 options; it submits
// {id: option id} in input_values.
type DropdownComponent struct {
	ID        string         `json:"id"`
	Label     string         `json:"label,omitempty"`
	Options   []SelectOption `json:"options"`
	Value     string         `json:"value,omitempty"`
	SaveState string         `json:"save_state,omitempty"`
	Disabled  bool           `json:"disabled,omitempty"`
}

// DividerComponent is a horizontal rule.
type DividerComponent struct {
	ID           string `json:"id,omitempty"`
	BottomMargin string `json:"bottom_margin,omitempty"`
}

// SpacerComponent is vertical space.
type SpacerComponent struct {
	ID string `json:"id,omitempty"`
	// Size is "xs", "s" (default), "m", "l" or "xl".
	Size string `json:"size,omitempty"`
}

// RawComponent is a component of another type, kept as its JSON.
type RawComponent struct {
	Type string
	JSON json.RawMessage
}

// ComponentType implements Component.
func (c *TextComponent) ComponentType() string { return "text" }

// ComponentType implements Component.
func (c *ButtonComponent) ComponentType() string { return "button" }

// ComponentType implements Component.
func (c *ListComponent) ComponentType() string { return "list" }

// ComponentType implements Component.
func (c *SingleSelectComponent) ComponentType() string { return "single-select" }

// ComponentType implements Component.
func (c *DropdownComponent) ComponentType() string { return "dropdown" }

// ComponentType implements Component.
func (c *DividerComponent) ComponentType() string { return "divider" }

// ComponentType implements Component.
func (c *SpacerComponent) ComponentType() string { return "spacer" }

// ComponentType implements Component.
func (c *RawComponent) ComponentType() string { return c.Type }

// MarshalJSON adds "type":"text".
func (c *TextComponent) MarshalJSON() ([]byte, error) {
	type alias TextComponent
	return marshalTyped("text", alias(*c))
}

// MarshalJSON adds "type":"button".
func (c *ButtonComponent) MarshalJSON() ([]byte, error) {
	type alias ButtonComponent
	return marshalTyped("button", alias(*c))
}

// MarshalJSON adds "type":"list".
func (c *ListComponent) MarshalJSON() ([]byte, error) {
	type alias ListComponent
	return marshalTyped("list", alias(*c))
}

// MarshalJSON adds "type":"item".
func (it ListItem) MarshalJSON() ([]byte, error) {
	type alias ListItem
	return marshalTyped("item", alias(it))
}

// MarshalJSON adds "type":"single-select".
func (c *SingleSelectComponent) MarshalJSON() ([]byte, error) {
	type alias SingleSelectComponent
	return marshalTyped("single-select", alias(*c))
}

// MarshalJSON adds "type":"dropdown".
func (c *DropdownComponent) MarshalJSON() ([]byte, error) {
	type alias DropdownComponent
	return marshalTyped("dropdown", alias(*c))
}

// MarshalJSON adds "type":"divider".
func (c *DividerComponent) MarshalJSON() ([]byte, error) {
	type alias DividerComponent
	return marshalTyped("divider", alias(*c))
}

// MarshalJSON adds "type":"spacer".
func (c *SpacerComponent) MarshalJSON() ([]byte, error) {
	type alias SpacerComponent
	return marshalTyped("spacer", alias(*c))
}

// MarshalJSON writes the component's JSON as it was received.
func (c *RawComponent) MarshalJSON() ([]byte, error) {
	if len(c.JSON) == 0 {
		return json.Marshal(map[string]string{"type": c.Type})
	}
	return c.JSON, nil
}

// UnmarshalJSON decodes each component into its Go type by its "type";
// unknown types become *RawComponent.
func (c *CanvasContent) UnmarshalJSON(b []byte) error {
	var w struct {
		Components []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	c.Components = make([]Component, 0, len(w.Components))
	for i, raw := range w.Components {
		var probe struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return fmt.Errorf("components[%d]: %w", i, err)
		}
		var comp Component
		switch probe.Type {
		case "text":
			comp = new(TextComponent)
		case "button":
			comp = new(ButtonComponent)
		case "list":
			comp = new(ListComponent)
		case "single-select":
			comp = new(SingleSelectComponent)
		case "dropdown":
			comp = new(DropdownComponent)
		case "divider":
			comp = new(DividerComponent)
		case "spacer":
			comp = new(SpacerComponent)
		default:
			c.Components = append(c.Components, &RawComponent{Type: probe.Type, JSON: append(json.RawMessage(nil), raw...)})
			continue
		}
		if err := unmarshalPlain(raw, comp); err != nil {
			return fmt.Errorf("components[%d] (%s): %w", i, probe.Type, err)
		}
		c.Components = append(c.Components, comp)
	}
	return nil
}

// unmarshalPlain decodes into a component (the types have no
// UnmarshalJSON of their own, so "type" is simply ignored).
func unmarshalPlain(raw []byte, comp Component) error { return json.Unmarshal(raw, comp) }

// Validate checks r against Canvas Kit's rules: the required fields and
// enums of every component, 2 to 10 options per select, a select's value
// among its options, unique component ids, action URLs, event type
// "completed", and at most MaxCanvasBytes of content and of stored_data.
// The error matches ErrInvalid and names the field
// ("canvas.content.components[2].options: ...").
func (r *CanvasResponse) Validate() error {
	var problems []string
	if r.Canvas == nil {
		if r.CardCreationOptions == nil && r.Event == nil {
			problems = append(problems, "canvas: required")
		}
	} else {
		problems = r.Canvas.problems("canvas", problems)
	}
	if r.Event != nil && r.Event.Type != CanvasEventCompleted {
		problems = append(problems, fmt.Sprintf("event.type: %q is not %q", r.Event.Type, CanvasEventCompleted))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: canvas response: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// Validate checks the canvas as CanvasResponse.Validate does.
func (c *Canvas) Validate() error {
	if p := c.problems("canvas", nil); len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(p, "; "))
	}
	return nil
}

func (c *Canvas) problems(at string, p []string) []string {
	add := func(field, format string, args ...any) {
		p = append(p, at+"."+field+": "+fmt.Sprintf(format, args...))
	}
	switch {
	case c.Content == nil && c.ContentURL == "":
		add("content", "required (or content_url)")
	case c.Content != nil:
		if b, err := json.Marshal(c.Content); err != nil {
			add("content", "cannot be encoded: %v", err)
		} else if len(b) > MaxCanvasBytes {
			add("content", "%d bytes, at most %d allowed", len(b), MaxCanvasBytes)
		}
		ids := map[string]int{}
		for i, comp := range c.Content.Components {
			p = componentProblems(fmt.Sprintf("%s.content.components[%d]", at, i), comp, p)
			if id := componentID(comp); id != "" {
				if j, dup := ids[id]; dup {
					add(fmt.Sprintf("content.components[%d].id", i), "%q repeats components[%d]", id, j)
				}
				ids[id] = i
			}
		}
	}
	if c.StoredData != nil {
		if b, err := json.Marshal(c.StoredData); err != nil {
			add("stored_data", "cannot be encoded: %v", err)
		} else if len(b) > MaxCanvasBytes {
			add("stored_data", "%d bytes, at most %d allowed", len(b), MaxCanvasBytes)
		}
	}
	return p
}

func componentID(c Component) string {
	switch c := c.(type) {
	case *ButtonComponent:
		return c.ID
	case *SingleSelectComponent:
		return c.ID
	case *DropdownComponent:
		return c.ID
	}
	return ""
}

func oneOf(v string, allowed ...string) bool {
	if v == "" {
		return true
	}
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func componentProblems(at string, comp Component, p []string) []string {
	add := func(field, format string, args ...any) {
		p = append(p, at+field+": "+fmt.Sprintf(format, args...))
	}
	enum := func(field, v string, allowed ...string) {
		if !oneOf(v, allowed...) {
			add("."+field, "%q is not one of %s", v, strings.Join(allowed, ", "))
		}
	}
	action := func(field string, a *CanvasAction, required bool) {
		if a == nil {
			if required {
				add("."+field, "required")
			}
			return
		}
		switch a.Type {
		case CanvasActionSubmit:
		case CanvasActionURL, CanvasActionSheet:
			if a.URL == "" {
				add("."+field+".url", "required for a %s action", a.Type)
			}
		default:
			add("."+field+".type", "%q is not submit, url or sheet", a.Type)
		}
	}
	selectOpts := func(value string, opts []SelectOption) {
		if n := len(opts); n < MinSelectOptions || n > MaxSelectOptions {
			add(".options", "%d options, %d to %d allowed", n, MinSelectOptions, MaxSelectOptions)
		}
		found := value == ""
		for i, o := range opts {
			if o.ID == "" || o.Text == "" {
				add(fmt.Sprintf(".options[%d]", i), "id and text are required")
			}
			if o.ID == value {
				found = true
			}
		}
		if !found {
			add(".value", "%q is not an option id", value)
		}
	}
	switch c := comp.(type) {
	case nil:
		add("", "nil component")
	case *TextComponent:
		if c.Text == "" {
			add(".text", "required")
		}
		enum("align", c.Align, "left", "center", "right")
		enum("style", c.Style, "header", "paragraph", "muted", "error")
		enum("bottom_margin", c.BottomMargin, "none")
	case *ButtonComponent:
		if c.ID == "" {
			add(".id", "required")
		}
		if c.Label == "" {
			add(".label", "required")
		}
		action("action", c.Action, true)
		enum("style", c.Style, "primary", "secondary", "link")
	case *ListComponent:
		if len(c.Items) == 0 {
			add(".items", "at least one item is required")
		}
		for i, it := range c.Items {
			if it.ID == "" || it.Title == "" {
				add(fmt.Sprintf(".items[%d]", i), "id and title are required")
			}
			if it.Image != "" && (it.ImageWidth <= 0 || it.ImageHeight <= 0) {
				add(fmt.Sprintf(".items[%d]", i), "an image needs image_width and image_height")
			}
			action(fmt.Sprintf("items[%d].action", i), it.Action, false)
		}
	case *SingleSelectComponent:
		if c.ID == "" {
			add(".id", "required")
		}
		selectOpts(c.Value, c.Options)
		enum("save_state", c.SaveState, "unsaved", "saved", "failed")
		action("action", c.Action, false)
	case *DropdownComponent:
		if c.ID == "" {
			add(".id", "required")
		}
		selectOpts(c.Value, c.Options)
		enum("save_state", c.SaveState, "unsaved", "saved", "failed")
	case *DividerComponent:
		enum("bottom_margin", c.BottomMargin, "none")
	case *SpacerComponent:
		enum("size", c.Size, "xs", "s", "m", "l", "xl")
	case *RawComponent:
		if c.Type == "" {
			add(".type", "required")
		}
	default:
		add("", "unsupported component %T", comp)
	}
	return p
}

// marshalTyped is v's JSON object with a leading "type":typ member, the
// discriminator Intercom reads; v is a component's alias type (no
// MarshalJSON of its own, so no recursion).
func marshalTyped(typ string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"type":`), strconv.Quote(typ)...)
	if len(b) > 2 { // not "{}"
		out = append(out, ',')
	}
	return append(out, b[1:]...), nil
}
