package distribution

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// ledger is what the pipeline reads and writes of the delivery ledger.
type ledger interface {
	InsertDeliveries(ctx context.Context, ds []Delivery) (int, error)
	GetDelivery(ctx context.Context, id string) (Delivery, error)
	UpdateDelivery(ctx context.Context, d Delivery, from DeliveryState) error
}

// customerGetter loads a delivery's customer.
type customerGetter interface {
	GetCustomer(ctx context.Context, id string) (customer.Customer, error)
}

// eventGetter loads the event an automatic delivery renders.
type eventGetter interface {
	GetEvent(ctx context.Context, id string) (Event, error)
}

// pipeline is the one path by which a message reaches a customer, whoever
// asked for it: a manual fan-out, an automatic event, a retry, a
// recovery or a teammate's reward. For one delivery it runs, top to
// bottom (see deliver):
//
//  1. admit: the row is still to be sent, its channel exists, the
//     customer exists, consents and the channel's own checks pass, and
//     the send-time policies (quiet hours, frequency caps, message
//     limit) let it through now; otherwise it is skipped, failed or
//     deferred in the ledger;
//  2. publish the recipient's code (idempotent by distribution, customer
//     and trigger, so every channel and every retry carries one code);
//  3. render the channel's templates;
//  4. move the ledger row to sending (compare-and-set; a row not stored
//     yet is inserted in sending), right before the provider call;
//  5. send through the channel, bounded by sendTimeout;
//  6. settle: sent, or by the class of the error failed, unknown (it may
//     have been sent: never repeated) or back to scheduled for a retry.
//
// A published code emits customer.publication.succeeded through emit,
// which queues the event: the pipeline never runs another send inside a
// send. A fan-out runs the same steps in stages with batched writes
// (fanout.go). Safe for concurrent use.
type pipeline struct {
	ledger    ledger
	customers customerGetter
	events    eventGetter
	codes     CodeSource
	policy    *policy
	sched     Scheduler
	clock     Clock
	log       *slog.Logger
	tel       *telemetry // spans and metrics (telemetry.go)
	// emit hands a publication made at since (the wall clock's monotonic
	// time, for the trigger index's freshness) to the event queue, never
	// inline.
	emit func(ctx context.Context, dl *Delivery, pub Publication, since time.Time)

	// Optional batch capabilities of the store and the code source, used
	// by fanout (nil: one call per delivery).
	batchCustomers CustomerBatchGetter
	batchLedger    DeliveryBatchUpdater
	batchCodes     BatchPublisher

	sendTimeout time.Duration
	maxAttempts int
	retryDelay  time.Duration

	// sending holds the deliveries this pipeline has in sending, which
	// the Manager's sweep leaves alone.
	sending inFlight
}

// ready is a delivery that admit let through: what publish, render and
// send need. send or abandon (or a failed publication) releases its hold
// and emits its publication.
type ready struct {
	dl            Delivery
	c             customer.Customer
	idx           int // of the channel in the plan
	data          renderData
	needsCode     bool // the plan publishes and it is not published yet
	subject, body string
	h             hold
	pub           *Publication
	publishedAt   time.Time // wall clock, when pub was known
	// insert is set for a row not stored yet (a reward): it is inserted
	// when it moves to sending, and an outcome before that is not
	// recorded.
	insert bool
}

// deliverOpts tunes deliver for its caller.
type deliverOpts struct {
	// retry is set by a retry job: the delivery's NextAttemptAt has come.
	retry bool
	// insert is set for a row not stored yet (see ready.insert).
	insert bool
}

// deliver runs dl through every step of the pipeline and returns it as it
// ended (its state is the ledger's, unless opts.insert left it unstored).
// The error is a step's that failed and left the row for a later run.
func (p *pipeline) deliver(ctx context.Context, pl *plan, dl Delivery, opts deliverOpts) (Delivery, error) {
	ctx = labelCalls(ctx, pl.d.ID)
	r, err := p.prepare(ctx, pl, &dl, opts, nil, nil)
	if r == nil {
		return dl, err
	}
	if r.needsCode {
		pr, err := p.publish(ctx, pl, r)
		if pr == nil {
			return r.dl, err
		}
	}
	p.render(pl, r)
	err = p.send(ctx, pl, r, nil)
	return r.dl, err
}

