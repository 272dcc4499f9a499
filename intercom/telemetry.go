package intercom

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// scopeName is the instrumentation scope of the client's meter and tracer.
const scopeName = "github.com/codedrop/codedrop/intercom"

// Metric names of the client (see the package documentation).
const (
	MetricRequestDuration = "codedrop.intercom.request.duration"
	MetricRateLimitWait   = "codedrop.intercom.rate_limit.wait.duration"
)

// latencyBuckets are OTel's advised boundaries for HTTP durations, in
// seconds, with a longer tail for rate-limit waits.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60}

// telemetry holds the client's instruments and tracer. With no-op
// providers it costs next to nothing: attributes are built only for a
// recording span or an enabled instrument, and metric attribute sets once
// per combination.
type telemetry struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	wait     metric.Float64Histogram
	server   []attribute.KeyValue // server.address, server.port
	attrs    sync.Map             // requestKey -> metric.MeasurementOption
}

func newTelemetry(cfg *Config, base *url.URL, log *slog.Logger) *telemetry {
	mp, tp := cfg.MeterProvider, cfg.TracerProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	meter := mp.Meter(scopeName, metric.WithSchemaURL(semconv.SchemaURL))
	t := &telemetry{tracer: tp.Tracer(scopeName, trace.WithSchemaURL(semconv.SchemaURL))}
	var errs []error
	var err error
	if t.duration, err = meter.Float64Histogram(MetricRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Intercom API calls (one per HTTP request, retries included), by method, URL template and status; the count is the number of calls."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		errs = append(errs, err)
		t.duration, _ = metricnoop.Meter{}.Float64Histogram(MetricRequestDuration)
	}
	if t.wait, err = meter.Float64Histogram(MetricRateLimitWait, metric.WithUnit("s"),
		metric.WithDescription("Time a call waited for the client's rate limit (its limiter and any pause Intercom's X-RateLimit headers asked for) before it was sent."),
		metric.WithExplicitBucketBoundaries(append([]float64{0}, latencyBuckets...)...)); err != nil {
		errs = append(errs, err)
		t.wait, _ = metricnoop.Meter{}.Float64Histogram(MetricRateLimitWait)
	}
	if err := errors.Join(errs...); err != nil {
		log.Warn("intercom: creating metric instruments; those are not recorded", "err", err)
	}
	host, port := base.Hostname(), base.Port()
	t.server = []attribute.KeyValue{semconv.ServerAddress(host)}
	if port == "" && base.Scheme == "https" {
		port = "443"
	} else if port == "" {
		port = "80"
	}
	if n, err := strconv.Atoi(port); err == nil {
		t.server = append(t.server, semconv.ServerPort(n))
	}
	return t
}

// routes are the URL templates route returns.
var routes = []string{"/me", "/admins", "/messages", "/contacts", "/contacts/search", "/tags", "/data_attributes",
	"/contacts/{id}", "/contacts/find_by_external_id/{external_id}", "/contacts/{id}/tags", "/contacts/{id}/tags/{tag_id}",
	"/conversations/{id}/reply"}

// spanNames holds the span name of every method and route ("POST
// /messages"), made once so that a request builds none. Read-only.
var spanNames = func() map[[2]string]string {
	out := map[[2]string]string{}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		out[[2]string{m, ""}] = m
		for _, r := range routes {
			out[[2]string{m, r}] = m + " " + r
		}
	}
	return out
}()

// spanName is the name of a request span: "{method} {url.template}", or
// the method alone for a path without a template.
func spanName(method, route string) string {
	if n, ok := spanNames[[2]string{method, route}]; ok {
		return n
	}
	if route == "" {
		return method
	}
	return method + " " + route
}

