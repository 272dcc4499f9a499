package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/codedrop/codedrop/distribution"
)

// barWidth is the width in pixels of the longest bar of a chart.
const barWidth = 240

// bar is one row of a chart: a label, a count and the bar's width
// relative to the largest count.
type bar struct {
	Label string
	Count int
	Width int
	Class string
}

// chart turns counts into bars scaled to the largest.
func chart(bars []bar) []bar {
	most := 0
	for _, b := range bars {
		most = max(most, b.Count)
	}
	for i := range bars {
		if most > 0 && bars[i].Count > 0 {
			bars[i].Width = max(bars[i].Count*barWidth/most, 2)
		}
	}
	return bars
}

// reasonBars lists reasons by count, most frequent first.
func reasonBars(counts map[string]int, class string) []bar {
	bars := make([]bar, 0, len(counts))
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		bars = append(bars, bar{Label: k, Count: counts[k], Class: class})
	}
	slices.SortStableFunc(bars, func(a, b bar) int { return cmp.Compare(b.Count, a.Count) })
	return chart(bars)
}

// deliveryRow is one delivery and its customer's name.
type deliveryRow struct {
	distribution.Delivery
	// Customer is the customer's name (or source id, or id when the
	// customer is gone).
	Customer string
	SourceID string
}

// reportView is the page of one distribution.
type reportView struct {
	row
	Report      distribution.Report
	States      []bar
	SkipReasons []bar
	FailReasons []bar
	CanRetry    bool
	// The deliveries listed: filtered by State, starting after After;
	// Next is the cursor of the next page ("" on the last).
	Filter     string
	Filters    []string
	After      string
	Next       string
	Deliveries []deliveryRow
}

// filters are the delivery states the report filters by.
var filters = []distribution.DeliveryState{
	distribution.DeliveryScheduled, distribution.DeliverySending, distribution.DeliverySent,
	distribution.DeliverySkipped, distribution.DeliveryFailed, distribution.DeliveryUnknown,
	distribution.DeliveryCanceled,
}

// distribution serves one distribution: its report as a chart, its
// deliveries (filtered by ?state=, paged with ?after=) and its actions.
func (h *Handler) distribution(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d, err := h.m.Distribution(ctx, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	v := reportView{row: h.newRow(ctx, d, newNames(h.m), h.now()), Report: d.Report,
		Filter: q.Get("state"), After: q.Get("after")}
	for _, s := range filters {
		v.Filters = append(v.Filters, string(s))
	}
	f := distribution.DeliveryFilter{DistributionID: d.ID, After: v.After, Limit: h.cfg.PageSize + 1}
	if v.Filter != "" {
		if !slices.Contains(v.Filters, v.Filter) {
			h.fail(w, r, fmt.Errorf("%w: state %q is not a delivery state", errBadRequest, v.Filter))
			return
		}
		f.States = []distribution.DeliveryState{distribution.DeliveryState(v.Filter)}
	}
	rep := d.Report
	v.States = chart([]bar{
		{Label: "sent", Count: rep.Sent, Class: "sent"},
		{Label: "skipped", Count: rep.Skipped, Class: "skipped"},
		{Label: "failed", Count: rep.Failed, Class: "failed"},
		{Label: "unknown", Count: rep.Unknown, Class: "unknown"},
		{Label: "canceled", Count: rep.Canceled, Class: "canceled"},
		{Label: "to process", Count: rep.ToProcess, Class: "pending"},
	})
	v.SkipReasons = reasonBars(rep.SkipReasons, "skipped")
	v.FailReasons = reasonBars(rep.FailReasons, "failed")
	v.CanRetry = rep.Failed > 0
	if v.Deliveries, v.Next, err = h.deliveries(ctx, f); err != nil {
		h.fail(w, r, err)
		return
	}
	p := page{Title: d.Name, Nav: navOf(d), Data: v}
	if d.Status == distribution.StatusScheduled || d.Status == distribution.StatusSending {
		p.Watch = d.ID
	}
	h.render(w, r, http.StatusOK, "distribution", p)
}

func navOf(d distribution.Distribution) string {
	if d.Mode == distribution.Automatic {
		return "automatic"
	}
	return "distributions"
}

// deliveries reads one page of deliveries (f.Limit is the page size plus
// one, to tell whether another page follows) and their customers' names.
func (h *Handler) deliveries(ctx context.Context, f distribution.DeliveryFilter) ([]deliveryRow, string, error) {
	var rows []deliveryRow
	names := map[string][2]string{}
	for dl, err := range h.m.Deliveries(ctx, f) {
		if err != nil {
			return nil, "", err
		}
		n, ok := names[dl.CustomerID]
		if !ok {
			n = [2]string{dl.CustomerID, ""}
			if c, err := h.m.Customer(ctx, dl.CustomerID); err == nil {
				n = [2]string{cmp.Or(c.Name, c.SourceID, c.ID), c.SourceID}
			}
			names[dl.CustomerID] = n
		}
		rows = append(rows, deliveryRow{Delivery: dl, Customer: n[0], SourceID: n[1]})
	}
	next := ""
	if len(rows) == f.Limit {
		rows = rows[:f.Limit-1]
		next = rows[len(rows)-1].ID
	}
	return rows, next, nil
}

// retry re-queues a distribution's failed deliveries.
func (h *Handler) retry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := h.m.RetryFailed(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, id, "retried&n="+strconv.Itoa(n))
}
