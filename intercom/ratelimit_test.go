package intercom_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/intercom"
)

// recordingLimiter is a RateLimiter that grants every call and records
// what the client tells it.
type recordingLimiter struct {
	mu       sync.Mutex
	waits    []string // the CallLabel of each Wait
	observed []intercom.RateLimitStatus
}

func (l *recordingLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits = append(l.waits, intercom.CallLabel(ctx))
	return ctx.Err()
}

func (l *recordingLimiter) Observe(_ context.Context, s intercom.RateLimitStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.observed = append(l.observed, s)
}

// TestConfigRateLimiter: a Config.RateLimiter replaces the in-process
// limiter: every call that is not paced waits on it (with the caller's
// label), and it hears every answer's rate-limit headers, 429s included.
func TestConfigRateLimiter(t *testing.T) {
	t.Parallel()
	lim := &recordingLimiter{}
	c, mt, fc := mockClient(t, func(c *intercom.Config) {
		c.RateLimiter = lim
		c.RateLimit = intercom.RateLimit{PerMinute: -1} // not used (and not checked) with a RateLimiter
	})
	now := fc.Now()
	reset := now.Add(4 * time.Second)
	calls := 0
	mt.RegisterResponder("GET", mockBase+"/admins", func(*http.Request) (*http.Response, error) {
		if calls++; calls == 1 {
			return jsonResp(429, `{"type":"error.list","errors":[{"code":"rate_limit_exceeded"}]}`,
				"X-RateLimit-Limit", "300", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10)), nil
		}
		return jsonResp(200, `{"type":"admin.list","admins":[]}`, "X-RateLimit-Limit", "300", "X-RateLimit-Remaining", "299"), nil
	})
	mt.RegisterResponder("POST", mockBase+"/messages", func(*http.Request) (*http.Response, error) {
		return jsonResp(429, `{"type":"error.list","errors":[{"code":"rate_limit_exceeded"}]}`, "Retry-After", "2"), nil
	})

	ctx := intercom.WithCallLabel(context.Background(), "dst_1")
	if _, err := c.Admins(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(intercom.WithCallLabel(context.Background(), "dst_2")); err != nil {
		t.Fatal(err)
	}
	msg := inApp()
	msg.Paced = true
	_, err := c.SendMessage(context.Background(), msg)
	var ie *intercom.Error
	if !errors.As(err, &ie) || !errors.Is(err, intercom.ErrRateLimited) {
		t.Fatalf("paced send: err = %v, want a 429", err)
	}

	lim.mu.Lock()
	defer lim.mu.Unlock()
	// The 429 is waited out (4s) and the call taken again; Wait; the paced
	// send takes nothing.
	if want := []string{"dst_1", "dst_1", "dst_2"}; !cmp.Equal(lim.waits, want) {
		t.Errorf("waits = %q, want %q", lim.waits, want)
	}
	after := now.Add(4 * time.Second)
	want := []intercom.RateLimitStatus{
		{At: now, Limit: 300, Remaining: 0, Reset: reset, Refused: true},
		{At: after, Limit: 300, Remaining: 299},
		{At: after, Remaining: -1, Reset: after.Add(2 * time.Second), Refused: true}, // from Retry-After
	}
	if diff := cmp.Diff(want, lim.observed); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
	if !ie.RateLimitReset.Equal(after.Add(2 * time.Second)) {
		t.Errorf("RateLimitReset = %v, want %v", ie.RateLimitReset, after.Add(2*time.Second))
	}
}

func TestCallLabel(t *testing.T) {
	t.Parallel()
	if got := intercom.CallLabel(context.Background()); got != "" {
		t.Errorf("CallLabel of a bare context = %q, want empty", got)
	}
	ctx := intercom.WithCallLabel(context.Background(), "a")
	if got := intercom.CallLabel(intercom.WithCallLabel(ctx, "b")); got != "b" {
		t.Errorf("CallLabel = %q, want the innermost, b", got)
	}
}
