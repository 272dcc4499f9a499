package intercom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
)

// Base URLs of Intercom's regional API hosts. A workspace's region is
// reported by Me (App.Region).
const (
	USBaseURL = "https://api.intercom.io"
	EUBaseURL = "https://api.eu.intercom.io"
	AUBaseURL = "https://api.au.intercom.io"
)

// DefaultVersion is the Intercom-Version header sent when Config.Version is
// empty: the API version this package is written and tested against.
const DefaultVersion = "2.16"

// DefaultUserAgent is the User-Agent sent when Config.UserAgent is empty.
const DefaultUserAgent = "codedrop-intercom/1 (+https://github.com/codedrop/codedrop)"

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 16 << 20

// Config configures a Client. Zero values are the documented defaults.
type Config struct {
	// Token is an access token (a private app's token or an OAuth token).
	// Exactly one of Token and TokenSource must be set.
	Token string
	// TokenSource supplies tokens per request; it is wrapped in
	// oauth2.ReuseTokenSource. Intercom tokens do not expire, so a static
	// source is usual.
	TokenSource oauth2.TokenSource
	// BaseURL is the API host: USBaseURL (default), EUBaseURL, AUBaseURL or
	// a test server's URL.
	BaseURL string
	// HTTPClient sends the requests. Default: a client with a 30-second
	// timeout over http.DefaultTransport.
	HTTPClient *http.Client
	// Version is the Intercom-Version header. Default DefaultVersion.
	Version string
	// UserAgent is the User-Agent header. Default DefaultUserAgent.
	UserAgent string
	// Logger receives retry and rate-limit notices (never tokens).
	// Default: discard.
	Logger *slog.Logger
	// RateLimit shapes the client-side limiter. The zero value is
	// Intercom's default app limit. It is not used with RateLimiter.
	RateLimit RateLimit
	// RateLimiter is the budget every call is taken from. Default: an
	// in-process limiter shaped by RateLimit. Replicas of a host that
	// share one Intercom app share one budget (store/postgres.Budget).
	RateLimiter RateLimiter
	// MaxRetries bounds the retries of one call (after a 429, or a 5xx or
	// network error on a request that is safe to repeat). Default 3;
	// negative means no retries.
	MaxRetries int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() in the
	// latter case. Default: a timer. Tests inject a fake to avoid waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// MeterProvider provides the client's metrics (see the package
	// documentation); default: the global provider (otel.GetMeterProvider).
	MeterProvider metric.MeterProvider
	// TracerProvider provides a client span per HTTP request; default: the
	// global provider (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
}

// RateLimit shapes the client-side limiter. Intercom allows 10,000 calls a
// minute per app, spread evenly over 10-second windows; the limiter paces
// calls at PerMinute/60 a second with bursts of a tenth of a window's
// share. Independently of it, the client reads Intercom's X-RateLimit-*
// headers: with no calls left it pauses until X-RateLimit-Reset, with less
// than a tenth left it spreads them until the reset.
type RateLimit struct {
	// PerMinute is the number of calls allowed a minute. Default 10,000.
	PerMinute int
	// Window is the length of Intercom's accounting window. Default 10s.
	Window time.Duration
	// Disabled turns the client-side limiter off (the header-driven pause
	// and the 429 handling stay).
	Disabled bool
}

// Client calls Intercom's REST API. It is safe for concurrent use.
type Client struct {
	base       string
	http       *http.Client
	auth       string // "Bearer <token>" for a static token
	ts         oauth2.TokenSource
	version    string
	userAgent  string
	log        *slog.Logger
	limiter    RateLimiter
	maxRetries int
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
	tel        *telemetry // spans and metrics (telemetry.go)
}

var _ Messenger = (*Client)(nil)

