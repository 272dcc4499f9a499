package intercomtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// The Inbox driver sends what Intercom sends: signed bodies, the contact
// under the chosen key, the current canvas with its stored data, select
// values, and the Messenger initialize call for card_creation_options.
func TestInbox(t *testing.T) {
	t.Parallel()
	srv := intercomtest.NewServer()
	defer srv.Close()
	const secret = "s"
	var seen []*intercom.CanvasRequest
	handler := func(fn intercom.CanvasFunc) *intercom.CanvasHandler {
		h, err := intercom.NewCanvasHandler(intercom.CanvasHandlerConfig{Secret: secret}, func(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
			seen = append(seen, req)
			return fn(ctx, req)
		})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	canvas := func(cs ...intercom.Component) *intercom.Canvas {
		return &intercom.Canvas{Content: &intercom.CanvasContent{Components: cs}, StoredData: map[string]any{"step": "1"}}
	}
	app := intercomtest.CanvasApp{
		Secret: secret,
		Initialize: handler(func(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
			return &intercom.CanvasResponse{Canvas: canvas(
				&intercom.DropdownComponent{ID: "pick", Options: []intercom.SelectOption{{ID: "a", Text: "A"}, {ID: "b", Text: "B"}}, Value: "a"},
				&intercom.ButtonComponent{ID: "go", Label: "Go", Action: intercom.SubmitAction()})}, nil
		}),
		Submit: handler(func(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
			return &intercom.CanvasResponse{Canvas: canvas(&intercom.TextComponent{Text: "picked " + req.Input("pick")}),
				CardCreationOptions: map[string]any{"pick": req.Input("pick")}, Event: intercom.CanvasCompleted()}, nil
		}),
		MessengerInitialize: handler(func(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
			return &intercom.CanvasResponse{Canvas: canvas(&intercom.TextComponent{Text: "card " + req.CardCreationOptions["pick"].(string)})}, nil
		}),
	}
	contact := srv.AddContact(intercom.Contact{ExternalID: "u1", Name: "Jo"})
	in := srv.Inbox(app, "524", contact)
	in.ContactKey = "customer"
	if _, err := in.Submit(context.Background(), "go", nil); err == nil {
		t.Error("Submit before Initialize succeeded")
	}
	if _, err := in.Initialize(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := in.Submit(context.Background(), "go", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Canvas.Content.Components[0].(*intercom.TextComponent).Text; got != "picked a" {
		t.Errorf("submit canvas %q, want the dropdown's value", got)
	}
	if len(seen) != 3 {
		t.Fatalf("%d requests, want initialize, submit, messenger initialize", len(seen))
	}
	init, sub, msgr := seen[0], seen[1], seen[2]
	if init.Admin == nil || init.Admin.ID != srv.AdminID() || init.Contact == nil || init.Contact.ExternalID != "u1" || init.ConversationID() != "524" {
		t.Errorf("initialize request %+v", init)
	}
	if sub.ComponentID != "go" || sub.StoredData["step"] != "1" || sub.CurrentCanvas == nil || len(sub.CurrentCanvas.Content.Components) != 2 {
		t.Errorf("submit request %+v", sub)
	}
	if msgr.Admin != nil || msgr.Context == nil || msgr.Context.ConversationID != "524" || msgr.Context.Location != "conversation" {
		t.Errorf("messenger initialize request %+v", msgr)
	}
	cards := srv.Cards()
	if len(cards) != 1 || cards[0].ConversationID != "524" || cards[0].Canvas.Content.Components[0].(*intercom.TextComponent).Text != "card a" {
		t.Errorf("cards %+v", cards)
	}
	// A wrong secret is refused as by any CanvasHandler.
	in.App.Secret = "wrong"
	_, err = in.Initialize(context.Background())
	var ce *intercomtest.CanvasError
	if !errors.As(err, &ce) || ce.StatusCode != 401 {
		t.Errorf("wrong secret: %v", err)
	}
}
