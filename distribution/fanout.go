package distribution

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
)

// resolveBatch is how many audience members are turned into deliveries per
// store write.
const resolveBatch = 500

// run is one fan-out (or retry) of one distribution in this process.
type run struct {
	d        Distribution
	tpl      []compiled
	channels []Channel
	mu       sync.Mutex
	stopped  string // why sending stopped early ("no codes left")
	ev       *Event // the triggering event of an automatic run (else loaded per delivery)
	// b batches the store writes of process's workers; nil (one call per
	// step) for a single delivery (a retry, an event's own deliveries).
	b *runBatch
}

func (m *Manager) newRun(d Distribution) (*run, error) {
	tpl, err := compileChannels(&d)
	if err != nil { // validated on create/update; only a changed tag set gets here
		return nil, err
	}
	r := &run{d: d, tpl: tpl, channels: make([]Channel, len(d.Channels))}
	for i, ch := range d.Channels {
		r.channels[i] = m.channels[ch.Channel] // nil: unknown (failed per delivery)
	}
	return r, nil
}

func (r *run) channelIndex(name string) int {
	for i, ch := range r.d.Channels {
		if ch.Channel == name {
			return i
		}
	}
	return -1
}

// fire starts (or resumes) sending a scheduled distribution. If this
// Manager is already fanning it out, the running fan-out makes one more
// pass when it ends (for deliveries re-queued meanwhile) instead.
func (m *Manager) fire(ctx context.Context, id string) error {
	m.mu.Lock()
	if _, busy := m.active[id]; busy {
		m.active[id] = true // run again
		m.mu.Unlock()
		return nil
	}
	m.active[id] = false
	m.mu.Unlock()
	for {
		err := m.fireOnce(ctx, id)
		m.mu.Lock()
		again := m.active[id]
		if !again || err != nil || ctx.Err() != nil {
			delete(m.active, id)
			m.mu.Unlock()
			return err
		}
		m.active[id] = false
		m.mu.Unlock()
	}
}

func (m *Manager) fireOnce(ctx context.Context, id string) error {
	var d Distribution
	for {
		var err error
		if d, err = m.store.GetDistribution(ctx, id); err != nil {
			return err
		}
		if d.Status == StatusSending {
			break
		}
		if d.Status != StatusScheduled || d.SendAt.IsZero() || d.SendAt.After(m.clock.Now()) {
			return nil // canceled, rescheduled or not yet due: not ours to send
		}
		d.Status, d.UpdatedAt = StatusSending, m.clock.Now()
		d.Report = Report{StartedAt: d.UpdatedAt}
		rev, err := m.store.UpdateDistribution(ctx, d)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		d.Revision = rev
		m.log.Info("distribution sending", "distribution", id)
		break
	}
	if d.ResolvedAt.IsZero() {
		var err error
		if d, err = m.resolve(ctx, d); err != nil {
			if ctx.Err() == nil {
				m.fail(ctx, id, "resolving the audience: "+err.Error())
			}
			return fmt.Errorf("distribution %s: resolving the audience: %w", id, err)
		}
	}
	r, err := m.newRun(d)
	if err != nil {
		m.fail(ctx, id, err.Error())
		return err
	}
	if err := m.process(ctx, r, DeliveryFilter{DistributionID: id, States: []DeliveryState{DeliveryScheduled}}); err != nil {
		return err
	}
	return m.finish(ctx, id)
}

