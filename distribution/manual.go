package distribution

import (
	"context"
	"fmt"

	"github.com/codedrop/codedrop/segment"
)

// resolveBatch is how many audience members are turned into deliveries per
// store write.
const resolveBatch = 500

// fire starts (or resumes) sending a scheduled manual distribution (a
// JobSend). If this Manager is already fanning it out, the running
// fan-out makes one more pass when it ends (for deliveries re-queued
// meanwhile) instead.
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
	due := false
	err := retryStale(ctx, "start sending "+id, func() error {
		var err error
		if d, err = m.store.GetDistribution(ctx, id); err != nil {
			return err
		}
		if d.Status == StatusSending {
			due = true
			return nil
		}
		if d.Status != StatusScheduled || d.SendAt.IsZero() || d.SendAt.After(m.clock.Now()) {
			return nil // canceled, rescheduled or not yet due: not ours to send
		}
		d.Status, d.UpdatedAt = StatusSending, m.clock.Now()
		d.Report = Report{StartedAt: d.UpdatedAt}
		rev, err := m.casDistribution(ctx, d)
		if err != nil {
			return err
		}
		d.Revision, due = rev, true
		m.log.InfoContext(ctx, "distribution sending", "distribution", id)
		return nil
	})
	if err != nil || !due {
		return err
	}
	if d.ResolvedAt.IsZero() {
		if d, err = m.resolve(ctx, d); err != nil {
			if ctx.Err() == nil {
				m.fail(ctx, id, "resolving the audience: "+err.Error())
			}
			return fmt.Errorf("distribution %s: resolving the audience: %w", id, err)
		}
	}
	pl, err := newPlan(d, m.channels)
	if err != nil {
		m.fail(ctx, id, err.Error())
		return err
	}
	if m.shared != nil { // replicas claim the chunks
		if err := m.planChunks(ctx, d); err != nil {
			if ctx.Err() != nil {
				return m.handBack(ctx, sendJob(id, m.clock.Now())) // stopped while planning
			}
			return err
		}
		return nil
	}
	ds := m.store.Deliveries(ctx, DeliveryFilter{DistributionID: id, States: []DeliveryState{DeliveryScheduled}})
	if err := m.pipe.fanout(ctx, pl, ds, m.concurrency); err != nil {
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
		batch = appendDeliveries(batch, &d, custID, ManualTrigger, now)
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
	err := retryStale(ctx, "record the audience of "+d.ID, func() error {
		d.ResolvedAt = m.clock.Now()
		d.Report.Recipients, d.Report.Deliveries = members, members*len(d.Channels)
		rev, err := m.casDistribution(ctx, d)
		if err != nil {
			if cur, gerr := m.store.GetDistribution(ctx, d.ID); gerr == nil {
				d.Revision = cur.Revision
			}
			return err
		}
		d.Revision = rev
		return nil
	})
	if err != nil {
		return d, err
	}
	m.log.InfoContext(ctx, "distribution audience resolved", "distribution", d.ID, "recipients", members)
	return d, nil
}

// retry runs a retry job: one delivery whose transient failure (or
// deferral) is due again.
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
	pl, err := newPlan(d, m.channels)
	if err != nil {
		return err
	}
	if _, err := m.pipe.deliver(context.WithoutCancel(ctx), pl, dl, deliverOpts{retry: true}); err != nil {
		return err
	}
	return m.finish(ctx, d.ID)
}

// finish completes a sending distribution whose deliveries are all final,
// with its report; otherwise it leaves it sending (retries pending, or
// deliveries the next run will pick up).
func (m *Manager) finish(ctx context.Context, id string) error {
	return retryStale(ctx, "finish "+id, func() error {
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
			m.log.InfoContext(ctx, "distribution still has deliveries to process", "distribution", id, "to_process", rep.ToProcess)
			return nil
		}
		rep.FinishedAt = m.clock.Now()
		if rep.Stopped == "" && rep.Sent == 0 && rep.Unknown == 0 && rep.Failed > 0 {
			rep.Stopped = ReasonAllFailed // nothing reached anyone: not a plain done
		}
		d.Report, d.UpdatedAt = rep, rep.FinishedAt
		d.Status = StatusDone
		if rep.Stopped != "" {
			d.Status = StatusFailed
		}
		if _, err := m.casDistribution(ctx, d); err != nil {
			return err
		}
		m.log.InfoContext(ctx, "distribution finished", "distribution", id, "status", d.Status,
			"sent", rep.Sent, "skipped", rep.Skipped, "failed", rep.Failed, "unknown", rep.Unknown)
		return nil
	})
}

// fail marks a sending distribution failed with a reason.
func (m *Manager) fail(ctx context.Context, id, reason string) {
	err := retryStale(ctx, "fail "+id, func() error {
		d, err := m.store.GetDistribution(ctx, id)
		if err != nil || d.Status != StatusSending {
			return err
		}
		d.Status, d.UpdatedAt = StatusFailed, m.clock.Now()
		d.Report.Stopped, d.Report.FinishedAt = reason, d.UpdatedAt
		_, err = m.casDistribution(ctx, d)
		return err
	})
	if err != nil {
		m.log.ErrorContext(ctx, "marking a distribution failed", "distribution", id, "reason", reason, "err", err)
	}
}

// ReasonAllFailed is the Report.Stopped of a distribution that ended with
// every delivery it attempted failed and none sent (or possibly sent): it
// ends failed, not done. RetryFailed sends them again.
const ReasonAllFailed = "every delivery failed"

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
