package distribution

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/codedrop/codedrop/segment"
)

// validate checks d (normalized in place) and compiles its templates.
// Errors wrap ErrInvalid (or ErrNotFound for a missing reference) and name
// the field.
func (m *Manager) validate(ctx context.Context, d *Distribution) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("distribution %q: %s: %s: %w", d.Name, field, fmt.Sprintf(format, args...), ErrInvalid)
	}
	d.Name = strings.TrimSpace(d.Name)
	if d.Name == "" {
		return bad("name", "required")
	}
	if d.Mode == "" {
		d.Mode = Manual
	}
	switch d.Mode {
	case Manual:
		if d.Trigger != (Trigger{}) {
			return bad("trigger", "a manual distribution has no trigger")
		}
	case Automatic:
		if err := m.validateTrigger(ctx, d); err != nil {
			return err
		}
	default:
		return bad("mode", "%q is not manual or automatic", d.Mode)
	}
	switch a := d.Audience; {
	case d.Mode == Automatic:
		if a != (Audience{}) {
			return bad("audience", "an automatic distribution sends to the customer of each event; narrow it with trigger.segment_id")
		}
	case a.CustomerID == "" && a.SegmentID == "":
		return bad("audience", "set customer_id or segment_id")
	case a.CustomerID != "" && a.SegmentID != "":
		return bad("audience", "set only one of customer_id and segment_id")
	case a.CustomerID != "":
		c, err := m.store.GetCustomer(ctx, a.CustomerID)
		if err != nil {
			return fmt.Errorf("distribution %q: audience.customer_id: %w", d.Name, err)
		}
		d.Audience.CustomerID = c.ID // a source_id is resolved to the id
	default:
		if _, err := m.store.GetSegment(ctx, a.SegmentID); err != nil {
			return fmt.Errorf("distribution %q: audience.segment_id: %w", d.Name, err)
		}
	}
	for i, id := range d.Consents.Required {
		if _, err := m.store.GetConsent(ctx, id); err != nil {
			return fmt.Errorf("distribution %q: consents.required[%d]: %w", d.Name, i, err)
		}
		if slices.Index(d.Consents.Required, id) != i {
			return bad(fmt.Sprintf("consents.required[%d]", i), "%s is listed twice", id)
		}
	}
	if d.Consents.Disabled && len(d.Consents.Required) > 0 {
		return bad("consents", "required consents are ignored when the check is disabled; set one or the other")
	}
	if len(d.Channels) == 0 {
		return bad("channels", "at least one channel is required")
	}
	for i, ch := range d.Channels {
		field := fmt.Sprintf("channels[%d]", i)
		if _, ok := m.channels[ch.Channel]; !ok {
			if ch.Channel == IntercomInApp || ch.Channel == IntercomEmail {
				return bad(field+".channel", "%q needs Config.Intercom", ch.Channel)
			}
			return fmt.Errorf("distribution %q: %s.channel: %q: %w (%w)", d.Name, field, ch.Channel, ErrChannelNotFound, ErrInvalid)
		}
		for j := range i {
			if d.Channels[j].Channel == ch.Channel {
				return bad(field+".channel", "%q is listed twice (also channels[%d])", ch.Channel, j)
			}
		}
		if strings.TrimSpace(ch.Body) == "" {
			return bad(field+".body", "required")
		}
		if ch.Channel == IntercomEmail && strings.TrimSpace(ch.Subject) == "" {
			return bad(field+".subject", "required for email")
		}
		if ch.Channel == IntercomInApp && ch.Subject != "" {
			return bad(field+".subject", "in-app messages have no subject")
		}
		switch ch.Template {
		case "", "plain", "personal":
		default:
			return bad(field+".template", "%q is not plain or personal", ch.Template)
		}
	}
	if d.Campaign != "" && m.campaignLookup != nil {
		c, err := m.campaignLookup.Campaign(ctx, d.Campaign)
		if err != nil {
			return fmt.Errorf("distribution %q: campaign: %w", d.Name, err)
		}
		d.Campaign = c.ID // a name is resolved to the id
	}
	if _, err := compileChannels(d); err != nil {
		return fmt.Errorf("distribution %q: %w", d.Name, err)
	}
	return nil
}