// resolve turns the audience into one scheduled delivery per member and
// channel and records that it did. Repeating it after a crash inserts only
// the missing deliveries.
func (m *Manager) resolve(ctx context.Context, d Distribution) (Distribution, error) {
	now := m.clock.Now()
	batch := make([]Delivery, 0, resolveBatch*len(d.Channels))
	members := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := m.store.InsertDeliveries(ctx, batch)
		batch = batch[:0]
		return err
	}
	add := func(custID string) error {
		members++
		for _, ch := range d.Channels {
			k := DeliveryKey{d.ID, custID, ManualTrigger, ch.Channel}
			batch = append(batch, Delivery{
				ID: DeliveryID(k), DistributionID: d.ID, CustomerID: custID, TriggerKey: ManualTrigger,
				Channel: ch.Channel, State: DeliveryScheduled, CreatedAt: now, UpdatedAt: now,
			})
		}
		if len(batch) >= resolveBatch*len(d.Channels) {
			return flush()
		}
		return nil
	}
	if d.Audience.CustomerID != "" {
		if err := add(d.Audience.CustomerID); err != nil {
			return d, err
		}
	} else {
		for id, err := range m.store.Members(ctx, d.Audience.SegmentID, segment.MemberOptions{}) {
			if err != nil {
				return d, err
			}
			if err := add(id); err != nil {
				return d, err
			}
		}
	}
	if err := flush(); err != nil {
		return d, err
	}
	for {
		d.ResolvedAt = m.clock.Now()
		d.Report.Recipients, d.Report.Deliveries = members, members*len(d.Channels)
		rev, err := m.store.UpdateDistribution(ctx, d)
		if errors.Is(err, ErrConflict) {
			cur, gerr := m.store.GetDistribution(ctx, d.ID)
			if gerr != nil {
				return d, gerr
			}
			d.Revision = cur.Revision
			continue
		}
		if err != nil {
			return d, err
		}
		d.Revision = rev
		m.log.Info("distribution audience resolved", "distribution", d.ID, "recipients", members)
		return d, nil
	}
}

// process sends every delivery matching f: Concurrency deliveries at
// once. When ctx ends it stops handing out deliveries and waits for the
// ones being sent (whose provider calls are not canceled).
//
// It is a pipeline, so that the store writes are batched:
//
//   - this goroutine reads the deliveries and loads their customers
//     prefetchBatch at a time (when the store is a CustomerBatchGetter);
//   - prepare workers check consents and the channel, apply the send-time
//     policies (uncapped message counts come from a block counted ahead,
//     see usageReserve);
//   - one publisher publishes the codes of what the prepare workers
//     handed it meanwhile in one call (when the code source is a
//     BatchPublisher), at most publishBatch, and renders the messages;
//   - Concurrency send workers each move one delivery to sending and send
//     it; the moves to sending of the workers waiting at the same time
//     are one write (when the store is a DeliveryBatchUpdater), so a
//     delivery is in sending only while its own send is about to start,
//     never ahead of it; their sent outcomes are written in batches by a
//     flusher (see sentFlusher), before process returns.
//
// Codes are published ahead of the sends by at most the pipeline's
// length (a few hundred deliveries): a delivery left scheduled by a stop
// or a crash keeps its publication and gets the same code on the next run
// (publications are idempotent by key), as before.
func (m *Manager) process(ctx context.Context, r *run, f DeliveryFilter) error {
	work := make(chan prefetched, prefetchBatch)
	pubq := make(chan *ready, publishBatch)
	sendq := make(chan *ready, m.concurrency)
	var prepWG, pubWG, sendWG sync.WaitGroup
	sendCtx := context.WithoutCancel(ctx)
	r.b = m.newRunBatch(sendCtx)
	defer func() { r.b = nil }()
	bp, batchCodes := m.codes.(BatchPublisher)
	// toSend renders p and hands it to a send worker.
	toSend := func(p *ready) {
		m.render(r, p)
		sendq <- p
	}
	for range prepareWorkers(m.concurrency) {
		prepWG.Add(1)
		go func() {
			defer prepWG.Done()
			for w := range work {
				if ctx.Err() != nil {
					continue // stopping: leave it scheduled for the next Run
				}
				p, err := m.prepare(sendCtx, r, w.dl, false, &w)
				switch {
				case p == nil:
				case p.needsCode && batchCodes:
					pubq <- p
					continue
				case p.needsCode:
					p, err = m.publish(sendCtx, r, p)
				}
				if err != nil {
					m.log.Error("delivery step failed; it stays for the next run", "delivery", w.dl.ID, "err", err)
				}
				if p != nil {
					toSend(p)
				}
			}
		}()
	}
	pubWG.Add(1)
	go func() {
		defer pubWG.Done()
		batch := make([]*ready, 0, publishBatch)
		for p := range pubq {
			batch = append(batch[:0], p)
		more:
			for len(batch) < publishBatch {
				select {
				case p, ok := <-pubq:
					if !ok {
						break more
					}
					batch = append(batch, p)
				default:
					break more
				}
			}
			if ctx.Err() != nil {
				for _, p := range batch {
					m.abandon(sendCtx, p) // stopping: no code for what is not sent
				}
				continue
			}
			for _, p := range m.publishAll(sendCtx, r, bp, batch) {
				toSend(p)
			}
		}
	}()
	for range m.concurrency {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			for p := range sendq {
				if ctx.Err() != nil {
					m.abandon(sendCtx, p) // stopping: it stays scheduled
					continue
				}
				if err := m.send(sendCtx, r, p); err != nil {
					m.log.Error("delivery step failed; it stays for the next run", "delivery", p.dl.ID, "err", err)
				}
			}
		}()
	}
	getter, _ := m.store.(CustomerBatchGetter)
	chunk := make([]Delivery, 0, prefetchBatch)
	// hand loads the customers of chunk and hands it to the workers; false
	// when ctx ended.
	hand := func() bool {
		var custs map[string]customer.Customer
		if getter != nil {
			ids := make([]string, 0, len(chunk))
			for i := range chunk {
				if chunk[i].State == DeliveryScheduled {
					ids = append(ids, chunk[i].CustomerID)
				}
			}
			var err error
			if custs, err = getter.GetCustomers(ctx, ids); err != nil {
				custs = nil // each worker loads its own
				m.log.Warn("loading a chunk of customers; loading them one by one", "err", err)
			}
		}
		for _, dl := range chunk {
			w := prefetched{dl: dl}
			if custs != nil {
				w.c, w.found = custs[dl.CustomerID]
				w.loaded = true
			}
			select {
			case work <- w:
			case <-ctx.Done():
				return false
			}
		}
		chunk = chunk[:0]
		return true
	}
	var iterErr error
	for dl, err := range m.store.Deliveries(ctx, f) {
		if err != nil {
			iterErr = err
			break
		}
		if chunk = append(chunk, dl); len(chunk) == prefetchBatch && !hand() {
			break
		}
	}
	if iterErr == nil && len(chunk) > 0 {
		hand()
	}
	if iterErr == nil && ctx.Err() != nil {
		iterErr = ctx.Err()
	}
	close(work)
	prepWG.Wait()
	close(pubq)
	pubWG.Wait()
	close(sendq)
	sendWG.Wait()
	r.b.close(sendCtx)
	return iterErr
}

