package distribution

import (
	"sync"
)

// plan is what the pipeline sends: a distribution's content (or a
// reward's) with its templates compiled and its channels resolved, shared
// by every delivery of one fan-out, event or reward.
type plan struct {
	d        Distribution
	tpl      []compiled
	channels []Channel // by index of d.Channels; nil: not registered (the delivery fails)
	// ev is the triggering event of an automatic plan (else each
	// delivery's event is loaded by its trigger key).
	ev *Event
	// policy applies the send-time policies (quiet hours, caps, limits);
	// false for a teammate's reward.
	policy bool
	// extra resolves template tags beyond the distribution's and the
	// event's (a reward's {{reward.name}}).
	extra func(path string) (string, bool)
	// pubChannel and pubMeta go into the publication request.
	pubChannel string
	pubMeta    map[string]any

	mu      sync.Mutex
	stopped string // why sending stopped early ("no codes left")
}

// newPlan compiles d's templates and resolves its channels in channels.
func newPlan(d Distribution, channels map[string]Channel) (*plan, error) {
	tpl, err := compileChannels(&d)
	if err != nil { // validated on create/update; only a changed tag set gets here
		return nil, err
	}
	pl := &plan{d: d, tpl: tpl, channels: make([]Channel, len(d.Channels)), policy: true}
	for i, ch := range d.Channels {
		pl.channels[i] = channels[ch.Channel]
	}
	return pl, nil
}

// withEvent returns a copy of pl that renders event e (pl's compiled
// templates and channels are shared).
func (pl *plan) withEvent(e *Event) *plan {
	return &plan{d: pl.d, tpl: pl.tpl, channels: pl.channels, ev: e, policy: pl.policy, extra: pl.extra,
		pubChannel: pl.pubChannel, pubMeta: pl.pubMeta}
}

func (pl *plan) channelIndex(name string) int {
	for i, ch := range pl.d.Channels {
		if ch.Channel == name {
			return i
		}
	}
	return -1
}

// stop records why the plan stopped sending (the first reason wins).
func (pl *plan) stop(reason string) {
	pl.mu.Lock()
	if pl.stopped == "" {
		pl.stopped = reason
	}
	pl.mu.Unlock()
}

// stoppedReason is why the plan stopped sending, or "".
func (pl *plan) stoppedReason() string {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.stopped
}
