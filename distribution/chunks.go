package distribution

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// A manual fan-out shared by replicas. With a SharedScheduler, the
// replica that fires a distribution resolves its audience and splits its
// deliveries, in the ledger's order, into chunks of chunkSize: one
// JobChunk per chunk with deliveries to send. Every replica's Scheduler
// claims chunk jobs (a lease each, renewed while it works, taken over when
// its replica dies); a Manager works one chunk at a time with one fan-out
// of Concurrency sends, and finishes the distribution when a chunk leaves
// nothing to send. Exactly-once is the ledger's, as for any fan-out: a
// delivery moves to sending by compare-and-set, and publications are
// idempotent by key, so a chunk worked twice (after a lease ran out)
// sends nothing twice.

// chunkJob is the job that sends the deliveries of distID after the
// delivery after up to and including until ("": the ledger's ends).
// Its ID numbers the chunk, so planning again finds the same job, and
// chunks due together are claimed in order.
func chunkJob(distID string, k int, after, until string, at time.Time) Job {
	return Job{ID: fmt.Sprintf("%s:%s:%06d", JobChunk, distID, k), Kind: JobChunk,
		Target: distID + "/" + after + "/" + until, RunAt: at}
}

// parseChunk reads a chunk job's Target.
func parseChunk(target string) (distID, after, until string, ok bool) {
	parts := strings.Split(target, "/")
	if len(parts) != 3 || parts[0] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// planChunks splits d's deliveries into chunks and adds a JobChunk for
// each chunk with a delivery to send. Planning again (a repeated send
// job, RetryFailed, a restart) adds what is missing: a chunk job that is
// pending is left alone and one that is running goes once more when it
// ends (SharedScheduler.Add). With nothing to send, d is finished.
func (m *Manager) planChunks(ctx context.Context, d Distribution) error {
	var (
		after      string // the last delivery of the previous chunk
		k, n       int    // chunk number, deliveries in it so far
		todo       bool   // the chunk has a delivery to send
		added, all int
	)
	now := m.clock.Now()
	cut := func(until string) error {
		if todo {
			all++
			ok, err := m.shared.Add(ctx, chunkJob(d.ID, k, after, until, now))
			if err != nil {
				return fmt.Errorf("distribution %s: adding chunk %d: %w", d.ID, k, err)
			}
			if ok {
				added++
			}
		}
		after, k, n, todo = until, k+1, 0, false
		return nil
	}
	for dl, err := range m.store.Deliveries(ctx, DeliveryFilter{DistributionID: d.ID}) {
		if err != nil {
			return fmt.Errorf("distribution %s: planning chunks: %w", d.ID, err)
		}
		n++
		todo = todo || dl.State == DeliveryScheduled
		if n == m.chunkSize {
			if err := cut(dl.ID); err != nil {
				return err
			}
		}
	}
	if n > 0 {
		if err := cut(""); err != nil {
			return err
		}
	}
	if all == 0 {
		return m.finish(ctx, d.ID)
	}
	m.log.InfoContext(ctx, "distribution split into chunks", "distribution", d.ID, "chunks", k, "to_send", all, "added", added)
	return nil
}

// runChunk runs a JobChunk: a fan-out of the chunk's scheduled deliveries,
// then the distribution is finished if nothing is left to send. When ctx
// ends first (Run stopping), the job is scheduled again for another
// replica, as the Scheduler drops a job whose handler returned.
func (m *Manager) runChunk(ctx context.Context, j Job) error {
	distID, after, until, ok := parseChunk(j.Target)
	if !ok {
		return fmt.Errorf("chunk job %s: bad target %q", j.ID, j.Target)
	}
	d, err := m.store.GetDistribution(ctx, distID)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if d.Status != StatusSending {
		return nil // finished, failed or canceled meanwhile
	}
	pl, err := newPlan(d, m.channels)
	if err != nil {
		m.fail(ctx, distID, err.Error())
		return err
	}
	select {
	case m.chunkGate <- struct{}{}:
	case <-ctx.Done():
		return m.handBack(ctx, j)
	}
	err = m.pipe.fanout(ctx, pl, m.chunkDeliveries(ctx, distID, after, until), m.concurrency)
	<-m.chunkGate
	if ctx.Err() != nil {
		return m.handBack(ctx, j)
	}
	if err != nil {
		return err
	}
	return m.finish(ctx, distID)
}

// armSend makes sure distribution id's send job runs (at at). With a
// SharedScheduler it adds the job: a pending one stays, and a running one
// (on this replica or another) runs once more when it returns, so two
// replicas never fire one distribution at once when one of them starts
// up. Otherwise it schedules it.
func (m *Manager) armSend(ctx context.Context, id string, at time.Time) error {
	if m.shared != nil {
		_, err := m.shared.Add(ctx, sendJob(id, at))
		return err
	}
	return m.sched.Schedule(ctx, sendJob(id, at))
}

// handBack schedules job j again, due now, after its handler was stopped
// before its work was done (a durable Scheduler drops a job whose handler
// returned).
func (m *Manager) handBack(ctx context.Context, j Job) error {
	j.RunAt = m.clock.Now()
	if err := m.sched.Schedule(context.WithoutCancel(ctx), j); err != nil {
		return fmt.Errorf("job %s: handing it back: %w", j.ID, err)
	}
	return ctx.Err()
}

// chunkDeliveries lists the scheduled deliveries of distID after the
// delivery after, up to and including until ("": from the start, to the
// end).
func (m *Manager) chunkDeliveries(ctx context.Context, distID, after, until string) iter.Seq2[Delivery, error] {
	return func(yield func(Delivery, error) bool) {
		for dl, err := range m.store.Deliveries(ctx, DeliveryFilter{DistributionID: distID, After: after}) {
			if err != nil {
				yield(Delivery{}, err)
				return
			}
			if dl.State == DeliveryScheduled && !yield(dl, nil) {
				return
			}
			if dl.ID == until {
				return
			}
		}
	}
}
