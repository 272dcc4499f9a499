package dashboard

import (
	"encoding/json"
	"net/http"

	"github.com/codedrop/codedrop/distribution"
)

// liveItem is one distribution in the live JSON: its status, and for a
// scheduled one the time left; for a sending one its progress.
type liveItem struct {
	ID          string              `json:"id"`
	Status      distribution.Status `json:"status"`
	Open        bool                `json:"open"`
	Countdown   string              `json:"countdown,omitempty"`
	RemainingMS *int64              `json:"remaining_ms,omitempty"`
	Waiting     bool                `json:"waiting,omitempty"`
	Report      *liveReport         `json:"report,omitempty"`
}

type liveReport struct {
	Sent      int `json:"sent"`
	Skipped   int `json:"skipped"`
	Failed    int `json:"failed"`
	Unknown   int `json:"unknown"`
	ToProcess int `json:"to_process"`
}

// live serves GET /api/live: every distribution's status and countdown,
// which the pages' script polls (the pages read the same values when
// they render, so nothing depends on it).
func (h *Handler) live(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ds, err := h.m.Distributions(ctx)
	if err != nil {
		status, msg := h.classify(r, err)
		http.Error(w, msg, status)
		return
	}
	now := h.now()
	items := make([]liveItem, 0, len(ds))
	for _, d := range ds {
		it := liveItem{ID: d.ID, Status: d.Status, Open: open(d)}
		if d.Status == distribution.StatusScheduled {
			if d.SendAt.IsZero() {
				it.Waiting = true
			} else {
				left := max(d.SendAt.Sub(now), 0)
				ms := left.Milliseconds()
				it.Countdown, it.RemainingMS = mmss(left), &ms
			}
		}
		if d.Status == distribution.StatusSending {
			if cur, err := h.m.Distribution(ctx, d.ID); err == nil {
				rep := cur.Report
				it.Report = &liveReport{rep.Sent, rep.Skipped, rep.Failed, rep.Unknown, rep.ToProcess}
			}
		}
		items = append(items, it)
	}
	writeJSON(w, struct {
		Distributions []liveItem `json:"distributions"`
	}{items})
}

// writeJSON writes v as JSON (HTML characters escaped, as the encoder
// does by default).
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