// CreateDistribution validates d and stores it as a draft. Validation
// errors wrap ErrInvalid and name the field ("channels[0].body: line 1,
// column 8: unknown tag in {{customer.nam}}"). A name already in use
// fails with ErrNameTaken (which matches ErrConflict).
func (m *Manager) CreateDistribution(ctx context.Context, d Distribution) (Distribution, error) {
	if err := m.init(ctx); err != nil {
		return Distribution{}, err
	}
	d = d.Clone()
	if err := m.validate(ctx, &d); err != nil {
		return Distribution{}, err
	}
	now := m.clock.Now()
	d.ID = newDistributionID()
	d.Status = StatusDraft
	d.SendAt, d.ResolvedAt, d.Report = zeroTime, zeroTime, Report{}
	d.CreatedAt, d.UpdatedAt, d.Revision = now, now, 1
	if err := m.store.CreateDistribution(ctx, d); err != nil {
		return Distribution{}, fmt.Errorf("distribution %q: %w", d.Name, err)
	}
	return d, nil
}

// Distribution returns the distribution with id. While it is sending, its
// Report is computed live from the ledger.
func (m *Manager) Distribution(ctx context.Context, id string) (Distribution, error) {
	d, err := m.store.GetDistribution(ctx, id)
	if err != nil {
		return Distribution{}, err
	}
	if d.Status == StatusSending || d.Mode == Automatic && d.Status != StatusDraft {
		if d.Report, err = m.report(ctx, &d); err != nil {
			return Distribution{}, err
		}
	}
	return d, nil
}

// Distributions lists the distributions with one of statuses (all when
// none are given), oldest first.
func (m *Manager) Distributions(ctx context.Context, statuses ...Status) ([]Distribution, error) {
	return m.store.ListDistributions(ctx, statuses...)
}

// UpdateDistribution replaces the editable fields of a draft or scheduled
// distribution (Name, Purpose, Audience, Consents, Channels, Campaign,
// Trigger, Transactional, IgnoreQuietHours) with those of d, validated like
// CreateDistribution; a scheduled distribution sends with the new content
// when it fires. An automatic distribution may also be updated while active
// or paused: events from then on use the new content. Once it started sending (or
// finished) it fails with ErrWindowClosed; a canceled one with ErrConflict.
// Changing a scheduled distribution's audience restarts its countdown.
func (m *Manager) UpdateDistribution(ctx context.Context, d Distribution) (Distribution, error) {
	if err := m.init(ctx); err != nil {
		return Distribution{}, err
	}
	defer m.act.begin()()
	in := d.Clone()
	var (
		next  Distribution
		rearm bool
	)
	err := retryStale(ctx, "update "+in.ID, func() error {
		cur, err := m.store.GetDistribution(ctx, in.ID)
		if err != nil {
			return err
		}
		if err := editable(cur, "update"); err != nil {
			return err
		}
		next = cur.Clone()
		next.Name, next.Purpose, next.Audience, next.Consents, next.Channels, next.Campaign =
			in.Name, in.Purpose, in.Audience, in.Consents, in.Channels, in.Campaign
		next.Trigger, next.Transactional, next.IgnoreQuietHours = in.Trigger, in.Transactional, in.IgnoreQuietHours
		if in.Mode != "" && in.Mode != cur.Mode {
			return fmt.Errorf("distribution %s: mode: cannot change from %s to %s: %w", cur.ID, cur.Mode, in.Mode, ErrInvalid)
		}
		if err := m.validate(ctx, &next); err != nil {
			return err
		}
		rearm = cur.Status == StatusScheduled && next.Audience != cur.Audience
		if rearm {
			next.SendAt = zeroTime
		}
		next.UpdatedAt = m.clock.Now()
		rev, err := m.casDistribution(ctx, next) // changed meanwhile (perhaps it fired): read again
		if err != nil {
			return fmt.Errorf("distribution %s: %w", cur.ID, err)
		}
		next.Revision = rev
		return nil
	})
	if err != nil {
		return Distribution{}, err
	}
	m.triggers.index(ctx, next)
	if rearm {
		if err := m.sched.Cancel(ctx, sendJob(next.ID, next.SendAt).ID); err != nil {
			return Distribution{}, err
		}
		if err := m.armIfSynced(ctx, next.ID); err != nil {
			return Distribution{}, err
		}
		return m.store.GetDistribution(ctx, next.ID)
	}
	return next, nil
}

var zeroTime = Distribution{}.SendAt

// editable reports whether d's content may still change.
func editable(d Distribution, op string) error {
	switch d.Status {
	case StatusDraft, StatusScheduled:
		return nil
	case StatusActive, StatusPaused:
		if d.Mode == Automatic {
			return nil
		}
		return fmt.Errorf("distribution %s: cannot %s: it is %s: %w", d.ID, op, d.Status, ErrConflict)
	case StatusCanceled:
		return fmt.Errorf("distribution %s: cannot %s: it is canceled: %w", d.ID, op, ErrConflict)
	default:
		return fmt.Errorf("distribution %s: cannot %s: it is %s: %w", d.ID, op, d.Status, ErrWindowClosed)
	}
}

