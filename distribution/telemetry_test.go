package distribution_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// otelEnv is an OpenTelemetry SDK for one test: metrics read with a
// manual reader, spans kept in memory.
type otelEnv struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.InMemoryExporter
	mp     *sdkmetric.MeterProvider
	tp     *sdktrace.TracerProvider
}

func newOtel(t *testing.T) *otelEnv {
	t.Helper()
	o := &otelEnv{reader: sdkmetric.NewManualReader(), spans: tracetest.NewInMemoryExporter()}
	o.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(o.reader))
	o.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(o.spans))
	t.Cleanup(func() {
		_ = o.mp.Shutdown(context.Background())
		_ = o.tp.Shutdown(context.Background())
	})
	return o
}

// config wires the SDK into a Manager's Config and its Intercom client.
func (o *otelEnv) config(e *env) func(*distribution.Config) {
	return func(c *distribution.Config) {
		c.MeterProvider, c.TracerProvider = o.mp, o.tp
		ic := e.srv.Config()
		ic.MeterProvider, ic.TracerProvider = o.mp, o.tp
		client, err := intercom.NewClient(ic)
		if err != nil {
			e.t.Fatal(err)
		}
		c.Intercom = client
	}
}

func (o *otelEnv) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := o.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// points returns the values of the named metric by attribute set
// ("k=v,k=v"): a sum or gauge's value, a histogram's count.
func (o *otelEnv) points(t *testing.T, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, sm := range o.collect(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					out[attrString(dp.Attributes.ToSlice())] += dp.Value
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					out[attrString(dp.Attributes.ToSlice())] = dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					out[attrString(dp.Attributes.ToSlice())] += int64(dp.Count)
				}
			default:
				t.Fatalf("%s: unexpected data %T", name, m.Data)
			}
		}
	}
	return out
}

func attrString(kvs []attribute.KeyValue) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = string(kv.Key) + "=" + kv.Value.Emit()
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// named returns the ended spans called name, in the order they ended.
func (o *otelEnv) named(name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range o.spans.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func spanAttrs(s tracetest.SpanStub) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// checkNoSecrets fails if any span (name, attribute, status, event) or
// metric attribute contains one of secrets (addresses, tokens, codes).
func (o *otelEnv) checkNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	var texts []string
	for _, s := range o.spans.GetSpans() {
		texts = append(texts, s.Name, s.Status.Description, attrString(s.Attributes))
		for _, ev := range s.Events {
			texts = append(texts, ev.Name, attrString(ev.Attributes))
		}
	}
	for _, sm := range o.collect(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			texts = append(texts, fmt.Sprintf("%s %+v", m.Name, m.Data))
		}
	}
	checked := 0
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		checked++
		for _, text := range texts {
			if strings.Contains(text, secret) {
				t.Errorf("telemetry carries the secret %q: %s", secret, text)
			}
		}
	}
	if checked == 0 || len(texts) == 0 {
		t.Fatalf("nothing checked: %d secrets, %d texts", checked, len(texts))
	}
}

// deliveryCodes returns the codes of every delivery.
func (e *env) deliveryCodes() []string {
	var out []string
	for _, dl := range e.deliveries(distribution.DeliveryFilter{}) {
		out = append(out, dl.Code)
	}
	return out
}