// prepare runs step 1 (admit) for dl. It returns nil when dl is not to be
// sent now: already taken, skipped, failed or deferred (recorded, and set
// in *dl), with the error of a step that failed. pre is dl's customer when
// a fan-out loaded it ahead; res is the fan-out's block of message counts.
func (p *pipeline) prepare(ctx context.Context, pl *plan, dl *Delivery, opts deliverOpts, pre *prefetched, res *usageReserve) (*ready, error) {
	if dl.State != DeliveryScheduled {
		return nil, nil
	}
	now := p.clock.Now()
	if !opts.retry && dl.NextAttemptAt.After(now) {
		// Waiting for its retry job; (re)schedule it, as a restart loses
		// the in-process scheduler's jobs (same job ID: no duplicate).
		return nil, p.sched.Schedule(ctx, retryJob(dl.ID, dl.NextAttemptAt))
	}
	r := &ready{dl: *dl, insert: opts.insert}
	skip := func(reason, detail string) error {
		err := p.move(ctx, r, DeliveryScheduled, DeliverySkipped, reason, detail)
		*dl = r.dl
		return err
	}
	fail := func(reason string) error { err := p.settle(ctx, r, DeliveryFailed, reason); *dl = r.dl; return err }

	r.idx = pl.channelIndex(dl.Channel)
	if r.idx < 0 || pl.channels[r.idx] == nil {
		return nil, fail(fmt.Sprintf("channel %q is not registered", dl.Channel))
	}
	ch := pl.channels[r.idx]

	// Consents, and whether the channel can reach the customer.
	if pre != nil && pre.loaded {
		if !pre.found {
			return nil, skip(ReasonCustomerDeleted, "")
		}
		r.c = pre.c
	} else {
		c, err := p.customers.GetCustomer(ctx, dl.CustomerID)
		if errors.Is(err, customer.ErrNotFound) {
			return nil, skip(ReasonCustomerDeleted, "")
		} else if err != nil {
			return nil, err
		}
		r.c = c
	}
	c := &r.c
	if reason, detail := pl.d.Consents.Check(c); reason != "" {
		return nil, skip(reason, detail)
	}
	if chk, ok := ch.(Checker); ok {
		reason, err := p.check(ctx, chk, c)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err // stopping: it stays scheduled
			}
			err = p.sendFailed(ctx, r, DeliveryScheduled, err)
			*dl = r.dl
			return nil, err
		}
		if reason != "" {
			return nil, skip(reason, "")
		}
	}

	// Send-time policies: quiet hours, frequency caps, message limit.
	if pl.policy {
		h, v, err := p.policy.admit(ctx, pl, dl, c, res)
		if err != nil {
			return nil, err
		}
		if v != nil {
			if v.skip != "" {
				return nil, skip(v.skip, v.detail)
			}
			err := p.deferTo(ctx, r, v.until, v.reason)
			*dl = r.dl
			return nil, err
		}
		r.h = h
	}
	r.data = renderData{c: c, distName: pl.d.Name, extra: pl.extra}
	if err := p.eventData(ctx, pl, &r.dl, &r.data); err != nil {
		p.policy.release(ctx, r.h)
		return nil, err
	}
	if pl.d.Campaign != "" {
		if stopped := pl.stoppedReason(); stopped != "" {
			p.policy.release(ctx, r.h)
			return nil, skip(stopped, "") // the plan stopped sending
		}
		r.needsCode = true
	}
	return r, nil
}

