package dashboard

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/codedrop/codedrop/distribution"
)

// Defaults of Config's zero values.
const (
	// DefaultPageSize is how many deliveries a page of the report lists.
	DefaultPageSize = 50
	// DefaultPollInterval is how often the pages' script asks for fresh
	// statuses and countdowns.
	DefaultPollInterval = 5 * time.Second
)

// ErrInvalidConfig is returned by New for a Config it cannot serve; the
// message names the field.
var ErrInvalidConfig = errors.New("dashboard: invalid config")

// Config configures a Handler. Every zero value is a documented default,
// except that some way to authorize requests must be chosen: with neither
// Authorize nor InsecureLocalNoAuth the Handler refuses every request.
type Config struct {
	// Authorize decides whether a request may see the dashboard and act
	// on it: nil error allows it, any error refuses it with 403 Forbidden
	// (the error is logged, never shown). It is called for every request,
	// assets included, before anything else is read. It is a function of
	// the request and not a bool so that the reason for a refusal reaches
	// the log. Hosts that authenticate in middleware wrapped around the
	// Handler check here what that middleware put in the request (a
	// user, a role), so the dashboard never depends on being wrapped.
	Authorize func(*http.Request) error
	// InsecureLocalNoAuth serves the dashboard without Authorize, to
	// loopback clients only: a request is refused unless it comes from a
	// loopback address (127.0.0.0/8, ::1) and names a loopback host
	// (localhost, 127.0.0.1, [::1]; this keeps DNS-rebinding pages out).
	// It is meant for examples and a developer's machine: behind a reverse
	// proxy on the same machine every request looks local, so never set it
	// there. Setting it together with Authorize is an error.
	InsecureLocalNoAuth bool

	// Prefix is the path the host mounts the Handler under without
	// stripping it, such as "/admin/codes": the Handler strips it and
	// writes its links under it, and answers 404 outside it. Leave it
	// empty when the host strips the prefix itself (http.StripPrefix): the
	// Handler then finds the prefix by comparing the request URI with the
	// stripped path. It must start with "/" and not end with one.
	Prefix string
	// TrustedOrigins are extra origins ("https://admin.example.com") whose
	// browsers may post actions, for a host whose pages are served under
	// another origin than the one in the Host header (a proxy that
	// rewrites Host). Default: same origin only.
	TrustedOrigins []string

	// Now tells the time the countdowns are computed from; pass the Now
	// of the Manager's Config.Clock. Default: time.Now.
	Now func() time.Time
	// Location is the time zone times are shown in; default UTC.
	Location *time.Location
	// Logger receives refusals and internal errors; default: discarded.
	Logger *slog.Logger
	// PageSize is how many deliveries a page lists; default
	// DefaultPageSize. Negative is invalid.
	PageSize int
	// PollInterval is how often the pages' script refreshes statuses and
	// countdowns; default DefaultPollInterval. Negative is invalid.
	PollInterval time.Duration
}

// Handler serves the dashboard. Create it with New; it is an
// http.Handler safe for concurrent use.
type Handler struct {
	m      *distribution.Manager
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	loc    *time.Location
	mux    *http.ServeMux
	inner  http.Handler // mux behind cross-origin protection
	pages  map[string]*template.Template
	assets assets
}

