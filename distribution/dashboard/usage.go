package dashboard

import (
	"net/http"

	"github.com/codedrop/codedrop/distribution"
)

// meter is one limit as the usage page shows it.
type meter struct {
	Name, Limit string
	distribution.MeterUsage
	// Capped says Max is set; Width is the used share of the bar and
	// Over says the cap is reached.
	Capped bool
	Width  int
	Over   bool
}

func newMeter(name, limit string, u distribution.MeterUsage) meter {
	m := meter{Name: name, Limit: limit, MeterUsage: u, Capped: u.Max > 0}
	if m.Capped {
		m.Width = int(min(u.Used, u.Max) * barWidth / u.Max)
		m.Over = u.Used >= u.Max
	}
	return m
}

// usage serves the message and API usage of the current periods against
// their caps (Manager.Usage).
func (h *Handler) usage(w http.ResponseWriter, r *http.Request) {
	u, err := h.m.Usage(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	meters := []meter{
		newMeter("Messages sent", "Intercom webhook (message) limit", u.Messages),
		newMeter("Calls from Intercom", "Intercom API limit", u.API),
	}
	h.render(w, r, http.StatusOK, "usage", page{Title: "Usage", Nav: "usage", Data: meters})
}
