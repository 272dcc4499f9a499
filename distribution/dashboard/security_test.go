package dashboard_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/dashboard"
)

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	for _, tc := range []struct {
		name string
		cfg  dashboard.Config
		want string
	}{
		{"both authorizations", dashboard.Config{Authorize: allowAll, InsecureLocalNoAuth: true}, "Authorize and InsecureLocalNoAuth"},
		{"prefix without slash", dashboard.Config{Authorize: allowAll, Prefix: "admin"}, "Prefix"},
		{"prefix with trailing slash", dashboard.Config{Authorize: allowAll, Prefix: "/admin/"}, "Prefix"},
		{"negative page size", dashboard.Config{Authorize: allowAll, PageSize: -1}, "PageSize"},
		{"negative poll", dashboard.Config{Authorize: allowAll, PollInterval: -1}, "PollInterval"},
		{"bad origin", dashboard.Config{Authorize: allowAll, TrustedOrigins: []string{"not a url"}}, "TrustedOrigins[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dashboard.New(f.m, tc.cfg)
			if !errors.Is(err, dashboard.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want ErrInvalidConfig naming %s", err, tc.want)
			}
		})
	}
	if _, err := dashboard.New(nil, dashboard.Config{Authorize: allowAll}); !errors.Is(err, dashboard.ErrInvalidConfig) {
		t.Errorf("New(nil) = %v, want ErrInvalidConfig", err)
	}
}

// TestAuthorization: without an authorizer everything is refused, an
// authorizer's error refuses, its nil allows; the loopback-only mode
// admits loopback requests to a loopback host only.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	errNope := errors.New("not an admin")
	var seen []string
	for _, tc := range []struct {
		name       string
		cfg        dashboard.Config
		remote     string
		host       string
		wantStatus int
	}{
		{"no authorizer", dashboard.Config{}, "127.0.0.1:5000", "localhost", http.StatusForbidden},
		{"authorizer refuses", dashboard.Config{Authorize: func(r *http.Request) error {
			seen = append(seen, r.URL.Path)
			return errNope
		}}, "127.0.0.1:5000", "localhost", http.StatusForbidden},
		{"authorizer allows", dashboard.Config{Authorize: allowAll}, "192.0.2.1:5000", "admin.example.com", http.StatusOK},
		{"local: loopback", dashboard.Config{InsecureLocalNoAuth: true}, "127.0.0.1:5000", "127.0.0.1:8080", http.StatusOK},
		{"local: localhost", dashboard.Config{InsecureLocalNoAuth: true}, "[::1]:5000", "localhost:8080", http.StatusOK},
		{"local: ipv6 host", dashboard.Config{InsecureLocalNoAuth: true}, "[::1]:5000", "[::1]:8080", http.StatusOK},
		{"local: remote client", dashboard.Config{InsecureLocalNoAuth: true}, "192.0.2.1:5000", "localhost:8080", http.StatusForbidden},
		{"local: rebound host", dashboard.Config{InsecureLocalNoAuth: true}, "127.0.0.1:5000", "evil.example:8080", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := dashboard.New(f.m, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, target := range []string{"/", "/distributions/" + f.finished.ID, "/static/dashboard.js", "/api/live", "/usage"} {
				r := httptest.NewRequest(http.MethodGet, target, nil)
				r.RemoteAddr, r.Host = tc.remote, tc.host
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tc.wantStatus {
					t.Errorf("GET %s: status %d, want %d", target, w.Code, tc.wantStatus)
				}
				if w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), f.finished.Name) {
					t.Errorf("GET %s: a refusal shows data", target)
				}
			}
			// A refused action changes nothing.
			if tc.wantStatus == http.StatusForbidden {
				r := httptest.NewRequest(http.MethodPost, "/distributions/"+f.scheduled.ID+"/cancel", nil)
				r.RemoteAddr, r.Host = tc.remote, tc.host
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusForbidden {
					t.Errorf("POST cancel: status %d, want 403", w.Code)
				}
				if d := f.get(f.scheduled.ID); d.Status != distribution.StatusScheduled {
					t.Errorf("after a refused cancel: status %s", d.Status)
				}
			}
		})
	}
	if len(seen) == 0 {
		t.Error("the authorizer was never called")
	}
}