// NewClient returns a Client for cfg, or an error naming the bad field.
func NewClient(cfg Config) (*Client, error) {
	switch {
	case cfg.Token == "" && cfg.TokenSource == nil:
		return nil, errors.New("intercom: Config.Token or Config.TokenSource is required")
	case cfg.Token != "" && cfg.TokenSource != nil:
		return nil, errors.New("intercom: set only one of Config.Token and Config.TokenSource")
	case strings.ContainsAny(cfg.Token, " \r\n\t"):
		return nil, errors.New("intercom: Config.Token contains white space")
	}
	base := cfg.BaseURL
	if base == "" {
		base = USBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("intercom: Config.BaseURL %q is not an absolute http(s) URL without a query", base)
	}
	c := &Client{
		base:       strings.TrimSuffix(base, "/"),
		http:       cfg.HTTPClient,
		version:    cfg.Version,
		userAgent:  cfg.UserAgent,
		log:        cfg.Logger,
		maxRetries: cfg.MaxRetries,
		now:        cfg.Now,
		sleep:      cfg.Sleep,
	}
	if cfg.Token != "" {
		c.auth = "Bearer " + cfg.Token
	} else {
		c.ts = oauth2.ReuseTokenSource(nil, cfg.TokenSource)
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.version == "" {
		c.version = DefaultVersion
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.tel = newTelemetry(&cfg, u, c.log)
	switch {
	case c.maxRetries == 0:
		c.maxRetries = 3
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.limiter = cfg.RateLimiter; c.limiter == nil {
		l, err := newLocalLimiter(cfg.RateLimit, c.now, c.sleep, c.log)
		if err != nil {
			return nil, err
		}
		c.limiter = l
	}
	return c, nil
}

// BaseURL returns the API host the client talks to.
func (c *Client) BaseURL() string { return c.base }

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// request is one API call.
type request struct {
	method string
	path   string // escaped path, without the query
	query  url.Values
	body   []byte // JSON, nil for none
	// replayable: repeating the request after it may have reached
	// Intercom is harmless (reads, searches, idempotent writes).
	replayable bool
	// paced: the caller took this call from the rate limit (Client.Wait):
	// the first attempt does not wait, and a 429 is returned, not retried.
	paced bool
}

func newRequest(method, path string, body any) (*request, error) {
	r := &request{method: method, path: path, replayable: method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("intercom: %s %s: encoding body: %w", method, path, err)
		}
		r.body = b
	}
	return r, nil
}

// do sends r, retrying as its class allows, and decodes a 2xx body into
// out (when out is not nil).
func (c *Client) do(ctx context.Context, r *request, out any) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("intercom: %s %s: %w", r.method, r.path, err)
		}
		if attempt > 0 || !r.paced {
			if err := c.observedWait(ctx); err != nil {
				return fmt.Errorf("intercom: %s %s: waiting for the rate limiter: %w", r.method, r.path, err)
			}
		}
		body, status, hdr, err := c.tracedRoundTrip(ctx, r, attempt)
		if err != nil {
			if errors.Is(err, errToken) {
				return err
			}
			sent := mayHaveBeenSent(err)
			if sent && !r.replayable {
				return ambiguous(r.method, r.path, err)
			}
			if ctx.Err() != nil || attempt >= c.maxRetries {
				return fmt.Errorf("intercom: %s %s: %w", r.method, r.path, err)
			}
			if serr := c.sleep(ctx, c.backoff(attempt)); serr != nil {
				return fmt.Errorf("intercom: %s %s: %w (retry abandoned: %w)", r.method, r.path, err, serr)
			}
			c.log.DebugContext(ctx, "intercom: retrying after a network error", "method", r.method, "path", r.path, "attempt", attempt+1, "err", err)
			continue
		}
		if status < 300 {
			if out == nil || len(body) == 0 {
				return nil
			}
			if err := json.Unmarshal(body, out); err != nil {
				err = fmt.Errorf("decoding a %d response: %w", status, err)
				if !r.replayable {
					// Intercom performed the write, but its answer is unreadable.
					return ambiguous(r.method, r.path, err)
				}
				return fmt.Errorf("intercom: %s %s: %w", r.method, r.path, err)
			}
			return nil
		}
		apiErr := newError(r.method, r.path, status, hdr, body, c.now())
		switch {
		case status == http.StatusTooManyRequests:
			// Intercom refused the call without performing it: safe to
			// repeat (the limiter heard of it in roundTrip).
			if attempt >= c.maxRetries || r.paced {
				return apiErr
			}
			wait := c.backoff(attempt)
			if until := apiErr.RateLimitReset.Sub(c.now()); !apiErr.RateLimitReset.IsZero() && until > 0 {
				wait = min(until, time.Minute)
			}
			c.log.DebugContext(ctx, "intercom: rate limited; waiting", "method", r.method, "path", r.path, "wait", wait)
			if serr := c.sleep(ctx, wait); serr != nil {
				return fmt.Errorf("%w (retry abandoned: %w)", apiErr, serr)
			}
		case status >= 500:
			if !r.replayable {
				return ambiguous(r.method, r.path, apiErr)
			}
			if attempt >= c.maxRetries {
				return apiErr
			}
			if serr := c.sleep(ctx, c.backoff(attempt)); serr != nil {
				return fmt.Errorf("%w (retry abandoned: %w)", apiErr, serr)
			}
			c.log.DebugContext(ctx, "intercom: retrying after a server error", "method", r.method, "path", r.path, "status", status, "attempt", attempt+1)
		default:
			return apiErr
		}
	}
}

var errToken = errors.New("intercom: getting a token")