// prepareWorkers is how many prepare workers a fan-out with concurrency
// sends runs: more than its send workers, so that the publisher gets
// large batches while the sends keep everyone waiting.
func prepareWorkers(concurrency int) int { return 2 * concurrency }

// prefetched is a delivery handed to a prepare worker with its customer,
// when loaded ahead (loaded; found is false for a deleted customer).
type prefetched struct {
	dl            Delivery
	c             customer.Customer
	loaded, found bool
}

// runBatch batches the writes of a fan-out's send workers and keeps its
// message counts, each part only when the store supports it (nil parts:
// one call per delivery).
type runBatch struct {
	usage   *usageReserve
	sending *combiner[Delivery, struct{}]
	sent    *sentFlusher
}

func (m *Manager) newRunBatch(ctx context.Context) *runBatch {
	b := &runBatch{usage: &usageReserve{m: m}}
	if st, ok := m.store.(DeliveryBatchUpdater); ok {
		// One batch at a time, of at most one delivery per send worker:
		// the workers that wait meanwhile go together in the next one.
		b.sending = newCombiner(m.concurrency, 1, func(ctx context.Context, qs []Delivery) ([]struct{}, []error) {
			if len(qs) == 1 {
				return make([]struct{}, 1), []error{m.store.UpdateDelivery(ctx, qs[0], DeliveryScheduled)}
			}
			errs, err := st.UpdateDeliveries(ctx, qs, DeliveryScheduled)
			if err != nil {
				errs = make([]error, len(qs))
				for i := range errs {
					errs[i] = err
				}
			}
			return make([]struct{}, len(qs)), errs
		})
		b.sent = m.newSentFlusher(ctx, st)
	}
	return b
}