// Send schedules a draft manual distribution: it fires ManualDelay after
// now, or, when its audience segment is still syncing, ManualDelay after
// the sync finishes (SendAt stays zero until then). Until it fires it can
// be updated or canceled. Sending a distribution that is not a draft fails
// with ErrConflict (ErrWindowClosed once it started sending).
func (m *Manager) Send(ctx context.Context, id string) (Distribution, error) {
	if err := m.init(ctx); err != nil {
		return Distribution{}, err
	}
	defer m.act.begin()()
	err := retryStale(ctx, "send "+id, func() error {
		d, err := m.store.GetDistribution(ctx, id)
		if err != nil {
			return err
		}
		if d.Mode == Automatic {
			return fmt.Errorf("distribution %s: automatic distributions are activated (Activate), not sent: %w", id, ErrConflict)
		}
		switch d.Status {
		case StatusDraft:
		case StatusScheduled:
			return fmt.Errorf("distribution %s: already scheduled: %w", id, ErrConflict)
		default:
			if err := editable(d, "send"); err != nil {
				return err
			}
		}
		// Re-check what may have changed since the draft was saved.
		if err := m.validate(ctx, &d); err != nil {
			return err
		}
		d.Status, d.SendAt, d.UpdatedAt = StatusScheduled, zeroTime, m.clock.Now()
		if _, err := m.casDistribution(ctx, d); err != nil {
			return fmt.Errorf("distribution %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return Distribution{}, err
	}
	if err := m.armIfSynced(ctx, id); err != nil {
		return Distribution{}, err
	}
	return m.store.GetDistribution(ctx, id)
}

// armIfSynced sets SendAt (now + ManualDelay) and schedules the send of a
// scheduled distribution still waiting for its audience, if the audience
// segment is synced; otherwise it leaves it waiting (syncSegment arms it
// when the sync ends).
func (m *Manager) armIfSynced(ctx context.Context, id string) error {
	var d Distribution
	armed := false
	err := retryStale(ctx, "arm "+id, func() error {
		var err error
		if d, err = m.store.GetDistribution(ctx, id); err != nil {
			return err
		}
		if d.Status != StatusScheduled || !d.SendAt.IsZero() {
			return nil
		}
		if seg := d.Audience.SegmentID; seg != "" {
			s, err := m.store.GetSegment(ctx, seg)
			if err != nil {
				return fmt.Errorf("distribution %s: audience: %w", id, err)
			}
			if s.SyncStatus != segment.Synced {
				m.log.InfoContext(ctx, "distribution waits for its segment to sync", "distribution", id, "segment", seg)
				return nil
			}
		}
		d.SendAt = m.clock.Now().Add(m.delay)
		if _, err := m.casDistribution(ctx, d); err != nil {
			return err
		}
		armed = true
		return nil
	})
	if err != nil || !armed {
		return err
	}
	m.log.InfoContext(ctx, "distribution scheduled", "distribution", id, "send_at", d.SendAt)
	m.act.notify()
	return m.sched.Schedule(ctx, sendJob(id, d.SendAt))
}

// armWaiting arms every scheduled distribution waiting for segment segID.
func (m *Manager) armWaiting(ctx context.Context, segID string) {
	if m.stopped.Load() {
		return // the next Run re-arms waiting distributions
	}
	ds, err := m.store.ListDistributions(ctx, StatusScheduled)
	if err != nil {
		m.log.ErrorContext(ctx, "listing distributions waiting for a segment", "segment", segID, "err", err)
		return
	}
	for _, d := range ds {
		if d.Audience.SegmentID == segID && d.SendAt.IsZero() {
			if err := m.armIfSynced(ctx, d.ID); err != nil {
				m.log.ErrorContext(ctx, "arming distribution", "distribution", d.ID, "err", err)
			}
		}
	}
}

// Cancel cancels a draft or scheduled distribution (nothing was sent).
// Once it started sending it fails with ErrWindowClosed.
func (m *Manager) Cancel(ctx context.Context, id string) (Distribution, error) {
	if err := m.init(ctx); err != nil {
		return Distribution{}, err
	}
	defer m.act.begin()()
	d, _, err := m.transition(ctx, id, "cancel", StatusCanceled, func(d *Distribution) (bool, error) {
		return false, editable(*d, "cancel")
	})
	if err != nil {
		return Distribution{}, err
	}
	m.triggers.index(ctx, d)
	if err := m.sched.Cancel(ctx, sendJob(id, d.SendAt).ID); err != nil {
		return Distribution{}, err
	}
	return d, nil
}
