package distribution

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// scopeName is the instrumentation scope of the Manager's meter and
// tracer.
const scopeName = "github.com/codedrop/codedrop/distribution"

// Metric names (see the package documentation).
const (
	MetricDeliveriesSettled = "codedrop.deliveries.settled"
	MetricDeliveriesWaiting = "codedrop.deliveries.waiting"
	MetricSendDuration      = "codedrop.send.duration"
	MetricEventsReceived    = "codedrop.events.received"
	MetricEventLag          = "codedrop.event.lag"
	MetricCodesPublished    = "codedrop.codes.published"
	MetricCodesRemaining    = "codedrop.codes.remaining"
)

// Span names (see the package documentation).
const (
	SpanFanout       = "codedrop.fanout"
	SpanSend         = "codedrop.send"
	SpanEventHandle  = "codedrop.event.handle"
	SpanEventProcess = "codedrop.event.process"
)

// Attribute keys of the Manager's metrics and spans. None carries a
// customer's address, a token or a code.
const (
	AttrDistributionID   = attribute.Key("codedrop.distribution.id")
	AttrDistributionMode = attribute.Key("codedrop.distribution.mode") // manual, automatic or reward
	AttrChannel          = attribute.Key("codedrop.channel")
	AttrDeliveryID       = attribute.Key("codedrop.delivery.id")
	AttrDeliveryState    = attribute.Key("codedrop.delivery.state")
	AttrDeliveryAttempts = attribute.Key("codedrop.delivery.attempts")
	AttrEventID          = attribute.Key("codedrop.event.id")
	AttrEventType        = attribute.Key("codedrop.event.type")
	AttrCampaignID       = attribute.Key("codedrop.campaign.id")
	AttrCampaignName     = attribute.Key("codedrop.campaign.name")
	AttrFanoutDeliveries = attribute.Key("codedrop.fanout.deliveries")
	attrErrorType        = attribute.Key("error.type") // OTel's general convention
)

// ModeReward is the codedrop.distribution.mode of a teammate's reward
// (GiveReward); manual and automatic distributions use their Mode.
const ModeReward = "reward"

// Histogram bucket boundaries, in seconds.
var (
	latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30}
	lagBuckets     = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}
)

// telemetry holds the Manager's instruments and tracer. With the default
// (no-op) providers every call costs next to nothing: attributes are only
// built for recording spans and enabled instruments, and the attribute
// sets of the metrics are made once per combination.
type telemetry struct {
	tracer trace.Tracer
	meter  metric.Meter
	log    *slog.Logger

	settled        metric.Int64Counter
	sendDuration   metric.Float64Histogram
	eventsReceived metric.Int64Counter
	eventLag       metric.Float64Histogram
	waiting        metric.Int64ObservableGauge
	codesPublished metric.Int64ObservableGauge
	codesRemaining metric.Int64ObservableGauge

	attrs sync.Map // attrKey -> metric.MeasurementOption

	gauges gaugeCache // see telemetry_gauges.go
}

// attrKey identifies a cached attribute set.
type attrKey struct {
	kind                 uint8
	state, channel, mode string
}

const (
	attrsDelivery uint8 = iota
	attrsEvent
	attrsWaiting
)

