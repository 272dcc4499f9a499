package intercomtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/codedrop/codedrop/intercom"
)

// DefaultWorkspaceID is the workspace_id of the Canvas Kit requests the
// helpers build.
const DefaultWorkspaceID = "ecahpwf5"

// CanvasRequest returns a POST of body to target signed with secret
// (X-Body-Signature: hex HMAC-SHA256 of the body) as Intercom signs
// Canvas Kit requests, for calling a handler directly.
func CanvasRequest(target, secret string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(intercom.CanvasSignatureHeader, intercom.SignCanvas(secret, body))
	return r
}

// CanvasCall describes one Canvas Kit request body. JSON renders it in
// the documented shapes; zero fields are left out.
type CanvasCall struct {
	WorkspaceID     string // default DefaultWorkspaceID
	WorkspaceRegion string // default "us"
	Admin           *intercom.Admin
	// ConversationID, for Inbox flows, renders a conversation object.
	ConversationID string
	// Contact is rendered as Intercom's contact object under ContactKey.
	Contact *intercom.Contact
	// ContactKey is "contact" (default) or "customer": Intercom's
	// documentation uses both for the Inbox contact.
	ContactKey string
	// User is the Messenger end user ("user").
	User *intercom.Contact
	// Context is rendered with conversation_id as a number when it is
	// numeric, as Intercom sends it.
	Context             *intercom.CanvasContext
	CurrentCanvas       *intercom.Canvas
	ComponentID         string
	InputValues         map[string]any
	CardCreationOptions map[string]any
}

// JSON returns the request body.
func (c CanvasCall) JSON() []byte {
	m := map[string]any{"workspace_id": c.WorkspaceID, "workspace_region": c.WorkspaceRegion}
	if c.WorkspaceID == "" {
		m["workspace_id"] = DefaultWorkspaceID
	}
	if c.WorkspaceRegion == "" {
		m["workspace_region"] = "us"
	}
	if c.Admin != nil {
		a := adminJSON(*c.Admin)
		a["job_title"] = nil
		a["team_ids"] = []string{}
		m["admin"] = a
	}
	if c.ConversationID != "" {
		m["conversation"] = map[string]any{
			"type": "conversation", "id": c.ConversationID, "state": "open", "open": true, "read": true,
			"source": map[string]any{"type": "conversation", "delivered_as": "customer_initiated", "body": "<p>My order arrived broken.</p>"},
		}
	}
	if c.Contact != nil {
		key := c.ContactKey
		if key == "" {
			key = "contact"
		}
		m[key] = contactJSON(c.Contact)
	}
	if c.User != nil {
		m["user"] = contactJSON(c.User)
	}
	if x := c.Context; x != nil {
		ctx := map[string]any{"location": x.Location, "locale": x.Locale}
		if x.ConversationID != "" {
			if n, err := strconv.ParseInt(x.ConversationID, 10, 64); err == nil {
				ctx["conversation_id"] = n
			} else {
				ctx["conversation_id"] = x.ConversationID
			}
		}
		if x.MessengerActionColour != "" {
			ctx["messenger_action_colour"] = x.MessengerActionColour
		}
		if x.MessengerBackgroundColour != "" {
			ctx["messenger_background_colour"] = x.MessengerBackgroundColour
		}
		if x.Referrer != "" {
			ctx["referrer"] = x.Referrer
		}
		m["context"] = ctx
	}
	if c.CurrentCanvas != nil {
		m["current_canvas"] = c.CurrentCanvas
	}
	if c.ComponentID != "" {
		m["component_id"] = c.ComponentID
	}
	if c.InputValues != nil {
		m["input_values"] = c.InputValues
	}
	if c.CardCreationOptions != nil {
		m["card_creation_options"] = c.CardCreationOptions
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic("intercomtest: CanvasCall.JSON: " + err.Error())
	}
	return b
}

// CanvasApp is a Canvas Kit app as registered in the Developer Hub: its
// client secret and the handlers behind its URLs (use Remote for a URL).
type CanvasApp struct {
	// Secret signs every request (the app's client secret).
	Secret string
	// Initialize and Submit are the Inbox ("For teammates") flows.
	Initialize, Submit http.Handler
	// MessengerInitialize is the Messenger initialize flow, called with
	// the card_creation_options of an Inbox submit response.
	MessengerInitialize http.Handler
}

