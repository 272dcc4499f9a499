package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/codedrop/codedrop/distribution"
)

// row is one distribution as the lists show it.
type row struct {
	distribution.Distribution
	// Audience is who it sends to, in words ("segment VIP", "customer
	// u-1", "on customer.order.paid").
	Audience string
	// ChannelNames lists its channels.
	ChannelNames string
	// Countdown is the time left until a scheduled distribution fires
	// (mm:ss), RemainingMS the same in milliseconds for the script;
	// Waiting says a scheduled one waits for its segment's sync.
	Countdown   string
	RemainingMS int64
	Scheduled   bool
	Waiting     bool
	// Open says Edit and Cancel may still work (the library decides).
	Open bool
	// CanActivate and CanPause offer an automatic distribution's actions.
	CanActivate, CanPause bool
}

// open reports whether d's edit window looks open from here; the Manager
// has the last word when an action is posted.
func open(d distribution.Distribution) bool {
	switch d.Status {
	case distribution.StatusDraft, distribution.StatusScheduled:
		return true
	case distribution.StatusActive, distribution.StatusPaused:
		return d.Mode == distribution.Automatic
	}
	return false
}

// names looks up and caches segment and customer names for one request.
type names struct {
	m         *distribution.Manager
	segments  map[string]string
	customers map[string]string
}

func newNames(m *distribution.Manager) *names {
	return &names{m: m, segments: map[string]string{}, customers: map[string]string{}}
}

// segment returns a segment's name (its id when it is gone).
func (s *names) segment(ctx context.Context, id string) string {
	if n, ok := s.segments[id]; ok {
		return n
	}
	n := id
	if seg, err := s.m.Segment(ctx, id); err == nil {
		n = seg.Name
	}
	s.segments[id] = n
	return n
}

// customer returns a customer's name and source id ("Ann (u1)"), or the
// id when the customer is gone.
func (s *names) customer(ctx context.Context, id string) string {
	if n, ok := s.customers[id]; ok {
		return n
	}
	n := id
	if c, err := s.m.Customer(ctx, id); err == nil {
		n = cmp.Or(c.Name, c.SourceID, c.ID)
		if c.Name != "" && c.SourceID != "" {
			n += " (" + c.SourceID + ")"
		}
	}
	s.customers[id] = n
	return n
}

// newRow describes d as of now.
func (h *Handler) newRow(ctx context.Context, d distribution.Distribution, segs *names, now time.Time) row {
	r := row{Distribution: d, Open: open(d)}
	switch {
	case d.Mode == distribution.Automatic:
		r.Audience = triggerText(ctx, d.Trigger, segs)
		r.CanActivate = d.Status == distribution.StatusDraft || d.Status == distribution.StatusPaused
		r.CanPause = d.Status == distribution.StatusActive
	case d.Audience.SegmentID != "":
		r.Audience = "segment " + segs.segment(ctx, d.Audience.SegmentID)
	case d.Audience.CustomerID != "":
		r.Audience = "customer " + segs.customer(ctx, d.Audience.CustomerID)
	}
	names := make([]string, len(d.Channels))
	for i, c := range d.Channels {
		names[i] = c.Channel
	}
	r.ChannelNames = strings.Join(names, ", ")
	if d.Status == distribution.StatusScheduled {
		r.Scheduled = true
		if d.SendAt.IsZero() {
			r.Waiting = true
		} else {
			left := max(d.SendAt.Sub(now), 0)
			r.Countdown, r.RemainingMS = mmss(left), left.Milliseconds()
		}
	}
	return r
}

// triggerText describes an automatic distribution's trigger.
func triggerText(ctx context.Context, t distribution.Trigger, segs *names) string {
	s := "on " + t.Event
	if t.SegmentID != "" {
		s += " of segment " + segs.segment(ctx, t.SegmentID)
	}
	if t.CampaignID != "" {
		s += " for campaign " + t.CampaignID
	}
	if t.IncludeExisting {
		s += " (and its members at activation)"
	}
	return s
}

