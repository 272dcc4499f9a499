package intercom_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// noWait is a Config.Sleep that returns at once (but honours ctx).
func noWait(ctx context.Context, d time.Duration) error { return ctx.Err() }

func fastClient(t *testing.T, srv *intercomtest.Server) *intercom.Client {
	t.Helper()
	cfg := srv.Config()
	cfg.Sleep = noWait
	c, err := intercom.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFaults(t *testing.T) {
	t.Parallel()
	send := func(ctx context.Context, c *intercom.Client, srv *intercomtest.Server) error {
		_, err := c.SendMessage(ctx, intercom.Message{Type: intercom.InApp, Body: "code", FromAdminID: srv.AdminID(), To: intercom.Recipient{Role: intercom.RoleUser, ID: ann.ID}})
		return err
	}
	// pacedSend waits for the rate limit first (Client.Wait), as a
	// delivery ledger does, then sends with Paced.
	pacedSend := func(ctx context.Context, c *intercom.Client, srv *intercomtest.Server) error {
		if err := c.Wait(ctx); err != nil {
			return err
		}
		_, err := c.SendMessage(ctx, intercom.Message{Type: intercom.InApp, Body: "code", FromAdminID: srv.AdminID(),
			To: intercom.Recipient{Role: intercom.RoleUser, ID: ann.ID}, Paced: true})
		return err
	}
	get := func(ctx context.Context, c *intercom.Client, _ *intercomtest.Server) error {
		_, err := c.GetContact(ctx, ann.ID)
		return err
	}
	tests := []struct {
		name      string
		fault     intercomtest.Fault
		call      func(context.Context, *intercom.Client, *intercomtest.Server) error
		deadline  bool // the call's deadline passes once the server holds the request
		wantErr   []error
		wantMsgs  int
		wantCalls int64
	}{
		{"send: connection dropped before handling", intercomtest.Fault{Path: "/messages", Drop: true}, send, false, []error{intercom.ErrAmbiguous}, 0, 1},
		{"send: connection dropped after handling", intercomtest.Fault{Path: "/messages", Drop: true, AfterHandling: true}, send, false, []error{intercom.ErrAmbiguous}, 1, 1},
		{"send: 503 after handling", intercomtest.Fault{Path: "/messages", Status: 503, AfterHandling: true}, send, false, []error{intercom.ErrAmbiguous}, 1, 1},
		{"send: timeout waiting for the answer", intercomtest.Fault{Path: "/messages", Latency: time.Hour}, send, true, []error{intercom.ErrAmbiguous, context.DeadlineExceeded}, 0, 1},
		{"send: 429 burst is waited out", intercomtest.Fault{Path: "/messages", Status: 429, Times: 2}, send, false, nil, 1, 3},
		{"send: 429 beyond retries", intercomtest.Fault{Path: "/messages", Status: 429, Times: 10}, send, false, []error{intercom.ErrRateLimited}, 0, 4},
		{"paced send: 429 returned at once", intercomtest.Fault{Path: "/messages", Status: 429}, pacedSend, false, []error{intercom.ErrRateLimited}, 0, 1},
		{"get: 5xx retried", intercomtest.Fault{Path: "/contacts/", Status: 502, Times: 2}, get, false, nil, 0, 3},
		{"get: dropped connection retried", intercomtest.Fault{Path: "/contacts/", Drop: true}, get, false, nil, 0, 2},
		{"get: 5xx beyond retries", intercomtest.Fault{Path: "/contacts/", Status: 500, Times: 10}, get, false, nil, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t)
			c := fastClient(t, srv)
			srv.Inject(tt.fault)
			var ctx context.Context = context.Background()
			returned := make(chan struct{})
			if tt.deadline {
				// Not a real-time timeout: under load it could pass before
				// the request is even sent.
				dctx := &expiringCtx{Context: ctx, done: make(chan struct{})}
				go func() {
					defer close(dctx.done)
					for srv.Stats().Requests == 0 {
						select {
						case <-returned:
							return
						case <-time.After(time.Millisecond):
						}
					}
				}()
				ctx = dctx
			}
			err := tt.call(ctx, c, srv)
			close(returned)
			if tt.name == "get: 5xx beyond retries" {
				var apiErr *intercom.Error
				if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || errors.Is(err, intercom.ErrAmbiguous) {
					t.Errorf("err = %v, want a 500 *Error, not ambiguous", err)
				}
			} else if len(tt.wantErr) == 0 && err != nil {
				t.Errorf("err = %v, want success", err)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to match %v", err, want)
				}
			}
			if got := srv.MessageCount(); got != tt.wantMsgs {
				t.Errorf("server recorded %d messages, want %d", got, tt.wantMsgs)
			}
			if got := srv.Stats().Requests; got != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

// expiringCtx is a context whose deadline passes when done is closed.
type expiringCtx struct {
	context.Context
	done chan struct{}
}

func (c *expiringCtx) Done() <-chan struct{} { return c.done }

func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// handlerTransport serves requests in-process, so a synctest bubble holds
// the client, the server handler and their clocks.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// TestRateLimitBurst sends a burst against a server enforcing 10 calls per
// 10-second window, in virtual time.
func TestRateLimitBurst(t *testing.T) {
	t.Parallel()
	const n = 40
	tests := []struct {
		name        string
		clientLimit bool
		max429      int64
	}{
		// The client-side limiter paces the burst: at most a couple of 429s.
		{"client limiter", true, 2},
		// Without it, Intercom's 429s and X-RateLimit-Reset do the pacing:
		// bounded by the retries.
		{"server limit only", false, n * 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := intercomtest.NewServer(intercomtest.Contacts(ann), intercomtest.RateLimit(10, 10*time.Second))
			defer srv.Close()
			synctest.Test(t, func(t *testing.T) {
				cfg := srv.Config()
				cfg.HTTPClient = &http.Client{Transport: handlerTransport{srv.Handler()}}
				if !tt.clientLimit {
					cfg.RateLimit = intercom.RateLimit{Disabled: true}
				}
				c, err := intercom.NewClient(cfg)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				var wg sync.WaitGroup
				errs := make([]error, n)
				for i := range n {
					wg.Go(func() {
						_, errs[i] = c.SendMessage(context.Background(), intercom.Message{Type: intercom.InApp, Body: "x", FromAdminID: srv.AdminID(), To: intercom.Recipient{ID: ann.ID}})
					})
				}
				wg.Wait()
				ok := 0
				for i, err := range errs {
					switch {
					case err == nil:
						ok++
					case errors.Is(err, intercom.ErrRateLimited):
					default:
						t.Errorf("send %d: unexpected error %v", i, err)
					}
				}
				if got := srv.MessageCount(); got != ok {
					t.Errorf("server recorded %d messages, %d sends succeeded", got, ok)
				}
				if tt.clientLimit && ok != n {
					t.Errorf("%d of %d sends succeeded, want all", ok, n)
				}
				if got := srv.Stats().RateLimited; got > tt.max429 {
					t.Errorf("server answered %d 429s, want at most %d", got, tt.max429)
				}
				t.Logf("%d/%d sent, %d 429s, %v virtual time", ok, n, srv.Stats().RateLimited, time.Since(start))
			})
		})
	}
}

// A paced send does not take a second call from the rate limit: with a
// budget of one call a minute, Wait takes it and SendMessage goes out at
// once (waiting again would block for a minute).
func TestPacedSendDoesNotWaitTwice(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t)
	cfg := srv.Config()
	cfg.RateLimit = intercom.RateLimit{PerMinute: 1}
	c, err := intercom.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, intercom.Message{Type: intercom.InApp, Body: "code", FromAdminID: srv.AdminID(),
		To: intercom.Recipient{Role: intercom.RoleUser, ID: ann.ID}, Paced: true}); err != nil {
		t.Fatalf("paced send = %v, want sent without waiting", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := c.Wait(short); err == nil {
		t.Error("a second Wait got a call the budget does not have")
	}
}
