package distribution

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// StoreGaugeInterval bounds how often the gauges that read the store
// (codedrop.deliveries.waiting, codedrop.codes.published,
// codedrop.codes.remaining) read it: a collection less than this after
// the last read (by the Manager's Clock) reports the values of that read.
const StoreGaugeInterval = 30 * time.Second

// remainingCounter is an optional interface of a code source that tells
// how many codes a campaign can still publish (-1 when they are generated
// on demand: not reported). codes.Memory, store.Memory and store/postgres
// (Codes and Store) implement it.
type remainingCounter interface {
	Remaining(ctx context.Context, campaignID string) (int, error)
}

// publishedCounter is an optional interface of a code source that tells
// how many codes a campaign has published. codes.Memory, store.Memory and
// store/postgres (Codes and Store) implement it.
type publishedCounter interface {
	Published(ctx context.Context, campaignID string) (int, error)
}

// gaugeCache holds the last read of the store-read gauges.
type gaugeCache struct {
	mu        sync.Mutex
	read      time.Time // by the Manager's clock; zero: never read
	waiting   map[Mode]int64
	campaigns []campaignGauge
}

// campaignGauge is one campaign's code counts (-1: the source cannot
// tell).
type campaignGauge struct {
	attrs                metric.MeasurementOption
	published, remaining int64
}

// observeStore registers the callback of the gauges that read the store.
// Run calls it and unregisters when it returns, so a Manager that is not
// running reports none (its replicas that run do).
func (m *Manager) observeStore() (unregister func()) {
	t := m.tel
	reg, err := t.meter.RegisterCallback(m.observeGauges, t.waiting, t.codesPublished, t.codesRemaining)
	if err != nil {
		m.log.Warn("distribution: registering the store gauges; they are not reported", "err", err)
		return func() {}
	}
	return func() {
		if err := reg.Unregister(); err != nil {
			m.log.Warn("distribution: unregistering the store gauges", "err", err)
		}
	}
}

// observeGauges reports the store-read gauges, reading the store at most
// once per StoreGaugeInterval.
func (m *Manager) observeGauges(ctx context.Context, o metric.Observer) error {
	g := &m.tel.gauges
	g.mu.Lock()
	defer g.mu.Unlock()
	now := m.clock.Now()
	if g.read.IsZero() || now.Sub(g.read) >= StoreGaugeInterval || now.Before(g.read) {
		if err := m.readGauges(ctx, g); err != nil {
			m.log.WarnContext(ctx, "distribution: reading the store for the gauges", "err", err)
			if g.read.IsZero() {
				return err
			}
			// Report the last values; the next collection reads again.
		} else {
			g.read = now
		}
	}
	for _, mode := range [...]Mode{Manual, Automatic} {
		o.ObserveInt64(m.tel.waiting, g.waiting[mode], m.tel.cached(attrKey{kind: attrsWaiting, mode: string(mode)}, func() attribute.Set {
			return attribute.NewSet(AttrDistributionMode.String(string(mode)))
		}))
	}
	for _, c := range g.campaigns {
		if c.published >= 0 {
			o.ObserveInt64(m.tel.codesPublished, c.published, c.attrs)
		}
		if c.remaining >= 0 {
			o.ObserveInt64(m.tel.codesRemaining, c.remaining, c.attrs)
		}
	}
	return nil
}

// readGauges reads the store into g: the scheduled deliveries of the
// sending, active and paused distributions, and the code counts of the
// campaigns that scheduled, sending, active and paused distributions
// publish from.
func (m *Manager) readGauges(ctx context.Context, g *gaugeCache) error {
	waiting := map[Mode]int64{}
	var campaigns []string
	seen := map[string]bool{}
	ds, err := m.store.ListDistributions(ctx, StatusScheduled, StatusSending, StatusActive, StatusPaused)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Campaign != "" && !seen[d.Campaign] {
			seen[d.Campaign] = true
			campaigns = append(campaigns, d.Campaign)
		}
		if d.Status == StatusScheduled {
			continue // its deliveries are made when it fires
		}
		cnt, err := m.store.CountDeliveries(ctx, d.ID)
		if err != nil {
			return err
		}
		waiting[or(d.Mode, Manual)] += int64(cnt.States[DeliveryScheduled])
	}
	rc, _ := m.codes.(remainingCounter)
	pc, _ := m.codes.(publishedCounter)
	var out []campaignGauge
	if rc != nil || pc != nil {
		for _, ref := range campaigns {
			id, name := ref, ""
			if m.campaignLookup != nil {
				c, err := m.campaignLookup.Campaign(ctx, ref)
				if errors.Is(err, ErrNotFound) {
					continue
				} else if err != nil {
					return err
				}
				id, name = c.ID, c.Name
			}
			cg := campaignGauge{published: -1, remaining: -1}
			if rc != nil {
				n, err := rc.Remaining(ctx, id)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				if err == nil {
					cg.remaining = int64(n)
				}
			}
			if pc != nil {
				n, err := pc.Published(ctx, id)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				if err == nil {
					cg.published = int64(n)
				}
			}
			attrs := []attribute.KeyValue{AttrCampaignID.String(id)}
			if name != "" {
				attrs = append(attrs, AttrCampaignName.String(name))
			}
			cg.attrs = metric.WithAttributeSet(attribute.NewSet(attrs...))
			out = append(out, cg)
		}
	}
	g.waiting, g.campaigns = waiting, out
	return nil
}