// distributions serves the list of every distribution.
func (h *Handler) distributions(w http.ResponseWriter, r *http.Request) {
	ds, err := h.m.Distributions(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows := h.rows(r.Context(), ds)
	h.render(w, r, http.StatusOK, "distributions", page{Title: "Distributions", Nav: "distributions", Data: rows})
}

// rows describes ds, newest first.
func (h *Handler) rows(ctx context.Context, ds []distribution.Distribution) []row {
	segs := newNames(h.m)
	now := h.now()
	rows := make([]row, len(ds))
	for i, d := range ds {
		rows[len(ds)-1-i] = h.newRow(ctx, d, segs, now)
	}
	return rows
}

// redirect sends the browser back after a successful action (303, so the
// reload is a GET). back chooses among fixed pages, never a URL from the
// request.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, id, done string) {
	to := h.base(r) + "/distributions/" + id
	switch r.PostFormValue("back") {
	case "list":
		to = h.base(r) + "/"
	case "automatic":
		to = h.base(r) + "/automatic"
	}
	http.Redirect(w, r, to+"?done="+done, http.StatusSeeOther)
}

// cancel cancels a draft or scheduled distribution (or an automatic one).
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := h.m.Cancel(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, id, "canceled")
}

// editView is the edit form.
type editView struct {
	row
	// Form holds what was posted when the edit was refused.
	Name, Purpose string
	Channels      []distribution.ChannelMessage
}

// editForm serves the form that edits a distribution's name, purpose and
// messages.
func (h *Handler) editForm(w http.ResponseWriter, r *http.Request) {
	d, err := h.m.Distribution(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := editView{row: h.newRow(r.Context(), d, newNames(h.m), h.now()), Name: d.Name, Purpose: d.Purpose, Channels: d.Channels}
	p := page{Title: "Edit " + d.Name, Nav: "distributions", Data: v}
	if !v.Open {
		p.Error = fmt.Sprintf("distribution %s is %s: the library will refuse changes.", d.ID, d.Status)
	}
	h.render(w, r, http.StatusOK, "edit", p)
}

// edit applies the edit form through Manager.UpdateDistribution. The form
// carries the revision it was made from: a distribution changed since is
// not overwritten (the person sees the change and edits again).
func (h *Handler) edit(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := h.m.Distribution(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	next, stale, err := editFromForm(r, d)
	switch {
	case err != nil:
	case stale && open(d):
		err = errStale
	default:
		// A closed window never reopens: the library refuses even a
		// stale form with its own message.
		_, err = h.m.UpdateDistribution(r.Context(), next)
	}
	if err != nil {
		status, msg := h.classify(r, err)
		v := editView{row: h.newRow(r.Context(), d, newNames(h.m), h.now()), Name: next.Name, Purpose: next.Purpose, Channels: next.Channels}
		h.render(w, r, status, "edit", page{Title: "Edit " + d.Name, Nav: "distributions", Error: msg, Data: v})
		return
	}
	h.redirect(w, r, id, "saved")
}

// errStale: the distribution changed since the form was rendered.
var errStale = fmt.Errorf("dashboard: the distribution changed since this form was loaded; review it and save again: %w", distribution.ErrConflict)

// editFromForm returns d with the posted name, purpose and channel
// subjects and bodies, and whether the form was made from another
// revision (or channel list) than d's. On error it still returns what was
// posted, for the form to show again.
func editFromForm(r *http.Request, d distribution.Distribution) (next distribution.Distribution, stale bool, err error) {
	next = d.Clone()
	if err := r.ParseForm(); err != nil {
		return next, false, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	f := r.PostForm
	next.Name, next.Purpose = f.Get("name"), f.Get("purpose")
	for i := range next.Channels {
		next.Channels[i].Subject = f.Get(fmt.Sprintf("subject.%d", i))
		next.Channels[i].Body = f.Get(fmt.Sprintf("body.%d", i))
	}
	stale = f.Get("revision") != fmt.Sprint(d.Revision) || f.Get("channels") != fmt.Sprint(len(d.Channels))
	return next, stale, nil
}
