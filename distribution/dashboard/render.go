package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/codedrop/codedrop/distribution"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is what every template gets: the layout's fields and the page's
// own data in Data.
type page struct {
	Base         string
	Title        string
	Nav          string // the menu entry to highlight
	Flash        string // the outcome of the last action
	Error        string // why an action was refused
	AssetVersion string
	PollMS       int64
	// Watch is the id of the distribution whose status change reloads
	// the page (the report of a scheduled or sending distribution).
	Watch string
	Data  any
}

// parsePages parses each page template with the layout.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", base, err)
		}
		pages[base[:len(base)-len(".html")]] = t
	}
	return pages, nil
}

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"when": h.formatTime,
		"mmss": mmss,
	}
}

func (h *Handler) formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(h.loc).Format("2006-01-02 15:04:05 MST")
}

// mmss formats a countdown as minutes and seconds, rounding up so it
// reads 00:00 only when the time has come.
func mmss(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(math.Ceil(d.Seconds()))
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// render writes a page. It renders into a buffer first so a template
// error becomes a clean 500, never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Base = h.base(r)
	p.AssetVersion = h.assets.version
	p.PollMS = h.cfg.PollInterval.Milliseconds()
	if p.Flash == "" {
		p.Flash = flashText(r)
	}
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.ErrorContext(r.Context(), "dashboard: rendering a page", "page", name, "err", err)
		http.Error(w, "dashboard: internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError writes the error page with msg.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", page{Title: http.StatusText(status), Error: msg})
}

// fail answers a failed read or a refused action: the library's message
// for the errors a person can act on, a generic one (and a log line) for
// the rest.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := h.classify(r, err)
	h.renderError(w, r, status, msg)
}

// classify maps an error to a status code and the message shown.
func (h *Handler) classify(r *http.Request, err error) (int, string) {
	switch {
	case errors.Is(err, distribution.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, distribution.ErrWindowClosed), errors.Is(err, distribution.ErrConflict):
		return http.StatusConflict, err.Error()
	case errors.Is(err, distribution.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest, err.Error()
	}
	h.log.ErrorContext(r.Context(), "dashboard: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "Internal error; the host's log has the details."
}

// errBadRequest marks malformed query or form values.
var errBadRequest = errors.New("dashboard: bad request")

// The outcomes an action redirects with (?done=...), shown as fixed text
// so a link cannot make the dashboard say anything else.
var flashes = map[string]string{
	"canceled":  "Canceled: nothing will be sent.",
	"saved":     "Saved.",
	"retried":   "Failed deliveries re-queued: ",
	"activated": "Activated.",
	"paused":    "Paused.",
}

func flashText(r *http.Request) string {
	q := r.URL.Query()
	text, ok := flashes[q.Get("done")]
	if !ok {
		return ""
	}
	if q.Get("done") == "retried" {
		n, _ := strconv.Atoi(q.Get("n"))
		text += strconv.Itoa(n) + "."
	}
	return text
}

// assets are the embedded static files and a version that changes with
// their content (appended to their URLs so browsers refetch them).
type assets struct {
	files   map[string][]byte
	version string
}

func loadAssets() (assets, error) {
	a := assets{files: map[string][]byte{}}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		return a, err
	}
	sum := sha256.New()
	for _, e := range entries {
		b, err := fs.ReadFile(staticFS, "static/"+e.Name())
		if err != nil {
			return a, err
		}
		a.files[e.Name()] = b
		sum.Write(b)
	}
	a.version = hex.EncodeToString(sum.Sum(nil)[:6])
	return a, nil
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

// static serves an embedded asset.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, ok := h.assets.files[name]
	ct, known := contentTypes[path.Ext(name)]
	if !ok || !known {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "private, max-age=86400")
	w.Write(b)
}
