package postgres

import (
	"testing"
	"time"
)

func TestWindowAt(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_800_000_000, 0) // a multiple of 10s
	tests := []struct {
		at    time.Duration // after base
		phase time.Duration
		want  time.Duration // after base
	}{
		{0, 0, 0},
		{9999 * time.Millisecond, 0, 0},
		{10 * time.Second, 0, 10 * time.Second},
		{-time.Nanosecond, 0, -10 * time.Second},
		{2 * time.Second, 3 * time.Second, -7 * time.Second},
		{3 * time.Second, 3 * time.Second, 3 * time.Second},
		{12 * time.Second, 3 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		if got := windowAt(base.Add(tt.at), 10*time.Second, tt.phase); !got.Equal(base.Add(tt.want)) {
			t.Errorf("windowAt(base%+v, phase %v) = base%+v, want base%+v", tt.at, tt.phase, got.Sub(base), tt.want)
		}
	}
	if p := phaseOf(base.Add(23*time.Second), 10*time.Second); p != 3*time.Second {
		t.Errorf("phaseOf = %v, want 3s", p)
	}
}

// TestBudgetRulesGrant: what one grant does to the budget's row.
func TestBudgetRulesGrant(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	r := budgetRules{window: 10 * time.Second, margin: time.Second, limit: 10}
	sec := time.Second
	tests := []struct {
		name    string
		row     budgetRow
		now     time.Duration
		want    int
		fb      feedback
		n       int
		retryAt time.Duration // with n == 0
		used    int
		start   time.Duration
	}{
		{"within the window", budgetRow{windowStart: base, lim: 10, used: 4}, 2 * sec, 3, feedback{}, 3, 0, 7, 0},
		{"what is left", budgetRow{windowStart: base, lim: 10, used: 8}, 2 * sec, 5, feedback{}, 2, 0, 10, 0},
		{"used up: the next window after the margin", budgetRow{windowStart: base, lim: 10, used: 10}, 2 * sec, 1, feedback{}, 0, 11 * sec, 10, 0},
		{"margin after the start", budgetRow{windowStart: base, lim: 10}, 500 * time.Millisecond, 1, feedback{}, 0, sec, 0, 0},
		{"margin before the end", budgetRow{windowStart: base, lim: 10}, 9500 * time.Millisecond, 1, feedback{}, 0, 11 * sec, 0, 0},
		{"a new window starts afresh", budgetRow{windowStart: base, lim: 10, used: 10}, 12 * sec, 4, feedback{}, 4, 0, 4, 10 * sec},
		{"paused by a 429", budgetRow{windowStart: base, lim: 10, pausedUntil: at(14 * sec)}, 12 * sec, 1, feedback{}, 0, 14 * sec, 0, 10 * sec},
		{"Intercom counted more", budgetRow{windowStart: base, lim: 10, used: 2}, 2 * sec, 10,
			feedback{end: at(10 * sec), used: 9}, 1, 0, 10, 0},
		{"Intercom's count of another window", budgetRow{windowStart: base, lim: 10, used: 2}, 2 * sec, 1,
			feedback{end: at(0), used: 9}, 1, 0, 3, 0},
		{"a refusal closes the window until its reset", budgetRow{windowStart: base, lim: 10, used: 2}, 2 * sec, 1,
			feedback{end: at(10 * sec), used: 10, pausedUntil: at(11 * sec)}, 0, 11 * sec, 10, 0},
		{"a lower limit", budgetRow{windowStart: base, lim: 10, used: 5}, 2 * sec, 5, feedback{limit: 6}, 1, 0, 6, 0},
		{"a higher limit stays at the configured one", budgetRow{windowStart: base, lim: 6, used: 6}, 2 * sec, 5, feedback{limit: 50}, 4, 0, 10, 0},
		{"a phase learned mid-window keeps what was given out", budgetRow{windowStart: base, lim: 10, used: 7}, 5 * sec, 5,
			feedback{phase: 3 * sec, phaseSet: true}, 3, 0, 10, 3 * sec},
		{"a phase learned early in the window: the window before by the new phase", budgetRow{windowStart: base, lim: 10, used: 7}, 2 * sec, 5,
			feedback{phase: 3 * sec, phaseSet: true}, 0, 4 * sec, 7, -7 * sec},
		{"a phase learned after the window starts afresh", budgetRow{windowStart: base, lim: 10, used: 7}, 14 * sec, 5,
			feedback{phase: 3 * sec, phaseSet: true}, 5, 0, 5, 13 * sec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := r.grant(tt.row, at(tt.now), tt.want, tt.fb)
			if g.n != tt.n || g.row.used != tt.used || !g.windowStart.Equal(at(tt.start)) {
				t.Errorf("grant = %d in window base%+v, used %d; want %d in base%+v, used %d", g.n, g.windowStart.Sub(base), g.row.used, tt.n, tt.start, tt.used)
			}
			if tt.n == 0 && !g.retryAt.Equal(at(tt.retryAt)) {
				t.Errorf("retry at base%+v, want base%+v", g.retryAt.Sub(base), tt.retryAt)
			}
			if tt.n > 0 && (!g.from.Equal(g.windowStart.Add(sec)) || !g.until.Equal(g.windowStart.Add(9*sec))) {
				t.Errorf("usable from base%+v until base%+v, want the window less a second at each end", g.from.Sub(base), g.until.Sub(base))
			}
		})
	}
}
