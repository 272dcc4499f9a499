package distribution

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// combiner turns concurrent calls into batches (group commit): a call
// made while fewer than inflight batches run starts a batch at once, with
// the calls waiting then; other calls wait and join the next batch, at
// most max calls a batch. A fan-out's workers use it for the store writes
// each of them must wait for, so a batch holds at most as many calls as
// there are workers (never work that is not about to happen). A waiting
// caller runs each batch, with its own ctx; no goroutine is started. It
// is safe for concurrent use.
type combiner[Q, R any] struct {
	max, inflight int
	run           func(ctx context.Context, qs []Q) ([]R, []error)
	// calls and bufs keep what finished calls and batches leave (a
	// *combined with its channel, a *combineBuf) for the next ones: a
	// fan-out sends through here, and a call holds a whole Delivery.
	calls, bufs sync.Pool

	mu      sync.Mutex
	running int // batches running
	pending []*combined[Q, R]
}

type combined[Q, R any] struct {
	q    Q
	r    R
	err  error
	wake chan bool // true: run a batch; false: r and err are set
}

// combineBuf is a batch's scratch: its calls and their requests.
type combineBuf[Q, R any] struct {
	batch []*combined[Q, R]
	qs    []Q
}

func newCombiner[Q, R any](size, inflight int, run func(ctx context.Context, qs []Q) ([]R, []error)) *combiner[Q, R] {
	return &combiner[Q, R]{max: max(1, size), inflight: max(1, inflight), run: run}
}

// do runs q in a batch and returns its result.
func (c *combiner[Q, R]) do(ctx context.Context, q Q) (R, error) {
	me, _ := c.calls.Get().(*combined[Q, R])
	if me == nil {
		me = &combined[Q, R]{wake: make(chan bool, 1)}
	}
	me.q = q
	c.mu.Lock()
	if c.running < c.inflight {
		c.running++
	} else {
		// Wait; a finishing batch's caller hands its slot (running) on
		// to the oldest waiting call.
		c.pending = append(c.pending, me)
		c.mu.Unlock()
		if !<-me.wake {
			return c.done(me)
		}
		c.mu.Lock()
	}
	n := min(len(c.pending), c.max-1)
	buf, _ := c.bufs.Get().(*combineBuf[Q, R])
	if buf == nil {
		buf = &combineBuf[Q, R]{}
	}
	batch := append(append(buf.batch[:0], me), c.pending[:n]...)
	c.pending = c.pending[:copy(c.pending, c.pending[n:])]
	c.mu.Unlock()

	qs := buf.qs[:0]
	for _, b := range batch {
		qs = append(qs, b.q)
	}
	rs, errs := c.run(ctx, qs)
	for i, b := range batch {
		b.r, b.err = rs[i], errs[i]
		if b != me {
			b.wake <- false // b is its caller's again: not touched after this
		}
	}
	clear(batch)
	clear(qs)
	buf.batch, buf.qs = batch[:0], qs[:0]
	c.bufs.Put(buf)
	c.mu.Lock()
	if len(c.pending) > 0 {
		next := c.pending[0]
		c.pending = c.pending[:copy(c.pending, c.pending[1:])]
		c.mu.Unlock()
		next.wake <- true
	} else {
		c.running--
		c.mu.Unlock()
	}
	return c.done(me)
}

// done returns me's result and keeps me for another call.
func (c *combiner[Q, R]) done(me *combined[Q, R]) (R, error) {
	r, err := me.r, me.err
	var zero combined[Q, R]
	me.q, me.r, me.err = zero.q, zero.r, nil
	c.calls.Put(me)
	return r, err
}

// Batch sizes of a fan-out's store writes.
const (
	// usageBlock is how many uncapped message counts a fan-out adds to the
	// usage counter per write.
	usageBlock = 64
	// prefetchBatch is how many deliveries a fan-out reads ahead of its
	// workers and loads the customers of in one call.
	prefetchBatch = 128
	// publishBatch is how many codes a fan-out publishes in one call at
	// most.
	publishBatch = 64
	// sentBatch is how many sent outcomes a fan-out records per write at
	// most.
	sentBatch = 128
	// sentDelay bounds how long a sent outcome waits for others to share
	// its write. It is a batching latency on the wall clock (not a
	// schedule, so not the Manager's Clock): a fan-out also writes what it
	// holds whenever it ends, and a test never waits for this delay.
	sentDelay = 10 * time.Millisecond
)

