package distribution

import (
	"context"
	"errors"
	"fmt"

	"github.com/codedrop/codedrop/segment"
)

// Segments lists every segment in ID order, each with its sync status and,
// while it syncs, its progress (SyncChecked of SyncTotal customers). The
// progress is read from the Store, so a sync running on another replica
// shows too.
func (m *Manager) Segments(ctx context.Context) ([]segment.Segment, error) {
	var out []segment.Segment
	for s, err := range m.store.Segments(ctx) {
		if err != nil {
			return nil, fmt.Errorf("distribution: listing segments: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// UpdateSegment changes a segment's name, rule (Filter or Expression) or
// type, or a static segment's list, and returns it as stored. s.ID names
// the segment and s is validated as in CreateSegment: bad input fails
// with an error wrapping ErrInvalid that names the field (a bad rule is a
// *segment.FilterError) and nothing is stored. The segment keeps its ID,
// so distributions and triggers pointing at it keep pointing at it. A
// Filter is stored as given and comes back unchanged.
//
// A change of name only is stored and nothing else happens. A change of
// rule or type (or of a static list) changes who belongs:
//
//   - A rule segment goes back to syncing and is synced again in the
//     background (see segment.Engine.Update); a sync already running for
//     it stops and starts over with the new rule. Customers who enter or
//     leave an auto-update segment because of the new rule fire
//     customer.segment.entered / customer.segment.left, as any sync does,
//     so automatic distributions on those events follow.
//   - A static segment has its new members at once (no events).
//   - A scheduled manual distribution to the segment that has not fired
//     yet starts its countdown again: it waits for the segment to be
//     synced, then fires ManualDelay later (a draft is not affected; one
//     already sending keeps the audience it resolved). This is the
//     seed's rule that the countdown starts when the segment is fully
//     synced, applied to the new members: a countdown that was running
//     for the old members is dropped, so nobody receives a code on the old
//     rule's terms.
func (m *Manager) UpdateSegment(ctx context.Context, s segment.Segment) (segment.Segment, error) {
	if err := m.init(ctx); err != nil {
		return segment.Segment{}, err
	}
	defer m.act.begin()()
	out, changed, err := m.segments.Update(ctx, s)
	if err != nil {
		return segment.Segment{}, err
	}
	if !changed {
		return out, nil
	}
	if err := m.restartCountdowns(ctx, out.ID); err != nil {
		return out, err
	}
	if out.SyncStatus == segment.Synced {
		m.armWaiting(ctx, out.ID)
		return out, nil
	}
	m.syncSegment(ctx, out.ID)
	return out, nil
}

// restartCountdowns puts the scheduled manual distributions to segment
// segID whose countdown runs (SendAt set) back to waiting for the segment
// (SendAt zero) and cancels their send jobs; armWaiting arms them again
// once the segment is synced. A distribution that fired meanwhile is left
// alone. A send job that still fires finds SendAt zero and does nothing.
func (m *Manager) restartCountdowns(ctx context.Context, segID string) error {
	ds, err := m.store.ListDistributions(ctx, StatusScheduled)
	if err != nil {
		return fmt.Errorf("segment %s: listing the distributions waiting for it: %w", segID, err)
	}
	for _, d := range ds {
		if d.Audience.SegmentID != segID || d.SendAt.IsZero() {
			continue
		}
		err := retryStale(ctx, "restart the countdown of "+d.ID, func() error {
			at := d.SendAt
			d.SendAt, d.UpdatedAt = zeroTime, m.clock.Now()
			rev, err := m.casDistribution(ctx, d)
			if errors.Is(err, errStale) {
				// Changed meanwhile (perhaps it fired): read it again.
				cur, gerr := m.store.GetDistribution(ctx, d.ID)
				if gerr != nil {
					return gerr
				}
				if cur.Status != StatusScheduled || cur.SendAt.IsZero() || cur.Audience.SegmentID != segID {
					return nil
				}
				d = cur
				return err
			}
			if err != nil {
				return err
			}
			d.Revision = rev
			m.log.InfoContext(ctx, "distribution waits again: its segment changed", "distribution", d.ID, "segment", segID, "was_due", at)
			return m.sched.Cancel(ctx, sendJob(d.ID, at).ID)
		})
		if err != nil {
			return fmt.Errorf("distribution %s: restarting its countdown: %w", d.ID, err)
		}
	}
	return nil
}