// TestCrossOriginRefused posts every action as a browser on another site
// would: each is refused with 403 before it runs.
func TestCrossOriginRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	if _, err := f.m.Activate(f.ctx, f.auto.ID); err != nil {
		t.Fatal(err)
	}
	before := map[string]distribution.Distribution{}
	for _, d := range []distribution.Distribution{f.scheduled, f.finished, f.auto} {
		before[d.ID] = f.get(d.ID)
	}
	actions := []struct{ path string }{
		{"/distributions/" + f.scheduled.ID + "/cancel"},
		{"/distributions/" + f.scheduled.ID + "/edit"},
		{"/distributions/" + f.finished.ID + "/retry"},
		{"/distributions/" + f.auto.ID + "/activate"},
		{"/distributions/" + f.auto.ID + "/pause"},
	}
	form := url.Values{"name": {"Hijacked"}, "revision": {"1"}, "channels": {"2"}}
	for _, a := range actions {
		for _, hdr := range [][]string{
			{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
			{"Sec-Fetch-Site", "same-site", "Origin", "https://evil.example.com"},
			{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}, // an older browser: Origin against Host
		} {
			w := f.do(http.MethodPost, a.path, form, hdr...)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "cross-origin") {
				t.Errorf("POST %s with %v: status %d %q, want 403 cross-origin", a.path, hdr, w.Code, w.Body.String())
			}
		}
		// A GET never acts.
		if w := f.do(http.MethodGet, a.path, nil); a.path[len(a.path)-5:] != "/edit" && w.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: status %d, want 405", a.path, w.Code)
		}
	}
	for id, want := range before {
		got := f.get(id)
		if got.Status != want.Status || got.Name != want.Name || got.Revision != want.Revision {
			t.Errorf("%s changed by refused requests: %s %q rev %d, was %s %q rev %d", id, got.Status, got.Name, got.Revision, want.Status, want.Name, want.Revision)
		}
	}
	if n := f.sent(); n != 5 {
		t.Errorf("Intercom received %d messages, want the finished distribution's 5", n)
	}
	// A same-origin post works, so the refusals above were about the origin.
	if w := f.do(http.MethodPost, "/distributions/"+f.auto.ID+"/pause", nil); w.Code != http.StatusSeeOther {
		t.Errorf("same-origin pause: status %d", w.Code)
	}
}

func TestTrustedOrigin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{TrustedOrigins: []string{"https://admin.example.com"}})
	w := f.do(http.MethodPost, "/distributions/"+f.scheduled.ID+"/cancel", nil, "Sec-Fetch-Site", "cross-site", "Origin", "https://admin.example.com")
	if w.Code != http.StatusSeeOther {
		t.Errorf("status %d, want 303", w.Code)
	}
}

// TestSecurityHeaders: every response, refusals and assets included,
// carries the CSP and the anti-sniffing and anti-framing headers.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	denied, err := dashboard.New(f.m, dashboard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
		path string
	}{
		{"page", f.h, "/"},
		{"report", f.h, "/distributions/" + f.finished.ID},
		{"script", f.h, "/static/dashboard.js"},
		{"json", f.h, "/api/live"},
		{"not found", f.h, "/nope"},
		{"refused", denied, "/"},
	} {
		w := serve(tc.h, http.MethodGet, tc.path, nil)
		hd := w.Result().Header
		csp := hd.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", tc.name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q allows inline code", tc.name, csp)
		}
		if hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", tc.name, hd)
		}
	}
	if ct := serve(f.h, http.MethodGet, "/static/dashboard.js", nil).Result().Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("script Content-Type %q", ct)
	}
}

// TestNoInlineScript: the pages load their script from a file (the CSP
// would block inline script anyway) and use no inline event handlers or
// style attributes.
func TestNoInlineScript(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	for _, path := range []string{"/", "/automatic", "/usage", "/distributions/" + f.finished.ID, "/distributions/" + f.scheduled.ID + "/edit"} {
		body := f.do(http.MethodGet, path, nil).Body.String()
		if strings.Count(body, "<script") != 1 || !strings.Contains(body, `<script src="/static/dashboard.js?v=`) {
			t.Errorf("%s: want exactly the one external script", path)
		}
		for _, bad := range []string{" onclick=", " onload=", " style=", "javascript:"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
	}
}