// close writes the sent outcomes not yet written and gives back the
// message counts reserved and not used.
func (b *runBatch) close(ctx context.Context) {
	if b.sent != nil {
		b.sent.close()
	}
	b.usage.close(ctx)
}

// deliver runs the per-recipient pipeline for one delivery: consent check
// -> code publication -> rendering -> send -> ledger. Each step can be
// repeated: the publication is idempotent by key and the ledger row moves
// by compare-and-set, so a delivery is sent at most once. retry is set
// when a retry job runs it (its NextAttemptAt has come).
func (m *Manager) deliver(ctx context.Context, r *run, dl Delivery, retry bool) error {
	p, err := m.prepare(ctx, r, dl, retry, nil)
	if p == nil {
		return err
	}
	if p.needsCode {
		if p, err = m.publish(ctx, r, p); p == nil {
			return err
		}
	}
	m.render(r, p)
	return m.send(ctx, r, p)
}

// ready is a delivery that prepare admitted: what publish, render and
// send need. send or abandon (or a failed publication) releases its
// hold; send or abandon emits its publication event.
type ready struct {
	dl            Delivery
	c             customer.Customer
	idx           int // of the channel in r
	data          renderData
	needsCode     bool // from r.d.Campaign, not published yet
	subject, body string
	h             hold
	pub           *Publication
}

// prepare runs the steps of deliver before the code: consent check and
// send-time policies. It returns nil when dl is not to be sent now
// (skipped, deferred or failed, recorded; or taken by another worker),
// with the error of a step that failed. pre is dl's customer when loaded
// ahead (else prepare loads it).
func (m *Manager) prepare(ctx context.Context, r *run, dl Delivery, retry bool, pre *prefetched) (*ready, error) {
	if dl.State != DeliveryScheduled {
		return nil, nil
	}
	now := m.clock.Now()
	if !retry && dl.NextAttemptAt.After(now) {
		// Waiting for its retry job; (re)schedule it, as a restart loses
		// the in-process scheduler's jobs (same job ID: no duplicate).
		return nil, m.sched.Schedule(ctx, retryJob(dl.ID, dl.NextAttemptAt))
	}
	skip := func(reason string) error { return m.settle(ctx, dl, DeliveryScheduled, DeliverySkipped, reason) }
	fail := func(reason string) error { return m.settle(ctx, dl, DeliveryScheduled, DeliveryFailed, reason) }

	idx := r.channelIndex(dl.Channel)
	if idx < 0 || r.channels[idx] == nil {
		return nil, fail(fmt.Sprintf("channel %q is not registered", dl.Channel))
	}
	ch := r.channels[idx]

	// 1. Consents (and whether the channel can reach the customer).
	p := &ready{idx: idx}
	if pre != nil && pre.loaded {
		if !pre.found {
			return nil, skip(ReasonCustomerDeleted)
		}
		p.c = pre.c
	} else {
		var err error
		p.c, err = m.store.GetCustomer(ctx, dl.CustomerID)
		if errors.Is(err, customer.ErrNotFound) {
			return nil, skip(ReasonCustomerDeleted)
		} else if err != nil {
			return nil, err
		}
	}
	c := &p.c
	if reason := m.consentSkip(ctx, &r.d, c); reason != "" {
		return nil, skip(reason)
	}
	if chk, ok := ch.(Checker); ok {
		reason, err := chk.Check(ctx, c)
		if err != nil {
			return nil, m.sendFailed(ctx, r, dl, DeliveryScheduled, err)
		}
		if reason != "" {
			return nil, skip(reason)
		}
	}

	// 1b. Send-time policies: quiet hours, frequency caps, message limit.
	h, ok, err := m.admit(ctx, r, dl, c)
	if !ok {
		return nil, err
	}
	p.data = renderData{c: c, distName: r.d.Name}
	if err := m.eventData(ctx, r, &dl, &p.data); err != nil {
		m.release(ctx, h)
		return nil, err
	}
	if r.d.Campaign != "" {
		r.mu.Lock()
		stopped := r.stopped
		r.mu.Unlock()
		if stopped != "" {
			m.release(ctx, h)
			return nil, skip(stopped) // the distribution stopped sending
		}
		p.needsCode = true
	}
	p.dl, p.h = dl, h
	return p, nil
}

