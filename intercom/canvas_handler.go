package intercom

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// CanvasSignatureHeader carries the signature of every Canvas Kit request:
// the hex HMAC-SHA256 of the raw body keyed with the app's client secret.
const CanvasSignatureHeader = "X-Body-Signature"

// DefaultCanvasMaxBody is CanvasHandlerConfig.MaxBodyBytes's default.
const DefaultCanvasMaxBody = 1 << 20

// SignCanvas returns the X-Body-Signature value of body: the lowercase hex
// HMAC-SHA256 of the raw bytes keyed with secret (for tests, and for
// intercomtest, which signs like Intercom).
func SignCanvas(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifyCanvasSignature reports whether sig (an X-Body-Signature value,
// hex in either case) is the HMAC-SHA256 of body under secret. The
// comparison takes constant time; an empty secret never verifies.
func VerifyCanvasSignature(secret string, body []byte, sig string) bool {
	if secret == "" || len(sig) != sha256.Size*2 {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// CanvasFunc answers one verified, parsed Canvas Kit request. An error
// answers 500 (Intercom shows its generic failure); an app that wants
// the teammate to read what went wrong returns a canvas saying so.
type CanvasFunc func(ctx context.Context, req *CanvasRequest) (*CanvasResponse, error)

// CanvasHandlerConfig configures a CanvasHandler.
type CanvasHandlerConfig struct {
	// Secret is the app's OAuth client secret, the key of
	// X-Body-Signature. Required.
	Secret string
	// MaxBodyBytes bounds the request body; a larger one is refused with
	// 413 before its signature is checked. Default DefaultCanvasMaxBody
	// (1 MiB: the conversation model can be large).
	MaxBodyBytes int64
	// Logger receives refused requests and app errors. Default: discard.
	Logger *slog.Logger
}

// CanvasHandler is an http.Handler for one Canvas Kit URL (initialize,
// submit, ...). For each POST it reads the body (bounded), checks
// X-Body-Signature in constant time before anything else (missing or
// bad: 401, and the CanvasFunc is never called), parses the request
// (malformed: 400), calls the CanvasFunc and writes its response after
// validating it against Canvas Kit's rules (an invalid response is a bug
// of the app: 500, logged). It is safe for concurrent use.
type CanvasHandler struct {
	cfg CanvasHandlerConfig
	fn  CanvasFunc
	log *slog.Logger
}

// NewCanvasHandler returns a handler calling fn for verified requests.
func NewCanvasHandler(cfg CanvasHandlerConfig, fn CanvasFunc) (*CanvasHandler, error) {
	if cfg.Secret == "" {
		return nil, errors.New("intercom: CanvasHandlerConfig.Secret is required (the app's client secret)")
	}
	if fn == nil {
		return nil, errors.New("intercom: NewCanvasHandler: nil CanvasFunc")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultCanvasMaxBody
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &CanvasHandler{cfg: cfg, fn: fn, log: log}, nil
}

// ServeHTTP implements http.Handler.
func (h *CanvasHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.log.WarnContext(r.Context(), "intercom canvas: body too large", "limit", h.cfg.MaxBodyBytes, "path", r.URL.Path)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if !VerifyCanvasSignature(h.cfg.Secret, body, r.Header.Get(CanvasSignatureHeader)) {
		h.log.WarnContext(r.Context(), "intercom canvas: missing or bad signature", "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	req, err := ParseCanvasRequest(body)
	if err != nil {
		h.log.WarnContext(r.Context(), "intercom canvas: bad request", "path", r.URL.Path, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := h.fn(r.Context(), req)
	if err == nil && resp == nil {
		err = errors.New("nil response")
	}
	if err == nil {
		err = resp.Validate()
	}
	var out []byte
	if err == nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err = enc.Encode(resp); err == nil {
			out = buf.Bytes()
		}
	}
	if err != nil {
		h.log.ErrorContext(r.Context(), "intercom canvas: app failed", "path", r.URL.Path, "component", req.ComponentID, "err", err)
		http.Error(w, "canvas app failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}
