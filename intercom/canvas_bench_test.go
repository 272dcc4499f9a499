package intercom_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// BenchmarkCanvasHandler serves a documented Inbox submit body: body read,
// signature check, parse, app call, validation and encoding.
// BenchmarkCanvasBaseline decodes the same body into a map, for scale.
func BenchmarkCanvasHandler(b *testing.B) {
	body := []byte(inboxSubmitCustomer)
	h, err := intercom.NewCanvasHandler(intercom.CanvasHandlerConfig{Secret: canvasSecret},
		func(ctx context.Context, req *intercom.CanvasRequest) (*intercom.CanvasResponse, error) {
			return okCanvas("picked " + req.Input("reward")), nil
		})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, intercomtest.CanvasRequest("/submit", canvasSecret, body))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkCanvasBaseline(b *testing.B) {
	body := []byte(inboxSubmitCustomer)
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			b.Fatal(err)
		}
	}
}