// publishRequest is the request for p's code.
func publishRequest(r *run, p *ready) PublishRequest {
	return PublishRequest{
		Key:            publicationKey(p.dl.DistributionID, p.dl.CustomerID, p.dl.TriggerKey),
		CampaignID:     r.d.Campaign,
		CustomerID:     p.dl.CustomerID,
		DistributionID: p.dl.DistributionID,
	}
}

// publish publishes p's code (step 2 of deliver); nil when p is not to be
// sent (recorded as skipped or failed, its hold released).
func (m *Manager) publish(ctx context.Context, r *run, p *ready) (*ready, error) {
	pub, err := m.codes.Publish(ctx, publishRequest(r, p))
	return m.published1(ctx, r, p, pub, err)
}

// publishAll publishes the codes of batch in one call and returns the
// deliveries to send.
func (m *Manager) publishAll(ctx context.Context, r *run, bp BatchPublisher, batch []*ready) []*ready {
	todo := batch[:0:0]
	for _, p := range batch {
		r.mu.Lock()
		stopped := r.stopped
		r.mu.Unlock()
		if stopped != "" { // since prepare
			m.release(ctx, p.h)
			if err := m.settle(ctx, p.dl, DeliveryScheduled, DeliverySkipped, stopped); err != nil {
				m.log.Error("delivery step failed; it stays for the next run", "delivery", p.dl.ID, "err", err)
			}
			continue
		}
		todo = append(todo, p)
	}
	if len(todo) == 0 {
		return nil
	}
	reqs := make([]PublishRequest, len(todo))
	for i, p := range todo {
		reqs[i] = publishRequest(r, p)
	}
	var (
		pubs []Publication
		errs []error
	)
	if len(reqs) == 1 {
		pubs, errs = make([]Publication, 1), make([]error, 1)
		pubs[0], errs[0] = m.codes.Publish(ctx, reqs[0])
	} else {
		pubs, errs = bp.PublishBatch(ctx, reqs)
	}
	out := todo[:0]
	for i, p := range todo {
		p, err := m.published1(ctx, r, p, pubs[i], errs[i])
		if err != nil {
			m.log.Error("delivery step failed; it stays for the next run", "delivery", todo[i].dl.ID, "err", err)
		}
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// published1 applies the outcome of p's publication.
func (m *Manager) published1(ctx context.Context, r *run, p *ready, pub Publication, err error) (*ready, error) {
	if err != nil {
		m.release(ctx, p.h)
		if errors.Is(err, ErrNoCodesLeft) {
			r.mu.Lock()
			r.stopped = ReasonNoCodesLeft
			r.mu.Unlock()
			return nil, m.settle(ctx, p.dl, DeliveryScheduled, DeliverySkipped, ReasonNoCodesLeft)
		}
		return nil, m.settle(ctx, p.dl, DeliveryScheduled, DeliveryFailed, "publishing a code: "+err.Error())
	}
	p.pub, p.needsCode = &pub, false
	p.dl.Code, p.dl.PublicationID = pub.Code, pub.ID
	p.data.code, p.data.campaignName = pub.Code, pub.CampaignName
	return p, nil
}

// render renders p's message (step 3 of deliver).
func (m *Manager) render(r *run, p *ready) {
	p.data.c = &p.c
	p.subject, p.body = r.tpl[p.idx].render(&p.data, escapesHTML(r.channels[p.idx]))
}

// send runs the steps of deliver from the send on: the ledger move to
// sending (before the provider call), the send, and the outcome.
func (m *Manager) send(ctx context.Context, r *run, p *ready) error {
	dl := p.dl
	keep := false // the message may have gone out: keep what admit counted
	defer func() {
		if !keep {
			m.release(ctx, p.h)
		}
		if p.pub != nil {
			m.published(ctx, &dl, *p.pub)
		}
	}()

	// 4. Ledger: sending, before the provider call.
	dl.State, dl.Attempts, dl.UpdatedAt = DeliverySending, dl.Attempts+1, m.clock.Now()
	dl.NextAttemptAt = time.Time{}
	var err error
	if r.b != nil && r.b.sending != nil {
		_, err = r.b.sending.do(ctx, dl)
	} else {
		err = m.store.UpdateDelivery(ctx, dl, DeliveryScheduled)
	}
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return nil // another worker took it
		}
		return fmt.Errorf("marking sending: %w", err)
	}

	// 5. Send.
	sctx, cancel := context.WithTimeout(ctx, m.sendTimeout)
	rec, err := r.channels[p.idx].Send(sctx, Message{Delivery: dl, Customer: &p.c, Subject: p.subject, Body: p.body,
		Template: r.d.Channels[p.idx].Template, Code: dl.Code})
	cancel()
	if err != nil {
		keep = isAmbiguous(err)
		return m.sendFailed(ctx, r, dl, DeliverySending, err)
	}
	keep = true

	// 6. Ledger: sent.
	dl.State, dl.ProviderMessageID, dl.Reason = DeliverySent, rec.ProviderMessageID, ""
	dl.SentAt = m.clock.Now()
	dl.UpdatedAt = dl.SentAt
	if r.b != nil && r.b.sent != nil {
		r.b.sent.add(dl) // written within sentDelay, and before process returns
		return nil
	}
	if err := m.store.UpdateDelivery(ctx, dl, DeliverySending); err != nil {
		return fmt.Errorf("recording sent message %q: %w", rec.ProviderMessageID, err)
	}
	return nil
}

