package intercom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

const canvasSecret = "client-secret-123"

func TestVerifyCanvasSignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"workspace_id":"abc","component_id":"send"}`)
	good := intercom.SignCanvas(canvasSecret, body)
	if len(good) != 64 {
		t.Fatalf("signature %q is not 64 hex characters", good)
	}
	tests := []struct {
		name   string
		secret string
		body   []byte
		sig    string
		want   bool
	}{
		{"valid", canvasSecret, body, good, true},
		{"valid uppercase hex", canvasSecret, body, strings.ToUpper(good), true},
		{"missing", canvasSecret, body, "", false},
		{"altered body", canvasSecret, []byte(`{"workspace_id":"abc","component_id":"sene"}`), good, false},
		{"one more byte", canvasSecret, append(append([]byte(nil), body...), ' '), good, false},
		{"wrong secret", "other", body, good, false},
		{"empty secret", "", body, intercom.SignCanvas("", body), false},
		{"truncated", canvasSecret, body, good[:62], false},
		{"not hex", canvasSecret, body, strings.Repeat("z", 64), false},
		{"sha1 prefix style", canvasSecret, body, "sha256=" + good, false},
	}
	for _, tt := range tests {
		if got := intercom.VerifyCanvasSignature(tt.secret, tt.body, tt.sig); got != tt.want {
			t.Errorf("%s: VerifyCanvasSignature = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func okCanvas(text string) *intercom.CanvasResponse {
	return &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{&intercom.TextComponent{Text: text}}}}}
}

func TestCanvasHandlerSignature(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	h, err := intercom.NewCanvasHandler(intercom.CanvasHandlerConfig{Secret: canvasSecret, MaxBodyBytes: 4096},
		func(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
			calls.Add(1)
			return okCanvas("hello " + req.WorkspaceID), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"workspace_id":"ws1"}`)
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"signed", func() *http.Request { return intercomtest.CanvasRequest("/init", canvasSecret, body) }, 200},
		{"missing signature", func() *http.Request {
			r := intercomtest.CanvasRequest("/init", canvasSecret, body)
			r.Header.Del(intercom.CanvasSignatureHeader)
			return r
		}, 401},
		{"wrong secret", func() *http.Request { return intercomtest.CanvasRequest("/init", "nope", body) }, 401},
		{"altered body", func() *http.Request {
			r := intercomtest.CanvasRequest("/init", canvasSecret, body)
			r.Body = http.NoBody
			r.Body = newBody(`{"workspace_id":"ws2"}`)
			return r
		}, 401},
		{"webhook signature instead", func() *http.Request {
			r := intercomtest.CanvasRequest("/init", canvasSecret, body)
			r.Header.Set(intercom.CanvasSignatureHeader, intercom.Sign(canvasSecret, body))
			return r
		}, 401},
		{"too large", func() *http.Request {
			big := []byte(`{"workspace_id":"` + strings.Repeat("x", 5000) + `"}`)
			return intercomtest.CanvasRequest("/init", canvasSecret, big)
		}, 413},
		{"GET", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/init", nil) }, 405},
		{"signed but not JSON", func() *http.Request { return intercomtest.CanvasRequest("/init", canvasSecret, []byte("{nope")) }, 400},
	}
	for _, tt := range tests {
		before := calls.Load()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, tt.req())
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, rec.Code, tt.status, rec.Body)
		}
		called := calls.Load() != before
		if called != (tt.status == 200) {
			t.Errorf("%s: app called = %v", tt.name, called)
		}
		if tt.status == 200 {
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", tt.name, ct)
			}
			var resp intercom.CanvasResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if got := resp.Canvas.Content.Components[0].(*intercom.TextComponent).Text; got != "hello ws1" {
				t.Errorf("%s: text %q", tt.name, got)
			}
		}
	}
}

func newBody(s string) *readCloser { return &readCloser{bytes.NewReader([]byte(s))} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func TestCanvasHandlerAppFailures(t *testing.T) {
	t.Parallel()
	for name, fn := range map[string]intercom.CanvasFunc{
		"error": func(context.Context, *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
			return nil, errors.New("boom")
		},
		"nil response": func(context.Context, *intercom.CanvasRequest) (*intercom.CanvasResponse, error) { return nil, nil },
		"invalid canvas": func(context.Context, *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
			return &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{&intercom.DropdownComponent{ID: "d", Options: []intercom.SelectOption{{ID: "a", Text: "A"}}}}}}}, nil
		},
	} {
		h, err := intercom.NewCanvasHandler(intercom.CanvasHandlerConfig{Secret: canvasSecret}, fn)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, intercomtest.CanvasRequest("/", canvasSecret, []byte(`{}`)))
		if rec.Code != 500 {
			t.Errorf("%s: status %d, want 500", name, rec.Code)
		}
	}
	if _, err := intercom.NewCanvasHandler(intercom.CanvasHandlerConfig{}, func(context.Context, *intercom.CanvasRequest) (*intercom.CanvasResponse, error) { return nil, nil }); err == nil {
		t.Error("NewCanvasHandler without a secret succeeded")
	}
}