// sentFlusher records sent outcomes in batches on a goroutine of its own:
// by count (sentBatch), by time (sentDelay after the first unwritten
// one) and on close, which returns once everything is written. A crash
// before the write leaves the delivery in sending, which recovery turns
// into unknown: the ambiguous case, never a second send. Each write is a
// compare-and-set from sending; a delivery another worker moved meanwhile
// is not ours and is logged.
type sentFlusher struct {
	log  *slog.Logger
	st   DeliveryBatchUpdater
	in   chan Delivery
	done chan struct{}
	// sending, when set, is told when each delivery's write was tried.
	sending *inFlight
}

func newSentFlusher(ctx context.Context, st DeliveryBatchUpdater, log *slog.Logger, sending *inFlight) *sentFlusher {
	f := &sentFlusher{log: log, st: st, in: make(chan Delivery, sentBatch), done: make(chan struct{}), sending: sending}
	go f.loop(ctx)
	return f
}

// add queues dl (in state sent) to be recorded.
func (f *sentFlusher) add(dl Delivery) { f.in <- dl }

// close writes what is queued and stops the flusher. No add may follow.
func (f *sentFlusher) close() {
	close(f.in)
	<-f.done
}

func (f *sentFlusher) loop(ctx context.Context) {
	defer close(f.done)
	buf := make([]Delivery, 0, sentBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var (
			dl Delivery
			ok bool
		)
		if len(buf) == 0 {
			dl, ok = <-f.in
		} else {
			select {
			case dl, ok = <-f.in:
			case <-timer.C:
				f.write(ctx, buf)
				buf = buf[:0]
				continue
			}
		}
		if !ok {
			f.write(ctx, buf)
			return
		}
		if len(buf) == 0 {
			timer.Reset(sentDelay)
		}
		buf = append(buf, dl)
		if len(buf) >= sentBatch {
			timer.Stop() // no stale tick since Go 1.23
			f.write(ctx, buf)
			buf = buf[:0]
		}
	}
}

func (f *sentFlusher) write(ctx context.Context, ds []Delivery) {
	if len(ds) == 0 {
		return
	}
	if f.sending != nil {
		defer func() {
			for i := range ds {
				f.sending.done(ds[i].ID)
			}
		}()
	}
	errs, err := f.st.UpdateDeliveries(ctx, ds, DeliverySending)
	if err != nil {
		f.log.ErrorContext(ctx, "recording sent messages; they stay in sending and become unknown on recovery", "deliveries", len(ds), "err", err)
		return
	}
	for i, err := range errs {
		if err != nil {
			f.log.ErrorContext(ctx, "recording a sent message", "delivery", ds[i].ID, "provider_message_id", ds[i].ProviderMessageID, "err", err)
		}
	}
}

// usageReserve counts a fan-out's uncapped messages (Limits.Messages.Max
// 0: a count that never refuses) in blocks of usageBlock: take uses one
// count of the block added last, and adds the next block when it is used
// up; give returns one; close subtracts what is left. The counter is
// ahead by what is left while the fan-out runs, exact when it ends, and
// too high by at most a block if the process dies: a message is never
// sent uncounted. Safe for concurrent use.
type usageReserve struct {
	usage  UsageStore
	log    *slog.Logger
	mu     sync.Mutex
	meter  string
	period time.Time
	left   int64
}

// take counts one message of meter in period.
func (u *usageReserve) take(ctx context.Context, meter string, period time.Time) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.left > 0 && u.meter == meter && u.period.Equal(period) {
		u.left--
		return nil
	}
	u.giveBackLocked(ctx) // a block of a past period
	if _, err := u.usage.AddUsage(ctx, meter, period, usageBlock, 0); err != nil {
		return err
	}
	u.meter, u.period, u.left = meter, period, usageBlock-1
	return nil
}

// give returns a count that take made for a message not sent.
func (u *usageReserve) give(ctx context.Context, meter string, period time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.meter == meter && u.period.Equal(period) {
		u.left++
		return
	}
	if _, err := u.usage.AddUsage(ctx, meter, period, -1, 0); err != nil {
		u.log.ErrorContext(ctx, "releasing message usage", "err", err)
	}
}

// close subtracts the counts not used.
func (u *usageReserve) close(ctx context.Context) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.giveBackLocked(ctx)
}

func (u *usageReserve) giveBackLocked(ctx context.Context) {
	if u.left == 0 {
		return
	}
	if _, err := u.usage.AddUsage(ctx, u.meter, u.period, -u.left, 0); err != nil {
		u.log.ErrorContext(ctx, "releasing reserved message usage", "meter", u.meter, "unused", u.left, "err", err)
	}
	u.left = 0
}