// clientSpan is the option of every request span (a slice, so that a
// call passes it without allocating).
var clientSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// route returns the URL template of an API path (the
// url.template attribute and the span name): ids are replaced by
// placeholders, so no contact id or external id (which may be an email
// address) is recorded. A path it does not know gives "".
func route(path string) string {
	switch path {
	case "/me", "/admins", "/messages", "/contacts", "/contacts/search", "/tags", "/data_attributes":
		return path
	}
	if rest, ok := strings.CutPrefix(path, "/contacts/"); ok {
		if strings.HasPrefix(rest, "find_by_external_id/") {
			return "/contacts/find_by_external_id/{external_id}"
		}
		_, sub, nested := strings.Cut(rest, "/")
		switch {
		case !nested:
			return "/contacts/{id}"
		case sub == "tags":
			return "/contacts/{id}/tags"
		case strings.HasPrefix(sub, "tags/") && !strings.Contains(sub[len("tags/"):], "/"):
			return "/contacts/{id}/tags/{tag_id}"
		}
		return ""
	}
	if rest, ok := strings.CutPrefix(path, "/conversations/"); ok {
		if id, ok := strings.CutSuffix(rest, "/reply"); ok && !strings.Contains(id, "/") {
			return "/conversations/{id}/reply"
		}
	}
	return ""
}

// requestKey identifies a cached attribute set of the request metric.
type requestKey struct {
	method, route string
	status        int
	errType       string
}

func (t *telemetry) requestAttrs(k requestKey) metric.MeasurementOption {
	if v, ok := t.attrs.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	kv := append([]attribute.KeyValue{semconv.HTTPRequestMethodKey.String(k.method)}, t.server...)
	if k.route != "" {
		kv = append(kv, semconv.URLTemplate(k.route))
	}
	if k.status != 0 {
		kv = append(kv, semconv.HTTPResponseStatusCode(k.status))
	}
	if k.errType != "" {
		kv = append(kv, semconv.ErrorTypeKey.String(k.errType))
	}
	v, _ := t.attrs.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(kv...)))
	return v.(metric.MeasurementOption)
}

// errType is the error.type of a call that ended with status and err: the
// status code for a 4xx or 5xx, else a low-cardinality name of err (never
// its text, which may quote a request).
func errType(status int, err error) string {
	switch {
	case err == nil && status >= 400:
		return strconv.Itoa(status)
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, errToken):
		return "token"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}

// tracedRoundTrip is roundTrip (one HTTP exchange, attempt 0 the first)
// in a client span following OTel's HTTP client conventions, recorded in
// codedrop.intercom.request.duration. The span carries the method, the URL
// template, the server, the status and the resend count; no URL with ids,
// no header, no body.
func (c *Client) tracedRoundTrip(ctx context.Context, r *request, attempt int) ([]byte, int, http.Header, error) {
	t := c.tel
	rt := route(r.path)
	ctx, span := t.tracer.Start(ctx, spanName(r.method, rt), clientSpan...)
	rec := span.IsRecording()
	if rec {
		span.SetAttributes(semconv.HTTPRequestMethodKey.String(r.method))
		span.SetAttributes(t.server...)
		if rt != "" {
			span.SetAttributes(semconv.URLTemplate(rt))
		}
		if attempt > 0 {
			span.SetAttributes(semconv.HTTPRequestResendCount(attempt))
		}
	}
	measure := t.duration.Enabled(ctx)
	var start time.Time
	if measure {
		start = time.Now()
	}
	body, status, hdr, err := c.roundTrip(ctx, r)
	if measure || rec {
		et := errType(status, err)
		if measure {
			t.duration.Record(ctx, time.Since(start).Seconds(), t.requestAttrs(requestKey{r.method, rt, status, et}))
		}
		if rec {
			if status != 0 {
				span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			}
			if et != "" {
				span.SetAttributes(semconv.ErrorTypeKey.String(et))
				span.SetStatus(codes.Error, et)
			}
		}
	}
	span.End()
	return body, status, hdr, err
}

// observedWait is wait, recorded in
// codedrop.intercom.rate_limit.wait.duration (by the client's clock).
func (c *Client) observedWait(ctx context.Context) error {
	if !c.tel.wait.Enabled(ctx) {
		return c.wait(ctx)
	}
	start := c.now()
	err := c.wait(ctx)
	c.tel.wait.Record(ctx, max(0, c.now().Sub(start).Seconds()))
	return err
}