// check runs the channel's own checks on c. A refusal for the provider's
// rate limit (a contact lookup answered 429) is waited out and the check
// repeated by the same worker, a few times in a row at most, recording
// nothing: the delivery keeps its place.
func (p *pipeline) check(ctx context.Context, chk Checker, c *customer.Customer) (string, error) {
	for limited := 0; ; limited++ {
		reason, err := chk.Check(ctx, c)
		if err == nil {
			return reason, nil
		}
		class, after := classify(err)
		if class != RateLimited || limited >= maxRateLimited {
			return "", err
		}
		if after <= 0 {
			after = time.Second
		}
		p.log.DebugContext(ctx, "rate limited while checking; checking again", "customer", c.ID, "in", after)
		if err := sleep(ctx, p.clock, after); err != nil {
			return "", err
		}
	}
}

// publishRequest is the request for r's code.
func publishRequest(pl *plan, r *ready) PublishRequest {
	return PublishRequest{
		Key:            publicationKey(r.dl.DistributionID, r.dl.CustomerID, r.dl.TriggerKey),
		CampaignID:     pl.d.Campaign,
		CustomerID:     r.dl.CustomerID,
		DistributionID: r.dl.DistributionID,
		Channel:        pl.pubChannel,
		Metadata:       pl.pubMeta,
	}
}

// publish runs step 2 for r; nil when r is not to be sent (recorded as
// skipped or failed, its hold released).
func (p *pipeline) publish(ctx context.Context, pl *plan, r *ready) (*ready, error) {
	pub, err := p.codes.Publish(ctx, publishRequest(pl, r))
	return p.published(ctx, pl, r, pub, err)
}

// published applies the outcome of r's publication.
func (p *pipeline) published(ctx context.Context, pl *plan, r *ready, pub Publication, err error) (*ready, error) {
	if err != nil {
		p.policy.release(ctx, r.h)
		if errors.Is(err, ErrNoCodesLeft) {
			pl.stop(ReasonNoCodesLeft)
			return nil, p.settle(ctx, r, DeliverySkipped, ReasonNoCodesLeft)
		}
		return nil, p.settle(ctx, r, DeliveryFailed, "publishing a code: "+err.Error())
	}
	r.pub, r.needsCode, r.publishedAt = &pub, false, time.Now()
	r.dl.Code, r.dl.PublicationID = pub.Code, pub.ID
	r.data.code, r.data.campaignName = pub.Code, pub.CampaignName
	return r, nil
}

// render runs step 3 for r.
func (p *pipeline) render(pl *plan, r *ready) {
	r.data.c = &r.c
	r.subject, r.body = pl.tpl[r.idx].render(&r.data, escapesHTML(pl.channels[r.idx]))
}

// maxRateLimited bounds how often in a row one delivery goes back from
// sending for a provider's rate limit before it is retried like a
// transient failure.
const maxRateLimited = 5

