package postgres

import (
	"testing"
	"time"
)

func TestJobAtRoundsUp(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ in, want time.Time }{
		{base, base},
		{base.Add(time.Microsecond), base.Add(time.Microsecond)},
		{base.Add(1), base.Add(time.Microsecond)},
		{base.Add(999), base.Add(time.Microsecond)},
		{base.Add(1001), base.Add(2 * time.Microsecond)},
	} {
		if got := jobAt(tc.in); !got.Equal(tc.want) {
			t.Errorf("jobAt(+%v) = +%v, want +%v", tc.in.Sub(base), got.Sub(base), tc.want.Sub(base))
		}
	}
}