// Documented request shapes (Canvas Kit page and OpenAPI 2.11 examples).
const (
	inboxInitialize = `{
  "workspace_id": "ecahpwf5", "workspace_region": "us",
  "admin": {"type": "admin", "id": "991267001", "name": "Ada Admin", "email": "ada@example.com", "away_mode_enabled": false, "has_inbox_seat": true, "team_ids": []},
  "conversation": {"type": "conversation", "id": "524", "state": "open", "source": {"body": "broken"}},
  "contact": {"type": "contact", "id": "6329bd9ffe4e2e91dac76188", "role": "user", "external_id": "cust-1", "email": "jo@example.com", "name": "Jo"}
}`
	inboxSubmitCustomer = `{
  "workspace_id": "ecahpwf5",
  "admin": {"type": "admin", "id": 991267001, "name": "Ada Admin"},
  "conversation": {"type": "conversation", "id": 524},
  "customer": {"type": "user", "id": "6329bd9ffe4e2e91dac76188", "role": "user", "external_id": "cust-1"},
  "current_canvas": {"content": {"components": [
      {"type": "text", "text": "Pick one", "style": "header"},
      {"type": "dropdown", "id": "reward", "options": [{"type": "option", "id": "a", "text": "A"}, {"type": "option", "id": "b", "text": "B"}]},
      {"type": "button", "id": "send", "label": "Send", "action": {"type": "submit"}},
      {"type": "checkbox", "id": "x", "option": [{"type": "option", "id": "o", "text": "O"}]}
    ]}, "stored_data": {"customer_id": "cus_1"}},
  "component_id": "send",
  "input_values": {"reward": "b"}
}`
	messengerInitialize = `{
  "workspace_id": "ecahpwf5", "workspace_region": "eu",
  "card_creation_options": {"delivery_id": "dlv_1"},
  "context": {"conversation_id": 524, "location": "conversation", "locale": "en", "messenger_action_colour": "#000000", "referrer": "https://example.com/"}
}`
	wrappedCurrentCanvas = `{"app_id": "legacy1", "current_canvas": {"current_canvas": {"content": {"components": [{"type": "spacer", "size": "m"}]}, "stored_data": {"k": 1}}}, "stored_data": {"top": true}}`
)

func TestParseCanvasRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want *intercom.CanvasRequest
	}{
		{"inbox initialize", inboxInitialize, &intercom.CanvasRequest{
			WorkspaceID: "ecahpwf5", WorkspaceRegion: "us",
			Admin:        &intercom.Admin{ID: "991267001", Name: "Ada Admin", Email: "ada@example.com", HasInboxSeat: true},
			Conversation: &intercom.Conversation{ID: "524", State: "open"},
			Contact:      &intercom.Contact{ID: "6329bd9ffe4e2e91dac76188", Role: intercom.RoleUser, ExternalID: "cust-1", Email: "jo@example.com", Name: "Jo"},
		}},
		{"inbox submit with customer key", inboxSubmitCustomer, &intercom.CanvasRequest{
			WorkspaceID:  "ecahpwf5",
			Admin:        &intercom.Admin{ID: "991267001", Name: "Ada Admin"},
			Conversation: &intercom.Conversation{ID: "524"},
			Contact:      &intercom.Contact{ID: "6329bd9ffe4e2e91dac76188", Role: intercom.RoleUser, ExternalID: "cust-1"},
			CurrentCanvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{
				&intercom.TextComponent{Text: "Pick one", Style: "header"},
				&intercom.DropdownComponent{ID: "reward", Options: []intercom.SelectOption{{ID: "a", Text: "A"}, {ID: "b", Text: "B"}}},
				&intercom.ButtonComponent{ID: "send", Label: "Send", Action: &intercom.CanvasAction{Type: "submit"}},
				&intercom.RawComponent{Type: "checkbox", JSON: json.RawMessage(`{"type": "checkbox", "id": "x", "option": [{"type": "option", "id": "o", "text": "O"}]}`)},
			}}, StoredData: map[string]any{"customer_id": "cus_1"}},
			ComponentID: "send",
			InputValues: map[string]any{"reward": "b"},
			StoredData:  map[string]any{"customer_id": "cus_1"},
		}},
		{"messenger initialize", messengerInitialize, &intercom.CanvasRequest{
			WorkspaceID: "ecahpwf5", WorkspaceRegion: "eu",
			CardCreationOptions: map[string]any{"delivery_id": "dlv_1"},
			Context:             &intercom.CanvasContext{ConversationID: "524", Location: "conversation", Locale: "en", MessengerActionColour: "#000000", Referrer: "https://example.com/"},
		}},
		{"wrapped current_canvas, app_id", wrappedCurrentCanvas, &intercom.CanvasRequest{
			WorkspaceID:   "legacy1",
			CurrentCanvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{&intercom.SpacerComponent{Size: "m"}}}, StoredData: map[string]any{"k": 1.0}},
			StoredData:    map[string]any{"top": true},
		}},
	}
	for _, tt := range tests {
		got, err := intercom.ParseCanvasRequest([]byte(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(intercom.Conversation{}, "Raw")); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.name, diff)
		}
	}
	r, _ := intercom.ParseCanvasRequest([]byte(messengerInitialize))
	if r.ConversationID() != "524" {
		t.Errorf("ConversationID from context = %q", r.ConversationID())
	}
	r, _ = intercom.ParseCanvasRequest([]byte(inboxSubmitCustomer))
	if r.ConversationID() != "524" || r.Input("reward") != "b" || !strings.Contains(string(r.Conversation.Raw), `"id": 524`) {
		t.Errorf("ConversationID %q, Input %q, Raw %s", r.ConversationID(), r.Input("reward"), r.Conversation.Raw)
	}
	for _, bad := range []string{`[]`, `{"conversation": "x"}`, `{"context": {"conversation_id": true}}`, `{"current_canvas": {"content": {"components": [{"type": "text", "text": 5}]}}}`} {
		if _, err := intercom.ParseCanvasRequest([]byte(bad)); !errors.Is(err, intercom.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", bad, err)
		}
	}
}

// The intercomtest builder renders both contact keys, and they parse alike.
func TestCanvasCallContactKeys(t *testing.T) {
	t.Parallel()
	ct := intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "u1", Name: "Jo"}
	for _, key := range []string{"", "contact", "customer"} {
		body := intercomtest.CanvasCall{Admin: &intercom.Admin{ID: "9"}, ConversationID: "77", Contact: &ct, ContactKey: key}.JSON()
		if key != "" && !bytes.Contains(body, []byte(`"`+key+`":`)) {
			t.Errorf("key %q missing from %s", key, body)
		}
		r, err := intercom.ParseCanvasRequest(body)
		if err != nil {
			t.Fatal(err)
		}
		if r.Contact == nil || r.Contact.ID != "c1" || r.Contact.ExternalID != "u1" || r.Admin.ID != "9" || r.ConversationID() != "77" {
			t.Errorf("key %q: parsed %+v", key, r)
		}
	}
}

func TestCanvasJSON(t *testing.T) {
	t.Parallel()
	resp := &intercom.CanvasResponse{
		Canvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{
			&intercom.TextComponent{Text: "Hi", Style: "header"},
			&intercom.ListComponent{Items: []intercom.ListItem{{ID: "i1", Title: "T", Action: intercom.SubmitAction()}}},
			&intercom.SingleSelectComponent{ID: "s", Options: []intercom.SelectOption{{ID: "a", Text: "A"}, {ID: "b", Text: "B"}}, Value: "a"},
			&intercom.DropdownComponent{ID: "d", Label: "L", Options: []intercom.SelectOption{{ID: "a", Text: "A"}, {ID: "b", Text: "B"}}},
			&intercom.DividerComponent{},
			&intercom.SpacerComponent{Size: "s"},
			&intercom.ButtonComponent{ID: "go", Label: "Go", Action: intercom.SubmitAction()},
		}}, StoredData: map[string]any{"k": "v"}},
		Event: intercom.CanvasCompleted(),
	}
	if err := resp.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"canvas":{"content":{"components":[` +
		`{"type":"text","text":"Hi","style":"header"},` +
		`{"type":"list","items":[{"type":"item","id":"i1","title":"T","action":{"type":"submit"}}]},` +
		`{"type":"single-select","id":"s","options":[{"type":"option","id":"a","text":"A"},{"type":"option","id":"b","text":"B"}],"value":"a"},` +
		`{"type":"dropdown","id":"d","label":"L","options":[{"type":"option","id":"a","text":"A"},{"type":"option","id":"b","text":"B"}]},` +
		`{"type":"divider"},{"type":"spacer","size":"s"},` +
		`{"type":"button","id":"go","label":"Go","action":{"type":"submit"}}]},"stored_data":{"k":"v"}},"event":{"type":"completed"}}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
	var back intercom.CanvasResponse
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(resp, &back); diff != "" {
		t.Errorf("round trip (-want +got)\n%s", diff)
	}
}