// abandon gives back what prepare took for p, which will not be sent
// now (the fan-out is stopping): its hold. Its publication stays (the
// next run publishes the same code again, by key).
func (m *Manager) abandon(ctx context.Context, p *ready) {
	m.release(ctx, p.h)
	if p.pub != nil {
		m.published(ctx, &p.dl, *p.pub)
	}
}

// escapesHTML reports whether ch's bodies are HTML (values escaped): true
// unless ch implements interface{ HTMLBody() bool } and says false.
func escapesHTML(ch Channel) bool {
	if h, ok := ch.(interface{ HTMLBody() bool }); ok {
		return h.HTMLBody()
	}
	return true
}

// consentSkip returns why c may not receive d, or "".
func (m *Manager) consentSkip(ctx context.Context, d *Distribution, c *customer.Customer) string {
	if d.Consents.Disabled {
		return ""
	}
	if c.Consents.Unsubscribed {
		return ReasonUnsubscribed
	}
	for _, id := range d.Consents.Required {
		if !c.Consents.Granted(id) {
			return ReasonConsentMissing + ": " + id
		}
	}
	return ""
}

// settle moves dl from one state to a final one with a reason.
func (m *Manager) settle(ctx context.Context, dl Delivery, from, to DeliveryState, reason string) error {
	dl.State, dl.Reason, dl.UpdatedAt = to, reason, m.clock.Now()
	dl.NextAttemptAt = time.Time{}
	if err := m.store.UpdateDelivery(ctx, dl, from); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("recording %s (%s): %w", to, reason, err)
	}
	return nil
}

// sendFailed records a failed check or send according to its class.
func (m *Manager) sendFailed(ctx context.Context, r *run, dl Delivery, from DeliveryState, err error) error {
	class, after := classify(err)
	switch {
	case class == Ambiguous && from == DeliverySending:
		m.log.Warn("send outcome unknown; not retried", "delivery", dl.ID, "err", err)
		return m.settle(ctx, dl, from, DeliveryUnknown, err.Error())
	case class == Transient && dl.Attempts < m.maxAttempts:
		if from == DeliveryScheduled {
			dl.Attempts++ // a failed check counts as an attempt
		}
		delay := m.retryDelay << max(0, dl.Attempts-1)
		if delay > time.Hour || delay <= 0 {
			delay = time.Hour
		}
		delay = max(delay, after)
		now := m.clock.Now()
		dl.State, dl.Reason, dl.UpdatedAt, dl.NextAttemptAt = DeliveryScheduled, err.Error(), now, now.Add(delay)
		if uerr := m.store.UpdateDelivery(ctx, dl, from); uerr != nil {
			if errors.Is(uerr, ErrConflict) {
				return nil
			}
			return fmt.Errorf("scheduling a retry: %w", uerr)
		}
		m.log.Info("transient send failure; retrying", "delivery", dl.ID, "attempt", dl.Attempts, "in", delay, "err", err)
		return m.sched.Schedule(ctx, retryJob(dl.ID, dl.NextAttemptAt))
	default:
		return m.settle(ctx, dl, from, DeliveryFailed, err.Error())
	}
}

