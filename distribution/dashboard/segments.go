package dashboard

import (
	"context"
	"fmt"
	"net/http"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/segment"
)

// segmentRow is one segment as the segments page shows it.
type segmentRow struct {
	segment.Segment
	// Rule is the filter JSON or the expression ("" for static ones).
	Rule string
	// Members is how many customers belong now.
	Members int
	// Syncing says a sync runs; Percent and Width are its progress (Width
	// for the bar), Known says SyncTotal is known.
	Syncing bool
	Known   bool
	Percent int
	Width   int
	// UsedBy names the distributions sending to it or triggered by it.
	UsedBy []string
}

// progress returns a sync's progress in percent and as a bar width.
func progress(s segment.Segment) (known bool, percent, width int) {
	if s.SyncTotal <= 0 {
		return false, 0, 0
	}
	checked := min(s.SyncChecked, s.SyncTotal)
	return true, checked * 100 / s.SyncTotal, checked * barWidth / s.SyncTotal
}

// segments serves the segments: type, rule, sync status and progress,
// member count, and the distributions that use each.
func (h *Handler) segments(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	segs, err := h.m.Segments(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ds, err := h.m.Distributions(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	usedBy := map[string][]string{}
	for _, d := range ds {
		if d.Status == distribution.StatusCanceled {
			continue
		}
		for _, id := range []string{d.Audience.SegmentID, d.Trigger.SegmentID} {
			if id != "" {
				usedBy[id] = append(usedBy[id], d.Name)
			}
		}
	}
	rows := make([]segmentRow, len(segs))
	for i, s := range segs {
		row := segmentRow{Segment: s, Rule: s.Expression, Syncing: s.SyncStatus == segment.Syncing, UsedBy: usedBy[s.ID]}
		if s.Filter != nil {
			row.Rule = s.Filter.String()
		}
		row.Known, row.Percent, row.Width = progress(s)
		if row.Members, err = h.memberCount(ctx, s.ID); err != nil {
			h.fail(w, r, err)
			return
		}
		rows[i] = row
	}
	h.render(w, r, http.StatusOK, "segments", page{Title: "Segments", Nav: "segments", Data: rows})
}

// memberCount counts a segment's members.
func (h *Handler) memberCount(ctx context.Context, id string) (int, error) {
	return h.m.CountSegmentMembers(ctx, id)
}

// liveSegment is one segment in the live JSON.
type liveSegment struct {
	ID         string             `json:"id"`
	SyncStatus segment.SyncStatus `json:"sync_status"`
	Progress   string             `json:"progress,omitempty"`
	Width      int                `json:"width"`
	Members    *int               `json:"members,omitempty"`
}

// liveSegments serves GET /api/segments: every segment's sync status and,
// while it syncs, its progress and member count, for the segments page's
// script.
func (h *Handler) liveSegments(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	segs, err := h.m.Segments(ctx)
	if err != nil {
		status, msg := h.classify(r, err)
		http.Error(w, msg, status)
		return
	}
	items := make([]liveSegment, 0, len(segs))
	for _, s := range segs {
		it := liveSegment{ID: s.ID, SyncStatus: s.SyncStatus}
		if s.SyncStatus == segment.Syncing {
			known, percent, width := progress(s)
			it.Width = width
			if known {
				it.Progress = fmt.Sprintf("%d of %d checked (%d%%)", s.SyncChecked, s.SyncTotal, percent)
			} else {
				it.Progress = fmt.Sprintf("%d checked", s.SyncChecked)
			}
			if n, err := h.memberCount(ctx, s.ID); err == nil {
				it.Members = &n
			}
		}
		items = append(items, it)
	}
	writeJSON(w, struct {
		Segments []liveSegment `json:"segments"`
	}{items})
}