// send runs steps 4 to 6 for r: the ledger move to sending (after the
// channel's rate limit lets the request through, for a Pacer), the
// provider call and the outcome. b batches the ledger writes of a fan-out
// (nil: one write each).
func (p *pipeline) send(ctx context.Context, pl *plan, r *ready, b *runBatch) error {
	ctx, span := p.tel.startSend(ctx, r)
	defer p.tel.endSend(ctx, span, r)
	keep := false // the message may have gone out: keep what admit counted
	defer func() {
		if !keep {
			p.policy.release(ctx, r.h)
		}
		if r.pub != nil {
			p.emit(ctx, &r.dl, *r.pub, r.publishedAt)
		}
	}()
	ch := pl.channels[r.idx]
	pacer, _ := ch.(Pacer)
	for limited := 0; ; limited++ {
		if pacer != nil {
			if err := pacer.Pace(ctx); err != nil {
				return fmt.Errorf("waiting for the channel's rate limit: %w", err) // it stays scheduled
			}
		}

		// 4. Ledger: sending, right before the provider call.
		dl := r.dl
		dl.State, dl.Attempts, dl.UpdatedAt = DeliverySending, dl.Attempts+1, p.clock.Now()
		dl.NextAttemptAt, dl.Reason = time.Time{}, ""
		p.sending.add(dl.ID) // until its outcome is written: see inFlight
		var err error
		switch {
		case r.insert:
			var n int
			if n, err = p.ledger.InsertDeliveries(ctx, []Delivery{dl}); err == nil && n == 0 {
				err = fmt.Errorf("delivery %s: recorded meanwhile: %w", dl.ID, ErrConflict)
			}
		case b != nil && b.sending != nil:
			_, err = b.sending.do(ctx, dl)
		default:
			err = p.ledger.UpdateDelivery(ctx, dl, DeliveryScheduled)
		}
		if err != nil {
			p.sending.done(dl.ID)
			if errors.Is(err, ErrConflict) {
				return nil // another worker took it: r.dl stays as it was
			}
			return fmt.Errorf("marking sending: %w", err)
		}
		r.dl, r.insert = dl, false

		// 5. Send.
		sctx, cancel := context.WithTimeout(ctx, p.sendTimeout)
		rec, err := ch.Send(sctx, Message{Delivery: dl, Customer: &r.c, Subject: r.subject, Body: r.body,
			Template: pl.d.Channels[r.idx].Template, Code: dl.Code})
		cancel()
		if err != nil {
			if class, after := classify(err); class == RateLimited && limited < maxRateLimited {
				err := p.backOff(ctx, r, err, after)
				p.sending.done(dl.ID)
				if err != nil {
					return err
				}
				continue // same worker, same place in line
			}
			keep = isAmbiguous(err)
			err = p.sendFailed(ctx, r, DeliverySending, err)
			p.sending.done(dl.ID)
			return err
		}
		keep = true
		if rec.pending {
			p.sending.done(dl.ID)
			return nil // sent; the provider confirms it later (ConfirmReward)
		}

		// 6. Ledger: sent.
		dl.State, dl.ProviderMessageID, dl.Reason = DeliverySent, rec.ProviderMessageID, ""
		dl.SentAt = p.clock.Now()
		dl.UpdatedAt = dl.SentAt
		r.dl = dl
		if b != nil && b.sent != nil {
			b.sent.add(dl) // written within sentDelay, and before the fan-out returns; then done
			return nil
		}
		err = p.ledger.UpdateDelivery(ctx, dl, DeliverySending)
		p.sending.done(dl.ID)
		if err != nil {
			return fmt.Errorf("recording sent message %q: %w", rec.ProviderMessageID, err)
		}
		return nil
	}
}

// abandon gives back what prepare took for r, which is not sent now (the
// fan-out is stopping): its hold. Its publication stays (the next run
// publishes the same code again, by key).
func (p *pipeline) abandon(ctx context.Context, r *ready) {
	p.policy.release(ctx, r.h)
	if r.pub != nil {
		p.emit(ctx, &r.dl, *r.pub, r.publishedAt)
	}
}

// eventData adds the triggering event of an automatic delivery to what
// its templates see.
func (p *pipeline) eventData(ctx context.Context, pl *plan, dl *Delivery, data *renderData) error {
	if pl.d.Mode != Automatic {
		return nil
	}
	ev := pl.ev
	if ev == nil || ev.ID != dl.TriggerKey {
		e, err := p.events.GetEvent(ctx, dl.TriggerKey)
		if err != nil {
			return fmt.Errorf("loading event %q: %w", dl.TriggerKey, err)
		}
		ev = &e
	}
	data.extra = ev.lookup
	if pl.d.Campaign == "" && ev.Voucher != nil {
		data.code, data.campaignName = ev.Voucher.Code, ev.Voucher.Campaign
		dl.Code = ev.Voucher.Code
	}
	return nil
}

// escapesHTML reports whether ch's bodies are HTML (values escaped): true
// unless ch implements HTMLBodier and says false.
func escapesHTML(ch Channel) bool {
	if h, ok := ch.(HTMLBodier); ok {
		return h.HTMLBody()
	}
	return true
}

// isAmbiguous reports whether a send error means the message may have been
// sent.
func isAmbiguous(err error) bool {
	class, _ := classify(err)
	return class == Ambiguous
}