func TestTelemetryManualFanout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := newOtel(t)
	e.start(o.config(e))
	e.intercomCustomer("a", "Ann", "ann@example.com")
	e.intercomCustomer("b", "Bob", "bob@example.com")
	e.intercomCustomer("c", "Cleo", "") // no email: skipped on the email channel
	seg := e.segment()
	camp := e.campaign(distribution.Campaign{Name: "Welcome", Code: distribution.CodeConfig{Length: 10}})
	// One in-app message reaches Intercom and its answer is lost: unknown.
	e.srv.Inject(intercomtest.Fault{Method: "POST", Path: "/messages", Status: 500, AfterHandling: true})
	d := e.create(distribution.Distribution{Name: "welcome", Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{
			{Channel: distribution.IntercomInApp, Body: "{{voucher.code}}"},
			{Channel: distribution.IntercomEmail, Subject: "Gift", Body: "{{voucher.code}} for {{customer.email}}"},
		}})
	d = e.sendNow(d.ID, distribution.StatusDone)

	// Spans: one fan-out, a send per message under it, an Intercom call
	// under each send.
	fan := o.named(distribution.SpanFanout)
	if len(fan) != 1 {
		t.Fatalf("%d fan-out spans, want 1", len(fan))
	}
	if diff := cmp.Diff(map[string]string{"codedrop.distribution.id": d.ID, "codedrop.distribution.mode": "manual",
		"codedrop.fanout.deliveries": "6"}, spanAttrs(fan[0])); diff != "" {
		t.Errorf("fan-out span attributes (-want +got):\n%s", diff)
	}
	sends := o.named(distribution.SpanSend)
	states := map[string]int{}
	sendIDs := map[string]bool{}
	for _, s := range sends {
		a := spanAttrs(s)
		states[a["codedrop.channel"]+" "+a["codedrop.delivery.state"]]++
		if a["codedrop.distribution.id"] != d.ID || a["codedrop.distribution.mode"] != "manual" || a["codedrop.delivery.id"] == "" {
			t.Errorf("send span attributes %v", a)
		}
		if s.Parent.SpanID() != fan[0].SpanContext.SpanID() {
			t.Errorf("send span %v is not a child of the fan-out span", a)
		}
		if (a["codedrop.delivery.state"] == "unknown") != (s.Status.Description == "delivery unknown") {
			t.Errorf("send span %v has status %+v", a, s.Status)
		}
		sendIDs[s.SpanContext.SpanID().String()] = true
	}
	// What the ledger holds is what was counted (which channel met the
	// fault is up to the scheduler).
	wantStates := map[string]int{}
	wantSettled, wantSends := map[string]int64{}, map[string]int64{}
	unknown := 0
	for _, dl := range e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID}) {
		key := fmt.Sprintf("codedrop.channel=%s,codedrop.delivery.state=%s,codedrop.distribution.mode=manual", dl.Channel, dl.State)
		wantSettled[key]++
		if dl.State != distribution.DeliverySkipped {
			wantSends[key]++
			wantStates[dl.Channel+" "+string(dl.State)]++
		}
		if dl.State == distribution.DeliveryUnknown {
			unknown++
		}
	}
	if unknown != 1 || len(wantSettled) < 3 {
		t.Fatalf("ledger: %v, want one unknown delivery, sent ones and a skipped one", wantSettled)
	}
	if diff := cmp.Diff(wantStates, states); diff != "" {
		t.Errorf("send spans by channel and state (-want +got):\n%s", diff)
	}
	calls := o.named("POST /messages")
	if len(calls) != 5 {
		t.Errorf("%d Intercom call spans, want 5", len(calls))
	}
	for _, c := range calls {
		if !sendIDs[c.Parent.SpanID().String()] {
			t.Errorf("Intercom call span %v is not a child of a send span", spanAttrs(c))
		}
	}

	// Metrics: deliveries by final state, channel and mode; sends.
	if diff := cmp.Diff(wantSettled, o.points(t, distribution.MetricDeliveriesSettled)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", distribution.MetricDeliveriesSettled, diff)
	}
	if diff := cmp.Diff(wantSends, o.points(t, distribution.MetricSendDuration)); diff != "" {
		t.Errorf("%s counts (-want +got):\n%s", distribution.MetricSendDuration, diff)
	}
	o.checkNoSecrets(t, append(e.deliveryCodes(), "ann@example.com", "bob@example.com", e.srv.Token())...)
}

func TestTelemetryEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := newOtel(t)
	e.start(o.config(e))
	e.intercomCustomer("a", "Ann", "ann@example.com")
	camp := e.campaign(distribution.Campaign{Name: "Thanks", Code: distribution.CodeConfig{Length: 10}})
	d := e.activate(distribution.Distribution{Name: "thanks", Campaign: camp.ID, Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: inApp("{{voucher.code}}")})
	e.event(distribution.Event{ID: "evt-1", Type: distribution.EventOrderPaid, CustomerID: "a", Order: &distribution.Order{ID: "o1", Amount: 5}})
	if err := e.m.EnqueueEvent(e.ctx, distribution.Event{ID: "evt-2", Type: distribution.EventOrderPaid, CustomerID: "a",
		Order: &distribution.Order{ID: "o2", Amount: 5}}); err != nil {
		t.Fatal(err)
	}
	e.idle()

	tests := []struct {
		span, id string
	}{
		{distribution.SpanEventHandle, "evt-1"},
		{distribution.SpanEventProcess, "evt-2"},
	}
	for _, tt := range tests {
		spans := o.named(tt.span)
		if len(spans) != 1 {
			t.Fatalf("%d %s spans, want 1", len(spans), tt.span)
		}
		want := map[string]string{"codedrop.event.id": tt.id, "codedrop.event.type": distribution.EventOrderPaid}
		if diff := cmp.Diff(want, spanAttrs(spans[0])); diff != "" {
			t.Errorf("%s attributes (-want +got):\n%s", tt.span, diff)
		}
		children := 0
		for _, s := range o.named(distribution.SpanSend) {
			if s.Parent.SpanID() == spans[0].SpanContext.SpanID() {
				children++
				if a := spanAttrs(s); a["codedrop.distribution.id"] != d.ID || a["codedrop.distribution.mode"] != "automatic" || a["codedrop.delivery.state"] != "sent" {
					t.Errorf("send span of %s: %v", tt.id, a)
				}
			}
		}
		if children != 1 {
			t.Errorf("%s has %d send spans under it, want 1", tt.span, children)
		}
	}
	byType := "codedrop.event.type=" + distribution.EventOrderPaid
	if diff := cmp.Diff(map[string]int64{byType: 2}, o.points(t, distribution.MetricEventsReceived)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", distribution.MetricEventsReceived, diff)
	}
	if diff := cmp.Diff(map[string]int64{byType: 2}, o.points(t, distribution.MetricEventLag)); diff != "" {
		t.Errorf("%s counts (-want +got):\n%s", distribution.MetricEventLag, diff)
	}
	want := map[string]int64{"codedrop.channel=intercom_inapp,codedrop.delivery.state=sent,codedrop.distribution.mode=automatic": 2}
	if diff := cmp.Diff(want, o.points(t, distribution.MetricDeliveriesSettled)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", distribution.MetricDeliveriesSettled, diff)
	}
	// A bad event is not received.
	if err := e.m.HandleEvent(e.ctx, distribution.Event{ID: "bad", Type: "nope", CustomerID: "a"}); !errors.Is(err, distribution.ErrInvalid) {
		t.Fatalf("bad event: %v", err)
	}
	if got := o.points(t, distribution.MetricEventsReceived)[byType]; got != 2 {
		t.Errorf("after a bad event %s = %d, want 2", distribution.MetricEventsReceived, got)
	}
	o.checkNoSecrets(t, append(e.deliveryCodes(), "ann@example.com", e.srv.Token())...)
}