// retry runs a retry job: one delivery whose transient failure is due
// again.
func (m *Manager) retry(ctx context.Context, deliveryID string) error {
	dl, err := m.store.GetDelivery(ctx, deliveryID)
	if err != nil {
		return err
	}
	if dl.State != DeliveryScheduled {
		return nil
	}
	d, err := m.store.GetDistribution(ctx, dl.DistributionID)
	if err != nil {
		return err
	}
	if d.Status != StatusSending && !(d.Mode == Automatic && d.Status == StatusActive) {
		return nil // a paused automatic distribution sends it on Activate
	}
	r, err := m.newRun(d)
	if err != nil {
		return err
	}
	if err := m.deliver(context.WithoutCancel(ctx), r, dl, true); err != nil {
		return err
	}
	return m.finish(ctx, d.ID)
}

// finish completes a distribution whose deliveries are all final, with its
// report; otherwise it leaves it sending (retries pending, or deliveries
// the next run will pick up).
func (m *Manager) finish(ctx context.Context, id string) error {
	for {
		d, err := m.store.GetDistribution(ctx, id)
		if err != nil {
			return err
		}
		if d.Status != StatusSending {
			return nil
		}
		rep, err := m.report(ctx, &d)
		if err != nil {
			return err
		}
		if rep.ToProcess > 0 {
			m.log.Info("distribution still has deliveries to process", "distribution", id, "to_process", rep.ToProcess)
			return nil
		}
		rep.FinishedAt = m.clock.Now()
		d.Report, d.UpdatedAt = rep, rep.FinishedAt
		d.Status = StatusDone
		if rep.Stopped != "" {
			d.Status = StatusFailed
		}
		if _, err := m.store.UpdateDistribution(ctx, d); errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		m.log.Info("distribution finished", "distribution", id, "status", d.Status,
			"sent", rep.Sent, "skipped", rep.Skipped, "failed", rep.Failed, "unknown", rep.Unknown)
		return nil
	}
}

// fail marks a sending distribution failed with a reason.
func (m *Manager) fail(ctx context.Context, id, reason string) {
	for {
		d, err := m.store.GetDistribution(ctx, id)
		if err != nil || d.Status != StatusSending {
			return
		}
		d.Status, d.UpdatedAt = StatusFailed, m.clock.Now()
		d.Report.Stopped, d.Report.FinishedAt = reason, d.UpdatedAt
		if _, err := m.store.UpdateDistribution(ctx, d); !errors.Is(err, ErrConflict) {
			return
		}
	}
}

// report computes d's report from the ledger.
func (m *Manager) report(ctx context.Context, d *Distribution) (Report, error) {
	cnt, err := m.store.CountDeliveries(ctx, d.ID)
	if err != nil {
		return Report{}, err
	}
	rep := d.Report
	st := cnt.States
	rep.ToProcess = st[DeliveryScheduled] + st[DeliverySending]
	rep.Sent, rep.Skipped, rep.Failed = st[DeliverySent], st[DeliverySkipped], st[DeliveryFailed]
	rep.Unknown, rep.Canceled = st[DeliveryUnknown], st[DeliveryCanceled]
	rep.Deliveries = 0
	for _, n := range st {
		rep.Deliveries += n
	}
	rep.SkipReasons = cloneCounts(cnt.Reasons[DeliverySkipped])
	rep.FailReasons = cloneCounts(cnt.Reasons[DeliveryFailed])
	if rep.SkipReasons[ReasonNoCodesLeft] > 0 {
		rep.Stopped = ReasonNoCodesLeft
	}
	return rep, nil
}

// Report returns a distribution's progress (while sending, live from the
// ledger) or final report.
func (m *Manager) Report(ctx context.Context, id string) (Report, error) {
	d, err := m.Distribution(ctx, id)
	if err != nil {
		return Report{}, err
	}
	return d.Report, nil
}