// roundTrip performs one HTTP exchange and reads the whole body.
func (c *Client) roundTrip(ctx context.Context, r *request) ([]byte, int, http.Header, error) {
	auth := c.auth
	if c.ts != nil {
		tok, err := c.ts.Token()
		if err != nil {
			return nil, 0, nil, fmt.Errorf("%w: %w", errToken, err)
		}
		auth = "Bearer " + tok.AccessToken
	}
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
	if err != nil {
		return nil, 0, nil, errNotSent{err}
	}
	h := req.Header
	h["Authorization"] = []string{auth}
	h["Accept"] = acceptJSON
	h["Intercom-Version"] = []string{c.version}
	h["User-Agent"] = []string{c.userAgent}
	if r.body != nil {
		h["Content-Type"] = acceptJSON
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, nil, redact(err)
	}
	defer resp.Body.Close()
	c.limiter.Observe(ctx, rateLimitStatus(resp.StatusCode, resp.Header, c.now()))
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, 0, nil, err
	}
	return body, resp.StatusCode, resp.Header, nil
}

var acceptJSON = []string{"application/json"}

// redact strips the URL from a *url.Error (it is ours, but a caller-supplied
// base URL could carry user info).
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errNotSent marks an error that happened before any byte left the client.
type errNotSent struct{ err error }

func (e errNotSent) Error() string { return e.err.Error() }
func (e errNotSent) Unwrap() error { return e.err }

// mayHaveBeenSent reports whether a transport error leaves open whether the
// request reached Intercom. Only failures to connect prove it did not.
func mayHaveBeenSent(err error) bool {
	var ns errNotSent
	if errors.As(err, &ns) {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return false
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return false
	}
	return true
}

// backoff returns the pause before retry attempt+1: exponential from 200ms,
// capped at 10s, with full jitter in its upper half.
func (c *Client) backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt, 6)
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

// Wait blocks until the client's rate limit (Config.RateLimiter, or the
// in-process limiter and any pause Intercom's headers asked for) allows
// one more call, and takes that call from the budget. A caller that must know when its request can actually
// be in flight (a delivery ledger that records "sending" right before the
// call) waits here first, then sends with Message.Paced set, so the call
// is not counted twice. It returns ctx's error if ctx ends first.
func (c *Client) Wait(ctx context.Context) error {
	if err := c.observedWait(ctx); err != nil {
		return fmt.Errorf("intercom: waiting for the rate limiter: %w", err)
	}
	return nil
}

// wait blocks until the rate limiter allows a call.
func (c *Client) wait(ctx context.Context) error { return c.limiter.Wait(ctx) }

// newError builds the *Error for a failed response.
func newError(method, path string, status int, h http.Header, body []byte, now time.Time) *Error {
	e := &Error{StatusCode: status, Method: method, Path: path}
	var list struct {
		Type      string        `json:"type"`
		RequestID *string       `json:"request_id"`
		Errors    []ErrorDetail `json:"errors"`
	}
	if json.Unmarshal(body, &list) == nil {
		e.Errors = list.Errors
		if list.RequestID != nil {
			e.RequestID = *list.RequestID
		}
	}
	if e.RequestID == "" {
		e.RequestID = h.Get("X-Request-Id")
	}
	if status == http.StatusTooManyRequests {
		if t, ok := parseReset(h); ok {
			e.RateLimitReset = t
		} else if ra, err := strconv.Atoi(h.Get("Retry-After")); err == nil && ra >= 0 {
			e.RateLimitReset = now.Add(time.Duration(ra) * time.Second).Truncate(time.Second)
		}
	}
	if status == http.StatusGone || e.HasCode("contact_merged") {
		e.CanonicalContactID = canonicalContact(h.Values("Link"))
	}
	return e
}

// canonicalContact extracts the contact id from a Link header such as
// `</contacts/6543>; rel="canonical"`.
func canonicalContact(links []string) string {
	for _, l := range links {
		for part := range strings.SplitSeq(l, ",") {
			part = strings.TrimSpace(part)
			if !strings.Contains(part, `rel="canonical"`) && !strings.Contains(part, "rel=canonical") {
				continue
			}
			lt, gt := strings.IndexByte(part, '<'), strings.IndexByte(part, '>')
			if lt < 0 || gt < lt {
				continue
			}
			target := part[lt+1 : gt]
			if u, err := url.Parse(target); err == nil {
				target = u.Path
			}
			if i := strings.LastIndexByte(target, '/'); i >= 0 {
				target = target[i+1:]
			}
			if target != "" {
				return target
			}
		}
	}
	return ""
}

// String describes cfg with the token redacted, so that printing a Config
// never shows the secret.
func (cfg Config) String() string {
	tok := "<none>"
	switch {
	case cfg.Token != "":
		tok = "<redacted>"
	case cfg.TokenSource != nil:
		tok = "<token source>"
	}
	base := cfg.BaseURL
	if base == "" {
		base = USBaseURL
	}
	return fmt.Sprintf("intercom.Config{Token: %s, BaseURL: %s, Version: %q}", tok, base, cfg.Version)
}

// LogValue implements slog.LogValuer with the token redacted.
func (cfg Config) LogValue() slog.Value { return slog.StringValue(cfg.String()) }

// GoString is String, so that %#v does not show the token either.
func (cfg Config) GoString() string { return cfg.String() }
