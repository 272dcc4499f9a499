package intercomtest_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// TestRateLimitWindows: the enforced limit counts fixed windows shifted by
// the phase; X-RateLimit-Reset names the window's end rounded up or
// truncated to the second; Windows tells what each window served.
func TestRateLimitWindows(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_800_000_000, 0)
	type call struct {
		at        time.Duration // after base
		status    int
		remaining string
		reset     int64 // after base.Unix()
	}
	tests := []struct {
		name  string
		opts  []intercomtest.Option
		calls []call
		want  []intercomtest.Window
	}{
		{"aligned", nil, []call{
			{0, 200, "1", 10}, {9 * time.Second, 200, "0", 10}, {9500 * time.Millisecond, 429, "0", 10},
			{10 * time.Second, 200, "1", 20},
		}, []intercomtest.Window{{Start: base, Calls: 2, Refused: 1}, {Start: base.Add(10 * time.Second), Calls: 1}}},
		{"phase, rounded up", []intercomtest.Option{intercomtest.RateLimitPhase(600 * time.Millisecond)}, []call{
			{0, 200, "1", 1}, // the window [-9.4s, 0.6s) resets at 0.6s: header 1
			{time.Second, 200, "1", 11},
			{10 * time.Second, 200, "0", 11},
			{10500 * time.Millisecond, 429, "0", 11},
			{10600 * time.Millisecond, 200, "1", 21},
		}, []intercomtest.Window{
			{Start: base.Add(-9400 * time.Millisecond), Calls: 1},
			{Start: base.Add(600 * time.Millisecond), Calls: 2, Refused: 1},
			{Start: base.Add(10600 * time.Millisecond), Calls: 1},
		}},
		{"phase, truncated", []intercomtest.Option{intercomtest.RateLimitPhase(600 * time.Millisecond), intercomtest.RateLimitReset(intercomtest.ResetTruncate)}, []call{
			{time.Second, 200, "1", 10},
			{10 * time.Second, 200, "0", 10},
			{10500 * time.Millisecond, 429, "0", 10}, // the header's second has passed, the window has not
			{10600 * time.Millisecond, 200, "1", 20},
		}, []intercomtest.Window{
			{Start: base.Add(600 * time.Millisecond), Calls: 2, Refused: 1},
			{Start: base.Add(10600 * time.Millisecond), Calls: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			now := base
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			srv := intercomtest.NewServer(append(tt.opts, intercomtest.RateLimit(2, 10*time.Second), intercomtest.Clock(clock))...)
			defer srv.Close()
			hc := srv.HTTPClient()
			for i, c := range tt.calls {
				mu.Lock()
				now = base.Add(c.at)
				mu.Unlock()
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admins", nil)
				req.Header.Set("Authorization", "Bearer "+srv.Token())
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := call{c.at, resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"), 0}
				if r, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
					got.reset = r - base.Unix()
				}
				if got != c {
					t.Errorf("call %d at %v: got %+v, want %+v", i, c.at, got, c)
				}
			}
			if diff := cmp.Diff(tt.want, srv.Windows()); diff != "" {
				t.Errorf("Windows (-want +got):\n%s", diff)
			}
			if st := srv.Stats(); st.RateLimited != 1 {
				t.Errorf("Stats().RateLimited = %d, want 1", st.RateLimited)
			}
		})
	}
}
