package distribution

import (
	"fmt"
	"time"
)

// QuietAction says what happens to a send that falls in quiet hours.
type QuietAction string

// The quiet-hours actions.
const (
	// QuietDefer (the default) keeps the delivery scheduled until the
	// window ends in the customer's time zone (reason ReasonQuietHours).
	QuietDefer QuietAction = "defer"
	// QuietDrop skips the delivery (reason ReasonQuietHoursDropped).
	QuietDrop QuietAction = "drop"
)

// Reasons of quiet hours: a deferred delivery stays scheduled with
// ReasonQuietHours and NextAttemptAt at the window's end; a dropped one is
// skipped with ReasonQuietHoursDropped.
const (
	ReasonQuietHours        = "deferred: quiet hours"
	ReasonQuietHoursDropped = "quiet hours"
)

// QuietHours is a daily window, in each customer's local time, in which
// nothing is sent: Start "21:00" and End "08:00" cover the night (a window
// may wrap midnight). It is evaluated in the customer's IANA time zone
// (customer.Timezone), else in Location, by the wall clock, so it stays
// 21:00-08:00 local on the days daylight-saving time starts or ends. The
// zero value (Start and End empty) turns quiet hours off. Deliveries of a
// distribution with IgnoreQuietHours are sent at any hour.
type QuietHours struct {
	// Start and End are "HH:MM" (24-hour) local times; End is exclusive.
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
	// Action is QuietDefer (default) or QuietDrop.
	Action QuietAction `json:"action,omitempty"`
	// Location is the workspace's time zone, used for customers without a
	// (valid) one; default UTC.
	Location *time.Location `json:"-"`
}

// quiet is a parsed QuietHours.
type quiet struct {
	on         bool
	start, end int // minutes after local midnight
	drop       bool
	loc        *time.Location
}

func parseClock(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// compile checks q; it returns the invalid field and why, or "".
func (q QuietHours) compile() (quiet, string, string) {
	out := quiet{loc: q.Location}
	if out.loc == nil {
		out.loc = time.UTC
	}
	if q.Start == "" && q.End == "" {
		if q.Action != "" {
			return out, "QuietHours.Action", "set Start and End too"
		}
		return out, "", ""
	}
	var ok bool
	if out.start, ok = parseClock(q.Start); !ok {
		return out, "QuietHours.Start", fmt.Sprintf("%q is not HH:MM", q.Start)
	}
	if out.end, ok = parseClock(q.End); !ok {
		return out, "QuietHours.End", fmt.Sprintf("%q is not HH:MM", q.End)
	}
	if out.start == out.end {
		return out, "QuietHours.End", "equals Start (an empty or all-day window)"
	}
	switch q.Action {
	case "", QuietDefer:
	case QuietDrop:
		out.drop = true
	default:
		return out, "QuietHours.Action", fmt.Sprintf("%q is not defer or drop", q.Action)
	}
	out.on = true
	return out, "", ""
}

// location returns the customer's zone, or the default.
func (q *quiet) location(tz string, cache func(string) *time.Location) *time.Location {
	if tz != "" {
		if l := cache(tz); l != nil {
			return l
		}
	}
	return q.loc
}

// until reports whether t falls in the window in loc and, if so, when the
// window ends (the next End by the local wall clock).
func (q *quiet) until(t time.Time, loc *time.Location) (time.Time, bool) {
	if !q.on {
		return time.Time{}, false
	}
	lt := t.In(loc)
	min := lt.Hour()*60 + lt.Minute()
	var in bool
	if q.start < q.end {
		in = min >= q.start && min < q.end
	} else {
		in = min >= q.start || min < q.end
	}
	if !in {
		return time.Time{}, false
	}
	y, mo, d := lt.Date()
	if min >= q.end { // the window ends tomorrow
		d++
	}
	end := time.Date(y, mo, d, q.end/60, q.end%60, 0, 0, loc)
	if !end.After(t) { // End fell into a DST gap and moved back; never defer into the past
		end = t.Add(time.Minute)
	}
	return end, true
}
