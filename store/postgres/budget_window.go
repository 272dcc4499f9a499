package postgres

import "time"

// The arithmetic of a shared rate budget, apart from the database: which
// window a time falls in, and what one grant does to the budget's row.
//
// Intercom counts calls in fixed windows (10 seconds) and names the end
// of the current one in X-RateLimit-Reset, in whole seconds. The budget's
// windows start at phase past each multiple of the window length (Unix
// time), the phase learned from that header. As the header is truncated
// or rounded to the second, Intercom's real boundary may lie up to a
// second either side of ours: calls are given out only from Margin after
// a window's start to Margin before its end, so every call of one of our
// windows falls in one window of Intercom's.

// windowAt returns the start of the window of length w (starting at phase
// past each multiple of w) that holds t.
func windowAt(t time.Time, w, phase time.Duration) time.Time {
	ns := t.UnixNano() - int64(phase)
	k := ns / int64(w)
	if ns%int64(w) < 0 {
		k--
	}
	return time.Unix(0, k*int64(w)+int64(phase))
}

// phaseOf returns the phase of windows of length w that end at end.
func phaseOf(end time.Time, w time.Duration) time.Duration {
	p := end.UnixNano() % int64(w)
	if p < 0 {
		p += int64(w)
	}
	return time.Duration(p)
}

// budgetRow is a budget's row of rate_budgets.
type budgetRow struct {
	windowStart time.Time
	used, lim   int
	phase       time.Duration
	phaseKnown  bool
	pausedUntil time.Time
}

// feedback is what Intercom's answers told a replica, for the database.
type feedback struct {
	// phase is the windows' phase learned from X-RateLimit-Reset.
	phase    time.Duration
	phaseSet bool
	// limit is X-RateLimit-Limit (0: not heard).
	limit int
	// used is how many calls Intercom counted in the window ending at end
	// (X-RateLimit-Limit less X-RateLimit-Remaining; a refusal counts the
	// whole limit).
	end  time.Time
	used int
	// pausedUntil: no calls before it (a 429's reset and the margin).
	pausedUntil time.Time
}

// empty reports whether f says nothing.
func (f *feedback) empty() bool {
	return !f.phaseSet && f.limit == 0 && f.end.IsZero() && f.pausedUntil.IsZero()
}

// merge adds what g says to f (a feedback that could not be written,
// back with what was heard meanwhile).
func (f *feedback) merge(g feedback) {
	if g.phaseSet && !f.phaseSet {
		f.phase, f.phaseSet = g.phase, true
	}
	if f.limit == 0 {
		f.limit = g.limit
	}
	switch {
	case g.end.After(f.end):
		f.end, f.used = g.end, g.used
	case g.end.Equal(f.end):
		f.used = max(f.used, g.used)
	}
	if g.pausedUntil.After(f.pausedUntil) {
		f.pausedUntil = g.pausedUntil
	}
}

// budgetRules are a budget's settings the grant arithmetic needs.
type budgetRules struct {
	window, margin time.Duration
	limit          int // the configured calls per window
}

// grant is the outcome of one grant.
type grant struct {
	n           int       // calls given out
	windowStart time.Time // of the window they belong to
	from, until time.Time // when they may be made
	retryAt     time.Time // with n == 0: when to ask again
	rolled      bool      // the window changed
	row         budgetRow // the row as it is now
}

// grant applies fb to row and gives out up to want calls at now.
func (r budgetRules) grant(row budgetRow, now time.Time, want int, fb feedback) grant {
	g := grant{}
	phaseChanged := false
	if fb.phaseSet && (!row.phaseKnown || row.phase != fb.phase) {
		row.phase, row.phaseKnown, phaseChanged = fb.phase, true, true
	}
	if fb.limit > 0 {
		row.lim = min(r.limit, fb.limit)
	}
	if row.lim <= 0 {
		row.lim = r.limit
	}
	switch cur := windowAt(now, r.window, row.phase); {
	case phaseChanged:
		// The window holding now by the new phase, earlier or later than
		// the row's: what the row's window gave out may count in it.
		if !cur.Before(row.windowStart.Add(r.window)) || !row.windowStart.Before(cur.Add(r.window)) {
			row.used = 0
		}
		g.rolled = !cur.Equal(row.windowStart)
		row.windowStart = cur
	case cur.After(row.windowStart):
		row.windowStart, row.used, g.rolled = cur, 0, true
	} // else another replica's clock is ahead: keep its window
	end := row.windowStart.Add(r.window)
	if fb.end.Equal(end) {
		row.used = max(row.used, fb.used)
	}
	if fb.pausedUntil.After(row.pausedUntil) {
		row.pausedUntil = fb.pausedUntil
	}
	g.windowStart = row.windowStart
	g.from, g.until = row.windowStart.Add(r.margin), end.Add(-r.margin)
	next := end.Add(r.margin)
	switch {
	case now.Before(row.pausedUntil):
		g.retryAt = row.pausedUntil
	case now.Before(g.from):
		g.retryAt = g.from
	case !now.Before(g.until), row.used >= row.lim:
		g.retryAt = next
	default:
		g.n = min(want, row.lim-row.used)
		row.used += g.n
	}
	if g.n == 0 && row.pausedUntil.After(g.retryAt) {
		g.retryAt = row.pausedUntil
	}
	g.row = row
	return g
}