// Remote returns a handler that forwards each request to url with client
// (nil: http.DefaultClient), for driving an app over real HTTP.
func Remote(client *http.Client, url string) http.Handler {
	if client == nil {
		client = http.DefaultClient
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		out, err := http.NewRequestWithContext(r.Context(), r.Method, url, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := client.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}

// CanvasError is a Canvas Kit call the app did not answer with 200 and a
// canvas response.
type CanvasError struct {
	Flow       string // "initialize", "submit", "messenger initialize"
	StatusCode int
	Body       string
}

// Error implements error.
func (e *CanvasError) Error() string {
	return fmt.Sprintf("intercomtest: canvas %s: HTTP %d: %s", e.Flow, e.StatusCode, e.Body)
}

// Card is a Messenger card an Inbox app inserted into a conversation
// reply (through card_creation_options and the Messenger initialize flow).
type Card struct {
	ConversationID      string
	CardCreationOptions map[string]any
	Canvas              intercom.Canvas
}

// Cards returns the Messenger cards inserted into conversations so far.
func (s *Server) Cards() []Card {
	s.msgMu.Lock()
	defer s.msgMu.Unlock()
	return append([]Card(nil), s.cards...)
}

// Inbox is a teammate looking at one conversation with a Canvas Kit app
// in the details panel: it sends the requests Intercom's inbox sends, signed
// with the app's secret, keeps the current canvas between them, and when a
// submit response asks for a Messenger card it calls the app's Messenger
// initialize flow and records the card (Server.Cards). Not safe for
// concurrent use; use one Inbox per simulated teammate.
type Inbox struct {
	App CanvasApp
	// Admin is the teammate (default: the server's first admin).
	Admin intercom.Admin
	// ConversationID and Contact say where the app is shown.
	ConversationID string
	Contact        intercom.Contact
	// ContactKey is "contact" (default) or "customer".
	ContactKey string

	srv    *Server
	canvas *intercom.Canvas
}

// Inbox returns a teammate's view of conversation conversationID with
// contact in the details panel, running app.
func (s *Server) Inbox(app CanvasApp, conversationID string, contact intercom.Contact) *Inbox {
	return &Inbox{App: app, Admin: s.cfg.admins[0], ConversationID: conversationID, Contact: contact, srv: s}
}

// Canvas returns the canvas shown now (nil before Initialize).
func (in *Inbox) Canvas() *intercom.Canvas { return in.canvas }

func (in *Inbox) call() CanvasCall {
	admin, contact := in.Admin, in.Contact
	return CanvasCall{Admin: &admin, ConversationID: in.ConversationID, Contact: &contact, ContactKey: in.ContactKey}
}

// Initialize sends the Inbox initialize request (the app is opened in the
// conversation details) and shows the answer.
func (in *Inbox) Initialize(ctx context.Context) (*intercom.CanvasResponse, error) {
	resp, err := do(ctx, "initialize", in.App.Secret, in.App.Initialize, in.call().JSON())
	if err != nil {
		return nil, err
	}
	in.canvas = resp.Canvas
	return resp, nil
}

// Submit sends the Inbox submit request for component componentID with
// inputs (the current values of select components default to their
// value). When the response has card_creation_options, Intercom's part
// follows: the Messenger initialize flow is called and the card it
// returns is recorded in Server.Cards.
func (in *Inbox) Submit(ctx context.Context, componentID string, inputs map[string]any) (*intercom.CanvasResponse, error) {
	if in.canvas == nil {
		return nil, fmt.Errorf("intercomtest: Submit before Initialize")
	}
	values := map[string]any{}
	if in.canvas.Content != nil {
		for _, c := range in.canvas.Content.Components {
			switch c := c.(type) {
			case *intercom.DropdownComponent:
				if c.Value != "" {
					values[c.ID] = c.Value
				}
			case *intercom.SingleSelectComponent:
				if c.Value != "" {
					values[c.ID] = c.Value
				}
			}
		}
	}
	for k, v := range inputs {
		values[k] = v
	}
	call := in.call()
	call.CurrentCanvas, call.ComponentID, call.InputValues = in.canvas, componentID, values
	resp, err := do(ctx, "submit", in.App.Secret, in.App.Submit, call.JSON())
	if err != nil {
		return nil, err
	}
	if resp.Canvas != nil {
		in.canvas = resp.Canvas
	}
	if resp.CardCreationOptions != nil {
		if in.App.MessengerInitialize == nil {
			return resp, fmt.Errorf("intercomtest: the submit response asks for a Messenger card but CanvasApp.MessengerInitialize is nil")
		}
		mcall := CanvasCall{CardCreationOptions: resp.CardCreationOptions,
			Context: &intercom.CanvasContext{ConversationID: in.ConversationID, Location: "conversation", Locale: "en"}}
		card, err := do(ctx, "messenger initialize", in.App.Secret, in.App.MessengerInitialize, mcall.JSON())
		if err != nil {
			return resp, err
		}
		if card.Canvas == nil {
			return resp, &CanvasError{Flow: "messenger initialize", StatusCode: 200, Body: "no canvas"}
		}
		if in.srv != nil {
			in.srv.msgMu.Lock()
			in.srv.cards = append(in.srv.cards, Card{ConversationID: in.ConversationID, CardCreationOptions: resp.CardCreationOptions, Canvas: *card.Canvas})
			in.srv.msgMu.Unlock()
		}
	}
	return resp, nil
}

// do signs body, calls h and decodes a 200 answer.
func do(ctx context.Context, flow, secret string, h http.Handler, body []byte) (*intercom.CanvasResponse, error) {
	if h == nil {
		return nil, fmt.Errorf("intercomtest: no handler for the %s flow", flow)
	}
	req := CanvasRequest("/canvas/"+strings.ReplaceAll(flow, " ", "-"), secret, body).WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, &CanvasError{Flow: flow, StatusCode: rec.Code, Body: rec.Body.String()}
	}
	var resp intercom.CanvasResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		return nil, &CanvasError{Flow: flow, StatusCode: rec.Code, Body: "undecodable response: " + err.Error() + ": " + rec.Body.String()}
	}
	if err := resp.Validate(); err != nil {
		return nil, &CanvasError{Flow: flow, StatusCode: rec.Code, Body: err.Error()}
	}
	return &resp, nil
}
