package intercom_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jarcoal/httpmock"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/codedrop/codedrop/intercom"
)

// telemetry is an SDK meter provider with a manual reader and a tracer
// provider exporting to memory, for one test.
type telemetry struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.InMemoryExporter
	mp     *sdkmetric.MeterProvider
	tp     *sdktrace.TracerProvider
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{reader: sdkmetric.NewManualReader(), spans: tracetest.NewInMemoryExporter()}
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans))
	t.Cleanup(func() {
		_ = tel.mp.Shutdown(context.Background())
		_ = tel.tp.Shutdown(context.Background())
	})
	return tel
}

func (tel *telemetry) config(c *intercom.Config) {
	c.MeterProvider, c.TracerProvider = tel.mp, tel.tp
}

// metric returns the data of the named metric (nil when none).
func (tel *telemetry) metric(t *testing.T, name string) metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	return nil
}

// attrMap flattens a set of attributes for comparison.
func attrMap(kvs []attribute.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// histCounts counts the calls of a histogram by one attribute's value.
func histCounts(t *testing.T, data metricdata.Aggregation, key attribute.Key) map[string]uint64 {
	t.Helper()
	h, ok := data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("data %T, want a float64 histogram", data)
	}
	out := map[string]uint64{}
	for _, dp := range h.DataPoints {
		v, _ := dp.Attributes.Value(key)
		out[v.Emit()] += dp.Count
	}
	return out
}

func TestTelemetryRequestSpans(t *testing.T) {
	t.Parallel()
	server := map[string]string{"server.address": "api.intercom.test", "server.port": "443"}
	with := func(m map[string]string) map[string]string {
		for k, v := range server {
			m[k] = v
		}
		return m
	}
	rateLimited := `{"type":"error.list","errors":[{"code":"rate_limit_exceeded"}]}`
	tests := []struct {
		name      string
		responder func(mt *httpmock.MockTransport)
		call      func(c *intercom.Client) error
		want      []wantSpan
	}{
		{
			name: "message sent",
			responder: func(mt *httpmock.MockTransport) {
				mt.RegisterResponder("POST", mockBase+"/messages", httpmock.ResponderFromResponse(jsonResp(200, messageOK)))
			},
			call: func(c *intercom.Client) error { _, err := c.SendMessage(context.Background(), inApp()); return err },
			want: []wantSpan{{"POST /messages", codes.Unset, with(map[string]string{
				"http.request.method": "POST", "url.template": "/messages", "http.response.status_code": "200"})}},
		},
		{
			name: "contact id not recorded",
			responder: func(mt *httpmock.MockTransport) {
				mt.RegisterResponder("GET", mockBase+"/contacts/6543abc", httpmock.ResponderFromResponse(jsonResp(200, `{"type":"contact","id":"6543abc"}`)))
			},
			call: func(c *intercom.Client) error { _, err := c.GetContact(context.Background(), "6543abc"); return err },
			want: []wantSpan{{"GET /contacts/{id}", codes.Unset, with(map[string]string{
				"http.request.method": "GET", "url.template": "/contacts/{id}", "http.response.status_code": "200"})}},
		},
		{
			name: "429 then sent: one span per attempt",
			responder: func(mt *httpmock.MockTransport) {
				mt.RegisterResponder("POST", mockBase+"/messages", httpmock.ResponderFromMultipleResponses([]*http.Response{
					jsonResp(429, rateLimited, "Retry-After", "1"), jsonResp(200, messageOK)}))
			},
			call: func(c *intercom.Client) error { _, err := c.SendMessage(context.Background(), inApp()); return err },
			want: []wantSpan{
				{"POST /messages", codes.Error, with(map[string]string{
					"http.request.method": "POST", "url.template": "/messages", "http.response.status_code": "429", "error.type": "429"})},
				{"POST /messages", codes.Unset, with(map[string]string{
					"http.request.method": "POST", "url.template": "/messages", "http.response.status_code": "200", "http.request.resend_count": "1"})},
			},
		},
		{
			name: "not found",
			responder: func(mt *httpmock.MockTransport) {
				mt.RegisterResponder("GET", mockBase+"/contacts/find_by_external_id/ann@example.com", httpmock.ResponderFromResponse(
					jsonResp(404, `{"type":"error.list","errors":[{"code":"not_found","message":"User Not Found"}]}`)))
			},
			call: func(c *intercom.Client) error {
				_, err := c.FindContactByExternalID(context.Background(), "ann@example.com")
				return err
			},
			want: []wantSpan{{"GET /contacts/find_by_external_id/{external_id}", codes.Error, with(map[string]string{
				"http.request.method": "GET", "url.template": "/contacts/find_by_external_id/{external_id}",
				"http.response.status_code": "404", "error.type": "404"})}},
		},
		{
			name: "transport error",
			responder: func(mt *httpmock.MockTransport) {
				mt.RegisterResponder("POST", mockBase+"/messages", httpmock.NewErrorResponder(context.DeadlineExceeded))
			},
			call: func(c *intercom.Client) error { _, err := c.SendMessage(context.Background(), inApp()); return err },
			want: []wantSpan{{"POST /messages", codes.Error, with(map[string]string{
				"http.request.method": "POST", "url.template": "/messages", "error.type": "timeout"})}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tel := newTelemetry(t)
			c, mt, _ := mockClient(t, tel.config)
			tt.responder(mt)
			_ = tt.call(c)
			got := tel.spans.GetSpans()
			if len(got) != len(tt.want) {
				t.Fatalf("%d spans, want %d: %v", len(got), len(tt.want), got)
			}
			for i, sp := range got {
				if sp.SpanKind != trace.SpanKindClient {
					t.Errorf("span %d kind %v, want client", i, sp.SpanKind)
				}
				gotSpan := wantSpan{sp.Name, sp.Status.Code, attrMap(sp.Attributes)}
				if diff := cmp.Diff(tt.want[i], gotSpan, cmp.AllowUnexported(wantSpan{})); diff != "" {
					t.Errorf("span %d (-want +got):\n%s", i, diff)
				}
			}
			// One call recorded per span, by status.
			wantCalls := map[string]uint64{}
			for _, w := range tt.want {
				wantCalls[w.attrs["http.response.status_code"]]++
			}
			gotCalls := histCounts(t, tel.metric(t, intercom.MetricRequestDuration), "http.response.status_code")
			if diff := cmp.Diff(wantCalls, gotCalls); diff != "" {
				t.Errorf("%s counts by status (-want +got):\n%s", intercom.MetricRequestDuration, diff)
			}
		})
	}
}