func TestCanvasValidate(t *testing.T) {
	t.Parallel()
	opts := func(n int) []intercom.SelectOption {
		out := make([]intercom.SelectOption, n)
		for i := range out {
			out[i] = intercom.SelectOption{ID: string(rune('a' + i)), Text: "x"}
		}
		return out
	}
	canvas := func(cs ...intercom.Component) *intercom.CanvasResponse {
		return &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: cs}}}
	}
	tests := []struct {
		name string
		resp *intercom.CanvasResponse
		want string // "" = valid
	}{
		{"2 options", canvas(&intercom.DropdownComponent{ID: "d", Options: opts(2)}), ""},
		{"10 options", canvas(&intercom.SingleSelectComponent{ID: "d", Options: opts(10)}), ""},
		{"1 option", canvas(&intercom.DropdownComponent{ID: "d", Options: opts(1)}), "canvas.content.components[0].options: 1 options, 2 to 10 allowed"},
		{"11 options", canvas(&intercom.SingleSelectComponent{ID: "d", Options: opts(11)}), "components[0].options: 11 options"},
		{"value not an option", canvas(&intercom.DropdownComponent{ID: "d", Options: opts(2), Value: "z"}), `components[0].value: "z" is not an option id`},
		{"text required", canvas(&intercom.DividerComponent{}, &intercom.TextComponent{}), "components[1].text: required"},
		{"text style", canvas(&intercom.TextComponent{Text: "x", Style: "bold"}), `components[0].style: "bold" is not one of`},
		{"button action", canvas(&intercom.ButtonComponent{ID: "b", Label: "B"}), "components[0].action: required"},
		{"url action", canvas(&intercom.ButtonComponent{ID: "b", Label: "B", Action: &intercom.CanvasAction{Type: "url"}}), "components[0].action.url: required"},
		{"list empty", canvas(&intercom.ListComponent{}), "components[0].items: at least one item"},
		{"spacer size", canvas(&intercom.SpacerComponent{Size: "xxl"}), "components[0].size"},
		{"duplicate ids", canvas(&intercom.ButtonComponent{ID: "b", Label: "B", Action: intercom.SubmitAction()}, &intercom.ButtonComponent{ID: "b", Label: "C", Action: intercom.SubmitAction()}), `components[1].id: "b" repeats components[0]`},
		{"no content", &intercom.CanvasResponse{Canvas: &intercom.Canvas{}}, "canvas.content: required"},
		{"no canvas", &intercom.CanvasResponse{}, "canvas: required"},
		{"content too large", canvas(&intercom.TextComponent{Text: strings.Repeat("x", intercom.MaxCanvasBytes)}), "canvas.content: 65"},
		{"stored data too large", &intercom.CanvasResponse{Canvas: &intercom.Canvas{Content: &intercom.CanvasContent{Components: []intercom.Component{&intercom.DividerComponent{}}}, StoredData: map[string]any{"k": strings.Repeat("x", intercom.MaxCanvasBytes)}}}, "canvas.stored_data: 65"},
		{"event type", &intercom.CanvasResponse{Canvas: canvas(&intercom.DividerComponent{}).Canvas, Event: &intercom.CanvasEvent{Type: "done"}}, `event.type: "done"`},
	}
	for _, tt := range tests {
		err := tt.resp.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, intercom.ErrInvalid)):
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

// FuzzParseCanvasRequest: any body parses or fails with ErrInvalid, never
// panics, and a parsed current canvas encodes again.
func FuzzParseCanvasRequest(f *testing.F) {
	for _, s := range []string{inboxInitialize, inboxSubmitCustomer, messengerInitialize, wrappedCurrentCanvas, `{}`, `null`, `{"current_canvas":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := intercom.ParseCanvasRequest(body)
		if err != nil {
			if !errors.Is(err, intercom.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		_ = r.ConversationID()
		if r.CurrentCanvas != nil {
			if _, err := json.Marshal(r.CurrentCanvas); err != nil {
				t.Fatalf("re-encoding the current canvas: %v", err)
			}
			_ = r.CurrentCanvas.Validate()
		}
	})
}