func TestTelemetryStoreGauges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := newOtel(t)
	sms := distributiontest.NewChannel("sms")
	e.start(func(c *distribution.Config) {
		o.config(e)(c)
		c.Channels = []distribution.Channel{sms}
	})
	// Run registers the gauges before it arms its first timers.
	e.waitFor("Run to start", func() bool { return e.clk.Pending() > 0 })
	for _, src := range []string{"a", "b", "c"} {
		e.customer(customer.Customer{SourceID: src, Email: src + "@example.com"})
	}
	sms.FailCustomer("b", distribution.TransientError(errors.New("b@example.com is busy"), 0))
	camp := e.campaign(distribution.Campaign{Name: "Pool", Count: 10, Code: distribution.CodeConfig{Length: 10}})
	e.activate(distribution.Distribution{Name: "thanks", Campaign: camp.ID, Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "{{voucher.code}}"}}})
	order := func(id, cust string) {
		e.event(distribution.Event{ID: id, Type: distribution.EventOrderPaid, CustomerID: cust, Order: &distribution.Order{ID: id, Amount: 5}})
	}
	order("o1", "a")
	order("o2", "b") // published, then a retry waits
	e.idle()

	campAttrs := "codedrop.campaign.id=" + camp.ID + ",codedrop.campaign.name=Pool"
	check := func(when string, waiting, published, remaining int64) {
		t.Helper()
		want := map[string]int64{"codedrop.distribution.mode=manual": 0, "codedrop.distribution.mode=automatic": waiting}
		if diff := cmp.Diff(want, o.points(t, distribution.MetricDeliveriesWaiting)); diff != "" {
			t.Errorf("%s: %s (-want +got):\n%s", when, distribution.MetricDeliveriesWaiting, diff)
		}
		if diff := cmp.Diff(map[string]int64{campAttrs: published}, o.points(t, distribution.MetricCodesPublished)); diff != "" {
			t.Errorf("%s: %s (-want +got):\n%s", when, distribution.MetricCodesPublished, diff)
		}
		if diff := cmp.Diff(map[string]int64{campAttrs: remaining}, o.points(t, distribution.MetricCodesRemaining)); diff != "" {
			t.Errorf("%s: %s (-want +got):\n%s", when, distribution.MetricCodesRemaining, diff)
		}
	}
	check("first read", 1, 2, 8)
	order("o3", "c")
	check("within the interval (the store is not read again)", 1, 2, 8)
	e.clk.Advance(distribution.StoreGaugeInterval)
	e.idle()
	check("after the interval", 1, 3, 7)

	// A Manager that stopped running reports no store gauges.
	e.stopRun()
	for _, name := range []string{distribution.MetricDeliveriesWaiting, distribution.MetricCodesPublished, distribution.MetricCodesRemaining} {
		if got := o.points(t, name); len(got) != 0 {
			t.Errorf("after Run returned, %s = %v, want nothing", name, got)
		}
	}
	o.checkNoSecrets(t, append(e.deliveryCodes(), "b@example.com", e.srv.Token())...)
}

// TestTelemetryInterruptedCounted: a final move the Manager makes outside
// a send (an interrupted send becomes unknown) is counted too.
func TestTelemetryInterruptedCounted(t *testing.T) {
	t.Parallel()
	e, d, _ := crashEnv(t, distribution.DeliverySent)
	e.waitFor("two sent, one caught in sending", func() bool {
		r, _ := e.m.Report(e.ctx, d.ID)
		return r.Sent == 2 && r.ToProcess == 1
	})
	o := newOtel(t)
	e.start(o.config(e))
	e.clk.Advance(interruptBound)
	e.waitStatus(d.ID, distribution.StatusDone)
	want := map[string]int64{"codedrop.channel=intercom_inapp,codedrop.delivery.state=unknown,codedrop.distribution.mode=manual": 1}
	if diff := cmp.Diff(want, o.points(t, distribution.MetricDeliveriesSettled)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", distribution.MetricDeliveriesSettled, diff)
	}
}
