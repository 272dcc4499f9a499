package dashboard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// ErrNoAuthorizer is the reason (logged) for refusing every request of a
// Handler whose Config has neither Authorize nor InsecureLocalNoAuth.
var ErrNoAuthorizer = errors.New("dashboard: no Config.Authorize: every request is refused")

// ErrNotLocal is the reason (logged) for refusing a request that is not
// from and to a loopback address when Config.InsecureLocalNoAuth is set.
var ErrNotLocal = errors.New("dashboard: InsecureLocalNoAuth serves loopback requests only")

// contentSecurityPolicy allows the dashboard's own script, styles and
// JSON endpoint and nothing else: no inline script or style, no plugins,
// no framing, forms post only to the dashboard. Charts are inline SVG
// elements (not images), which the policy does not restrict.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// setSecurityHeaders sets the headers every response carries, refusals
// and assets included.
func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
}

// authorize applies Config.Authorize, or the loopback rule of
// InsecureLocalNoAuth, or refuses.
func (h *Handler) authorize(r *http.Request) error {
	switch {
	case h.cfg.Authorize != nil:
		if err := h.cfg.Authorize(r); err != nil {
			return fmt.Errorf("dashboard: Authorize refused the request: %w", err)
		}
		return nil
	case h.cfg.InsecureLocalNoAuth:
		return localOnly(r)
	default:
		return ErrNoAuthorizer
	}
}

// localOnly accepts a request from a loopback address that names a
// loopback host. Checking the Host too keeps out a page whose domain was
// re-pointed to 127.0.0.1 (DNS rebinding): its requests name its own host.
func localOnly(r *http.Request) error {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.IsLoopback() {
		return fmt.Errorf("%w: remote address %q", ErrNotLocal, r.RemoteAddr)
	}
	if !loopbackHost(r.Host) {
		return fmt.Errorf("%w: host %q", ErrNotLocal, r.Host)
	}
	return nil
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// base is the path the dashboard is mounted under ("" at the root, else
// "/admin/codes"): Config.Prefix, or what http.StripPrefix took off the
// request URI. Links and redirects start with it.
func (h *Handler) base(r *http.Request) string {
	if h.cfg.Prefix != "" {
		return h.cfg.Prefix
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return ""
	}
	full, rest := u.EscapedPath(), r.URL.EscapedPath()
	if rest == "" {
		rest = "/"
	}
	b, ok := strings.CutSuffix(full, rest)
	if !ok {
		// ServeHTTP added the leading "/" http.StripPrefix left out.
		if b, ok = strings.CutSuffix(full, strings.TrimPrefix(rest, "/")); !ok {
			return ""
		}
	}
	b = strings.TrimRight(b, "/")
	if b != "" && (!strings.HasPrefix(b, "/") || strings.HasPrefix(b, "//")) {
		return ""
	}
	return b
}