func newTelemetry(cfg *Config, log *slog.Logger) *telemetry {
	mp, tp := cfg.MeterProvider, cfg.TracerProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	t := &telemetry{tracer: tp.Tracer(scopeName), meter: mp.Meter(scopeName), log: log}
	var errs []error
	// check keeps a failed instrument usable (a no-op) and remembers why.
	check := func(err error) { errs = append(errs, err) }
	noop := metricnoop.Meter{}
	var err error
	if t.settled, err = t.meter.Int64Counter(MetricDeliveriesSettled, metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries that reached a final state (sent, skipped, failed, unknown, canceled), by state, channel and mode.")); err != nil {
		check(err)
		t.settled, _ = noop.Int64Counter(MetricDeliveriesSettled)
	}
	if t.sendDuration, err = t.meter.Float64Histogram(MetricSendDuration, metric.WithUnit("s"),
		metric.WithDescription("One send through the pipeline: the channel's rate-limit wait, the move to sending, the provider call and the outcome."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		check(err)
		t.sendDuration, _ = noop.Float64Histogram(MetricSendDuration)
	}
	if t.eventsReceived, err = t.meter.Int64Counter(MetricEventsReceived, metric.WithUnit("{event}"),
		metric.WithDescription("Valid events handed to HandleEvent or EnqueueEvent, repeats included, by type.")); err != nil {
		check(err)
		t.eventsReceived, _ = noop.Int64Counter(MetricEventsReceived)
	}
	if t.eventLag, err = t.meter.Float64Histogram(MetricEventLag, metric.WithUnit("s"),
		metric.WithDescription("From an event's time (Event.At: when it happened, by default when it was received) to the end of its processing, by type."),
		metric.WithExplicitBucketBoundaries(lagBuckets...)); err != nil {
		check(err)
		t.eventLag, _ = noop.Float64Histogram(MetricEventLag)
	}
	if t.waiting, err = t.meter.Int64ObservableGauge(MetricDeliveriesWaiting, metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries in scheduled (waiting for their fan-out, a retry or the end of a deferral) of the sending, active and paused distributions, by mode; read from the store, store-wide.")); err != nil {
		check(err)
		t.waiting, _ = noop.Int64ObservableGauge(MetricDeliveriesWaiting)
	}
	if t.codesPublished, err = t.meter.Int64ObservableGauge(MetricCodesPublished, metric.WithUnit("{code}"),
		metric.WithDescription("Codes a campaign has published so far, read from the code source, store-wide.")); err != nil {
		check(err)
		t.codesPublished, _ = noop.Int64ObservableGauge(MetricCodesPublished)
	}
	if t.codesRemaining, err = t.meter.Int64ObservableGauge(MetricCodesRemaining, metric.WithUnit("{code}"),
		metric.WithDescription("Codes a pool campaign can still publish, read from the code source, store-wide.")); err != nil {
		check(err)
		t.codesRemaining, _ = noop.Int64ObservableGauge(MetricCodesRemaining)
	}
	if err := errors.Join(errs...); err != nil {
		log.Warn("distribution: creating metric instruments; those are not recorded", "err", err)
	}
	return t
}

// cached returns the attribute set of k, made by mk the first time.
func (t *telemetry) cached(k attrKey, mk func() attribute.Set) metric.MeasurementOption {
	if v, ok := t.attrs.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	v, _ := t.attrs.LoadOrStore(k, metric.WithAttributeSet(mk()))
	return v.(metric.MeasurementOption)
}

// deliveryAttrs is the attribute set of a delivery's metrics.
func (t *telemetry) deliveryAttrs(state DeliveryState, channel, mode string) metric.MeasurementOption {
	return t.cached(attrKey{attrsDelivery, string(state), channel, mode}, func() attribute.Set {
		return attribute.NewSet(AttrDeliveryState.String(string(state)), AttrChannel.String(channel), AttrDistributionMode.String(mode))
	})
}

// deliveryMode is the codedrop.distribution.mode of dl.
func deliveryMode(dl *Delivery) string {
	switch {
	case dl.TriggerKey == ManualTrigger:
		return string(Manual)
	case strings.HasPrefix(dl.DistributionID, "reward:"):
		return ModeReward
	default:
		return string(Automatic)
	}
}

// settledDelivery counts dl, just written, if it is final.
func (t *telemetry) settledDelivery(ctx context.Context, dl *Delivery) {
	if dl.State.Final() && t.settled.Enabled(ctx) {
		t.settled.Add(ctx, 1, t.deliveryAttrs(dl.State, dl.Channel, deliveryMode(dl)))
	}
}

// meteredLedger is the pipeline's ledger: every move it writes to a final
// state is counted in codedrop.deliveries.settled. The Manager's own final
// moves (interrupted sends, canceled deliveries of an event, confirmed
// reward cards) go through it too.
type meteredLedger struct {
	ledger
	tel *telemetry
}

func (l meteredLedger) UpdateDelivery(ctx context.Context, d Delivery, from DeliveryState) error {
	err := l.ledger.UpdateDelivery(ctx, d, from)
	if err == nil && from != d.State {
		l.tel.settledDelivery(ctx, &d)
	}
	return err
}

// meteredBatchLedger counts the final moves of a DeliveryBatchUpdater, as
// meteredLedger.
type meteredBatchLedger struct {
	DeliveryBatchUpdater
	tel *telemetry
}

func (l meteredBatchLedger) UpdateDeliveries(ctx context.Context, ds []Delivery, from DeliveryState) ([]error, error) {
	errs, err := l.DeliveryBatchUpdater.UpdateDeliveries(ctx, ds, from)
	if err == nil && l.tel.settled.Enabled(ctx) {
		for i := range ds {
			if i < len(errs) && errs[i] == nil && from != ds[i].State {
				l.tel.settledDelivery(ctx, &ds[i])
			}
		}
	}
	return errs, err
}

// spanEnd ends span with err's outcome (no error text: it may quote a
// provider's answer about a customer).
func spanEnd(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetAttributes(attrErrorType.String(errorType(err)))
		span.SetStatus(otelcodes.Error, errorType(err))
	}
	span.End()
}

