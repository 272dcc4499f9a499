package distribution

import (
	"context"
	"iter"
	"sync"

	"github.com/codedrop/codedrop/customer"
)

// fanout sends every delivery of ds (pl's scheduled deliveries),
// concurrency at once. When ctx ends it stops handing out deliveries and
// waits for the ones being sent (whose provider calls are not canceled).
//
// It runs the pipeline's steps in stages, so that the store writes are
// batched:
//
//   - this goroutine reads the deliveries and loads their customers
//     prefetchBatch at a time (when the store is a CustomerBatchGetter);
//   - prepare workers run step 1 (admit); uncapped message counts come
//     from a block counted ahead, see usageReserve;
//   - one publisher runs step 2 for what the prepare workers handed it
//     meanwhile in one call (when the code source is a BatchPublisher),
//     at most publishBatch, and step 3;
//   - concurrency send workers run steps 4 to 6 for one delivery each;
//     the moves to sending of the workers waiting at the same time are
//     one write (when the store is a DeliveryBatchUpdater), so a delivery
//     is in sending only while its own send is about to start, never
//     ahead of it; their sent outcomes are written in batches by a
//     flusher (see sentFlusher), before fanout returns.
//
// Codes are published ahead of the sends by at most the stages' length (a
// few hundred deliveries): a delivery left scheduled by a stop or a crash
// keeps its publication and gets the same code on the next run
// (publications are idempotent by key).
func (p *pipeline) fanout(ctx context.Context, pl *plan, ds iter.Seq2[Delivery, error], concurrency int) error {
	ctx, ds, end := p.tel.startFanout(ctx, pl, ds)
	work := make(chan prefetched, prefetchBatch)
	pubq := make(chan *ready, publishBatch)
	sendq := make(chan *ready, concurrency)
	var prepWG, pubWG, sendWG sync.WaitGroup
	sendCtx := labelCalls(context.WithoutCancel(ctx), pl.d.ID)
	b := p.newRunBatch(sendCtx, concurrency)
	// toSend renders r and hands it to a send worker.
	toSend := func(r *ready) {
		p.render(pl, r)
		sendq <- r
	}
	for range prepareWorkers(concurrency) {
		prepWG.Go(func() {
			for w := range work {
				if ctx.Err() != nil {
					continue // stopping: leave it scheduled for the next run
				}
				r, err := p.prepare(sendCtx, pl, &w.dl, deliverOpts{}, &w, b.usage)
				switch {
				case r == nil:
				case r.needsCode && p.batchCodes != nil:
					pubq <- r
					continue
				case r.needsCode:
					r, err = p.publish(sendCtx, pl, r)
				}
				if err != nil {
					p.log.ErrorContext(ctx, "delivery step failed; it stays for the next run", "delivery", w.dl.ID, "err", err)
				}
				if r != nil {
					toSend(r)
				}
			}
		})
	}
	pubWG.Go(func() {
		batch := make([]*ready, 0, publishBatch)
		for r := range pubq {
			batch = append(batch[:0], r)
		more:
			for len(batch) < publishBatch {
				select {
				case r, ok := <-pubq:
					if !ok {
						break more
					}
					batch = append(batch, r)
				default:
					break more
				}
			}
			if ctx.Err() != nil {
				for _, r := range batch {
					p.abandon(sendCtx, r) // stopping: no code for what is not sent
				}
				continue
			}
			for _, r := range p.publishAll(sendCtx, pl, batch) {
				toSend(r)
			}
		}
	})
	for range concurrency {
		sendWG.Go(func() {
			for r := range sendq {
				if ctx.Err() != nil {
					p.abandon(sendCtx, r) // stopping: it stays scheduled
					continue
				}
				if err := p.send(sendCtx, pl, r, b); err != nil {
					p.log.ErrorContext(ctx, "delivery step failed; it stays for the next run", "delivery", r.dl.ID, "err", err)
				}
			}
		})
	}
	iterErr := p.feed(ctx, ds, work)
	close(work)
	prepWG.Wait()
	close(pubq)
	pubWG.Wait()
	close(sendq)
	sendWG.Wait()
	b.close(sendCtx)
	return end(iterErr)
}

// feed reads ds and hands each delivery to work, with its customer when
// the store loads them in chunks. It returns the iteration's error, or
// ctx's when ctx ended first.
func (p *pipeline) feed(ctx context.Context, ds iter.Seq2[Delivery, error], work chan<- prefetched) error {
	chunk := make([]Delivery, 0, prefetchBatch)
	// hand loads the customers of chunk and hands it out; false when ctx
	// ended.
	hand := func() bool {
		var custs map[string]customer.Customer
		if p.batchCustomers != nil {
			ids := make([]string, 0, len(chunk))
			for i := range chunk {
				if chunk[i].State == DeliveryScheduled {
					ids = append(ids, chunk[i].CustomerID)
				}
			}
			var err error
			if custs, err = p.batchCustomers.GetCustomers(ctx, ids); err != nil {
				custs = nil // each worker loads its own
				p.log.WarnContext(ctx, "loading a chunk of customers; loading them one by one", "err", err)
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
	for dl, err := range ds {
		if err != nil {
			return err
		}
		if chunk = append(chunk, dl); len(chunk) == prefetchBatch && !hand() {
			return ctx.Err()
		}
	}
	if len(chunk) > 0 && !hand() {
		return ctx.Err()
	}
	return ctx.Err()
}

// publishAll runs step 2 for batch in one call and returns the deliveries
// to send.
func (p *pipeline) publishAll(ctx context.Context, pl *plan, batch []*ready) []*ready {
	todo := batch[:0:0]
	for _, r := range batch {
		if stopped := pl.stoppedReason(); stopped != "" { // since prepare
			p.policy.release(ctx, r.h)
			if err := p.settle(ctx, r, DeliverySkipped, stopped); err != nil {
				p.log.ErrorContext(ctx, "delivery step failed; it stays for the next run", "delivery", r.dl.ID, "err", err)
			}
			continue
		}
		todo = append(todo, r)
	}
	if len(todo) == 0 {
		return nil
	}
	reqs := make([]PublishRequest, len(todo))
	for i, r := range todo {
		reqs[i] = publishRequest(pl, r)
	}
	var (
		pubs []Publication
		errs []error
	)
	if len(reqs) == 1 {
		pubs, errs = make([]Publication, 1), make([]error, 1)
		pubs[0], errs[0] = p.codes.Publish(ctx, reqs[0])
	} else {
		pubs, errs = p.batchCodes.PublishBatch(ctx, reqs)
	}
	out := todo[:0]
	for i, r := range todo {
		r, err := p.published(ctx, pl, r, pubs[i], errs[i])
		if err != nil {
			p.log.ErrorContext(ctx, "delivery step failed; it stays for the next run", "delivery", todo[i].dl.ID, "err", err)
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out
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

func (p *pipeline) newRunBatch(ctx context.Context, concurrency int) *runBatch {
	b := &runBatch{usage: p.policy.newReserve()}
	if st := p.batchLedger; st != nil {
		// One batch at a time, of at most one delivery per send worker:
		// the workers that wait meanwhile go together in the next one.
		b.sending = newCombiner(concurrency, 1, func(ctx context.Context, qs []Delivery) ([]struct{}, []error) {
			if len(qs) == 1 {
				return make([]struct{}, 1), []error{p.ledger.UpdateDelivery(ctx, qs[0], DeliveryScheduled)}
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
		b.sent = newSentFlusher(ctx, st, p.log, &p.sending)
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
