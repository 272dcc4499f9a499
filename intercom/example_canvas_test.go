package intercom_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// A Canvas Kit handler checks X-Body-Signature before the app sees the
// request, parses it (the contact under "contact" or "customer") and
// validates the canvas the app returns.
func ExampleNewCanvasHandler() {
	h, _ := intercom.NewCanvasHandler(intercom.CanvasHandlerConfig{Secret: "client-secret"},
		func(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
			return &intercom.CanvasResponse{Canvas: &intercom.Canvas{
				Content: &intercom.CanvasContent{Components: []intercom.Component{
					&intercom.TextComponent{Text: "Hello " + req.Contact.Name, Style: "header"},
					&intercom.ButtonComponent{ID: "go", Label: "Go", Action: intercom.SubmitAction()},
				}},
				StoredData: map[string]any{"conversation": req.ConversationID()},
			}}, nil
		})
	body := intercomtest.CanvasCall{
		Admin: &intercom.Admin{ID: "991267001"}, ConversationID: "524",
		Contact: &intercom.Contact{ID: "c1", Name: "Jo"}, ContactKey: "customer",
	}.JSON()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, intercomtest.CanvasRequest("/initialize", "client-secret", body))
	fmt.Println(rec.Code, rec.Body.String())

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, intercomtest.CanvasRequest("/initialize", "a guess", body))
	fmt.Println(rec.Code)
	// Output:
	// 200 {"canvas":{"content":{"components":[{"type":"text","text":"Hello Jo","style":"header"},{"type":"button","id":"go","label":"Go","action":{"type":"submit"}}]},"stored_data":{"conversation":"524"}}}
	//
	// 401
}