// errorType is a low-cardinality name of err for error.type.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrEventInProgress):
		return "in_progress"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrConflict):
		return "conflict"
	}
	return "_OTHER"
}

// startFanout starts the span of one fan-out pass over pl's deliveries ds;
// the returned ds counts what it reads, for the span. end ends the span
// with the pass's error and returns it.
func (t *telemetry) startFanout(ctx context.Context, pl *plan, ds iter.Seq2[Delivery, error]) (context.Context, iter.Seq2[Delivery, error], func(error) error) {
	ctx, span := t.tracer.Start(ctx, SpanFanout)
	if !span.IsRecording() {
		return ctx, ds, func(err error) error { span.End(); return err }
	}
	span.SetAttributes(AttrDistributionID.String(pl.d.ID), AttrDistributionMode.String(planMode(pl)))
	n := 0
	counted := func(yield func(Delivery, error) bool) {
		for dl, err := range ds {
			if err == nil {
				n++
			}
			if !yield(dl, err) {
				return
			}
		}
	}
	return ctx, counted, func(err error) error {
		span.SetAttributes(AttrFanoutDeliveries.Int(n))
		spanEnd(span, err)
		return err
	}
}

// planMode is the codedrop.distribution.mode of pl.
func planMode(pl *plan) string {
	if strings.HasPrefix(pl.d.ID, "reward:") {
		return ModeReward
	}
	return string(or(pl.d.Mode, Manual))
}

// sendSpan is one send's span and start (zero when its duration is not
// recorded).
type sendSpan struct {
	span  trace.Span
	start time.Time
}

// startSend starts the span of r's send (pipeline.send, steps 4 to 6).
func (t *telemetry) startSend(ctx context.Context, r *ready) (context.Context, sendSpan) {
	ctx, span := t.tracer.Start(ctx, SpanSend)
	if span.IsRecording() {
		span.SetAttributes(AttrDistributionID.String(r.dl.DistributionID), AttrDistributionMode.String(deliveryMode(&r.dl)),
			AttrChannel.String(r.dl.Channel), AttrDeliveryID.String(r.dl.ID))
	}
	s := sendSpan{span: span}
	if t.sendDuration.Enabled(ctx) {
		s.start = time.Now()
	}
	return ctx, s
}

// endSend ends r's send span with the state the delivery ended in (sent,
// failed, unknown; scheduled for a retry; sending for a reward card the
// provider confirms later) and records its duration.
func (t *telemetry) endSend(ctx context.Context, s sendSpan, r *ready) {
	if !s.start.IsZero() {
		t.sendDuration.Record(ctx, time.Since(s.start).Seconds(), t.deliveryAttrs(r.dl.State, r.dl.Channel, deliveryMode(&r.dl)))
	}
	if s.span.IsRecording() {
		s.span.SetAttributes(AttrDeliveryState.String(string(r.dl.State)), AttrDeliveryAttempts.Int(r.dl.Attempts))
		if r.dl.State == DeliveryFailed || r.dl.State == DeliveryUnknown {
			s.span.SetStatus(otelcodes.Error, "delivery "+string(r.dl.State))
		}
	}
	s.span.End()
}

// startEvent starts the span of an event's handling (SpanEventHandle) or
// of a queued event's job (SpanEventProcess; typ may be empty then, and
// is set once the event is loaded).
func (t *telemetry) startEvent(ctx context.Context, name, id, typ string) (context.Context, trace.Span) {
	ctx, span := t.tracer.Start(ctx, name)
	if span.IsRecording() {
		span.SetAttributes(AttrEventID.String(id))
		if typ != "" {
			span.SetAttributes(AttrEventType.String(typ))
		}
	}
	return ctx, span
}

// eventAttrs is the attribute set of an event's metrics.
func (t *telemetry) eventAttrs(typ string) metric.MeasurementOption {
	return t.cached(attrKey{kind: attrsEvent, state: typ}, func() attribute.Set {
		return attribute.NewSet(AttrEventType.String(typ))
	})
}

// eventReceived counts a valid event from the host.
func (t *telemetry) eventReceived(ctx context.Context, typ string) {
	if t.eventsReceived.Enabled(ctx) {
		t.eventsReceived.Add(ctx, 1, t.eventAttrs(typ))
	}
}

// eventProcessed records the lag of event e, processed at now (the
// Manager's clock), and names its type on the current span.
func (t *telemetry) eventProcessed(ctx context.Context, e *Event, now time.Time) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(AttrEventType.String(e.Type))
	}
	if t.eventLag.Enabled(ctx) {
		t.eventLag.Record(ctx, max(0, now.Sub(e.At).Seconds()), t.eventAttrs(e.Type))
	}
}