// wantSpan is what the tests compare of a span.
type wantSpan struct {
	name   string
	status codes.Code
	attrs  map[string]string
}

// TestTelemetryEveryRouteHasATemplate calls every method of the client and
// checks that each request span names a URL template, and that no id of
// the call reaches a span or a metric.
func TestTelemetryEveryRouteHasATemplate(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	c, mt, _ := mockClient(t, tel.config)
	mt.RegisterNoResponder(httpmock.NewStringResponder(200, `{}`))
	ctx := context.Background()
	const secret = "ann@example.com" // every id below
	calls := []func() error{
		func() error { _, err := c.Me(ctx); return err },
		func() error { _, err := c.Admins(ctx); return err },
		func() error { _, err := c.GetContact(ctx, secret); return err },
		func() error { _, err := c.FindContactByExternalID(ctx, secret); return err },
		func() error { _, err := c.CreateContact(ctx, intercom.ContactInput{ExternalID: secret}); return err },
		func() error { _, err := c.UpdateContact(ctx, secret, intercom.ContactInput{Name: "Ann"}); return err },
		func() error {
			for _, err := range c.Contacts(ctx, intercom.ListOptions{}) {
				return err
			}
			return nil
		},
		func() error {
			for _, err := range c.SearchContacts(ctx, intercom.SearchQuery{Field: "email", Operator: "=", Value: secret}, intercom.SearchOptions{}) {
				return err
			}
			return nil
		},
		func() error { _, err := c.ContactTags(ctx, secret); return err },
		func() error { _, err := c.TagContact(ctx, secret, secret); return err },
		func() error { return c.UntagContact(ctx, secret, secret) },
		func() error { _, err := c.Tags(ctx); return err },
		func() error { _, err := c.CreateTag(ctx, "vip"); return err },
		func() error {
			return c.ReplyToConversation(ctx, secret, intercom.Reply{Body: "hi", AdminID: "1"})
		},
		func() error { _, err := c.DataAttributes(ctx, "contact"); return err },
		func() error {
			_, err := c.CreateDataAttribute(ctx, intercom.DataAttributeInput{Name: "plan", Model: "contact", DataType: "string"})
			return err
		},
		func() error { _, err := c.SendMessage(ctx, inApp()); return err },
	}
	for _, call := range calls {
		_ = call()
	}
	spans := tel.spans.GetSpans()
	if n := mt.GetTotalCallCount(); len(spans) != n || n < len(calls) {
		t.Fatalf("%d spans for %d requests (%d calls)", len(spans), n, len(calls))
	}
	templates := map[string]bool{}
	for _, sp := range spans {
		a := attrMap(sp.Attributes)
		if a["url.template"] == "" || sp.Name != a["http.request.method"]+" "+a["url.template"] {
			t.Errorf("span %q has url.template %q, want a template in the name", sp.Name, a["url.template"])
		}
		templates[a["url.template"]] = true
		for k, v := range a {
			if strings.Contains(v, "ann") {
				t.Errorf("span %q attribute %s = %q carries an id", sp.Name, k, v)
			}
		}
	}
	if len(templates) < 12 {
		t.Errorf("%d distinct templates, want every route: %v", len(templates), templates)
	}
}

func TestTelemetryRateLimitWait(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	// 6 calls a minute in 10-second windows: one call a second, no burst.
	c, mt, _ := mockClient(t, tel.config, func(c *intercom.Config) { c.RateLimit = intercom.RateLimit{PerMinute: 60, Window: time.Second} })
	mt.RegisterResponder("GET", mockBase+"/admins", httpmock.ResponderFromResponse(jsonResp(200, `{"type":"admin.list","admins":[]}`)))
	for range 3 {
		if _, err := c.Admins(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Wait(context.Background()); err != nil { // a paced caller's wait counts too
		t.Fatal(err)
	}
	h, ok := tel.metric(t, intercom.MetricRateLimitWait).(metricdata.Histogram[float64])
	if !ok || len(h.DataPoints) != 1 {
		t.Fatalf("%s = %+v, want one histogram point", intercom.MetricRateLimitWait, h)
	}
	dp := h.DataPoints[0]
	if dp.Count != 4 || dp.Sum != 3 {
		t.Errorf("waits: count %d, sum %vs; want 4 waits of 3s in all (the first is free, then 1s each)", dp.Count, dp.Sum)
	}
}