// New returns the dashboard of m. It fails with ErrInvalidConfig when the
// Config is contradictory or malformed; a Config that chooses no way to
// authorize is valid and gives a Handler that refuses every request.
func New(m *distribution.Manager, cfg Config) (*Handler, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: the Manager is nil", ErrInvalidConfig)
	}
	if cfg.Authorize != nil && cfg.InsecureLocalNoAuth {
		return nil, fmt.Errorf("%w: Authorize and InsecureLocalNoAuth are both set; set one", ErrInvalidConfig)
	}
	if cfg.Prefix != "" && (!strings.HasPrefix(cfg.Prefix, "/") || strings.HasPrefix(cfg.Prefix, "//") || strings.HasSuffix(cfg.Prefix, "/")) {
		return nil, fmt.Errorf("%w: Prefix %q must start with one \"/\" and not end with one", ErrInvalidConfig, cfg.Prefix)
	}
	if cfg.PageSize < 0 {
		return nil, fmt.Errorf("%w: PageSize %d is negative", ErrInvalidConfig, cfg.PageSize)
	}
	if cfg.PollInterval < 0 {
		return nil, fmt.Errorf("%w: PollInterval %v is negative", ErrInvalidConfig, cfg.PollInterval)
	}
	h := &Handler{m: m, cfg: cfg, log: cfg.Logger, now: cfg.Now, loc: cfg.Location}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.loc == nil {
		h.loc = time.UTC
	}
	if h.cfg.PageSize == 0 {
		h.cfg.PageSize = DefaultPageSize
	}
	if h.cfg.PollInterval == 0 {
		h.cfg.PollInterval = DefaultPollInterval
	}
	cop := http.NewCrossOriginProtection()
	for i, o := range cfg.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("%w: TrustedOrigins[%d]: %w", ErrInvalidConfig, i, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(h.crossOrigin))
	var err error
	if h.pages, err = parsePages(h.funcs()); err != nil {
		return nil, err
	}
	if h.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	h.routes()
	h.inner = cop.Handler(h.mux)
	if cfg.Authorize == nil && !cfg.InsecureLocalNoAuth {
		h.log.Warn("dashboard: Config.Authorize is not set: every request is refused")
	}
	return h, nil
}

// routes registers the pages and actions. Every state-changing route is
// POST; the mux answers 405 to any other method.
func (h *Handler) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.distributions)
	mux.HandleFunc("GET /distributions/{id}", h.distribution)
	mux.HandleFunc("GET /distributions/{id}/edit", h.editForm)
	mux.HandleFunc("POST /distributions/{id}/edit", h.edit)
	mux.HandleFunc("POST /distributions/{id}/cancel", h.cancel)
	mux.HandleFunc("POST /distributions/{id}/retry", h.retry)
	mux.HandleFunc("POST /distributions/{id}/activate", h.activate)
	mux.HandleFunc("POST /distributions/{id}/pause", h.pause)
	mux.HandleFunc("GET /automatic", h.automatic)
	mux.HandleFunc("GET /segments", h.segments)
	mux.HandleFunc("GET /usage", h.usage)
	mux.HandleFunc("GET /api/live", h.live)
	mux.HandleFunc("GET /api/segments", h.liveSegments)
	mux.HandleFunc("GET /static/{file}", h.static)
	h.mux = mux
}

// ServeHTTP sets the security headers, authorizes the request, checks
// that an action comes from the dashboard's own origin and serves it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if err := h.authorize(r); err != nil {
		h.log.WarnContext(r.Context(), "dashboard: request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		http.Error(w, "dashboard: forbidden", http.StatusForbidden)
		return
	}
	if h.cfg.Prefix != "" {
		rest, ok := strings.CutPrefix(r.URL.Path, h.cfg.Prefix)
		if !ok || rest != "" && rest[0] != '/' {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			http.Redirect(w, r, h.cfg.Prefix+"/", http.StatusMovedPermanently)
			return
		}
		r = withPath(r, rest)
	} else if !strings.HasPrefix(r.URL.Path, "/") {
		// http.StripPrefix("/admin/", ...) leaves "distributions/x".
		r = withPath(r, "/"+r.URL.Path)
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	h.inner.ServeHTTP(w, r)
}

// withPath returns a shallow copy of r with another URL path (the
// request URI stays, for base to compare).
func withPath(r *http.Request, path string) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = path, ""
	r2.URL = &u
	return r2
}

// maxBody bounds a posted form (the largest is the edit form's message
// bodies).
const maxBody = 1 << 20

// crossOrigin answers an action posted from another origin.
func (h *Handler) crossOrigin(w http.ResponseWriter, r *http.Request) {
	h.log.WarnContext(r.Context(), "dashboard: cross-origin request refused", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	http.Error(w, "dashboard: cross-origin request refused", http.StatusForbidden)
}
