package dashboard

import (
	"net/http"

	"github.com/codedrop/codedrop/distribution"
)

// automatic serves the automatic distributions: trigger, status, and
// Activate or Pause.
func (h *Handler) automatic(w http.ResponseWriter, r *http.Request) {
	ds, err := h.m.Distributions(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var auto []distribution.Distribution
	for _, d := range ds {
		if d.Mode == distribution.Automatic {
			auto = append(auto, d)
		}
	}
	h.render(w, r, http.StatusOK, "automatic", page{Title: "Automatic distributions", Nav: "automatic", Data: h.rows(r.Context(), auto)})
}

// activate starts an automatic distribution.
func (h *Handler) activate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := h.m.Activate(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, id, "activated")
}

// pause stops an active automatic distribution.
func (h *Handler) pause(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := h.m.Pause(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, id, "paused")
}
