package intercom

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Intercom's OAuth endpoints. Tokens do not expire and come without a
// refresh token.
const (
	AuthorizeURL = "https://app.intercom.com/oauth"
	TokenURL     = "https://api.intercom.io/auth/eagle/token"
)

// Errors of the OAuth callback, for OAuthConfig.OnError.
var (
	// ErrOAuthState: the callback's state is missing, forged, expired or
	// not bound to this browser (possible CSRF).
	ErrOAuthState = errors.New("intercom: oauth: invalid state")
	// ErrOAuthDenied: Intercom redirected back with an error parameter
	// (the user declined, or the app is misconfigured).
	ErrOAuthDenied = errors.New("intercom: oauth: authorization denied")
	// ErrOAuthExchange: exchanging the code for a token failed.
	ErrOAuthExchange = errors.New("intercom: oauth: code exchange failed")
)

// OAuthConfig configures an OAuth connect flow. Zero values are the
// documented defaults.
type OAuthConfig struct {
	// ClientID and ClientSecret are the app's OAuth credentials (Developer
	// Hub, Basic Information). Required.
	ClientID, ClientSecret string
	// RedirectURL is the callback URL; it must be registered in Developer
	// Hub. Empty lets Intercom use the first registered one.
	RedirectURL string
	// AuthURL and TokenURL override AuthorizeURL and TokenURL (for tests).
	AuthURL, TokenURL string
	// StateKey signs the state cookie (HMAC-SHA256). Replicas that share
	// callbacks must share it. Default: 32 random bytes per OAuth value.
	StateKey []byte
	// StateTTL is how long a started flow may take. Default 10 minutes.
	StateTTL time.Duration
	// CookieName names the state cookie. Default "intercom_oauth_state".
	CookieName string
	// CookiePath scopes the state cookie. Default "/".
	CookiePath string
	// HTTPClient sends the token request. Default http.DefaultClient.
	HTTPClient *http.Client
	// OnError writes the answer for a failed callback (err matches
	// ErrOAuthState, ErrOAuthDenied or ErrOAuthExchange). Default: a short
	// HTML error page (400, or 502 for a failed exchange).
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives callback failures (never tokens). Default: discard.
	Logger *slog.Logger
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// OAuth runs Intercom's OAuth connect flow: a start handler that sets a
// signed state cookie and redirects to Intercom's consent page, and a
// callback handler that checks the state against the cookie, exchanges the
// code and hands the token to the host. It is safe for concurrent use.
type OAuth struct {
	cfg    OAuthConfig
	oauth2 oauth2.Config
	log    *slog.Logger
}

// NewOAuth returns an OAuth for cfg.
func NewOAuth(cfg OAuthConfig) (*OAuth, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("intercom: OAuthConfig.ClientID and ClientSecret are required")
	}
	if cfg.AuthURL == "" {
		cfg.AuthURL = AuthorizeURL
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = TokenURL
	}
	if len(cfg.StateKey) == 0 {
		cfg.StateKey = make([]byte, 32)
		rand.Read(cfg.StateKey)
	} else if len(cfg.StateKey) < 16 {
		return nil, errors.New("intercom: OAuthConfig.StateKey must have at least 16 bytes")
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = 10 * time.Minute
	}
	if cfg.CookieName == "" {
		cfg.CookieName = "intercom_oauth_state"
	}
	if cfg.CookiePath == "" {
		cfg.CookiePath = "/"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &OAuth{cfg: cfg, log: log}
	o.oauth2 = oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		RedirectURL:  cfg.RedirectURL,
		Endpoint: oauth2.Endpoint{
			AuthURL:  cfg.AuthURL,
			TokenURL: cfg.TokenURL,
			// Intercom reads client_id and client_secret from the body.
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	return o, nil
}

// Config returns a copy of the oauth2.Config for Intercom.
func (o *OAuth) Config() *oauth2.Config {
	c := o.oauth2
	return &c
}

// AuthCodeURL returns the consent page URL carrying state.
func (o *OAuth) AuthCodeURL(state string) string { return o.oauth2.AuthCodeURL(state) }

// Exchange trades an authorization code for a token. The token does not
// expire (Expiry is zero) and has no refresh token.
func (o *OAuth) Exchange(ctx context.Context, code string) (*oauth2.Token, error) {
	if o.cfg.HTTPClient != nil {
		// x/oauth2 only takes its HTTP client from the context.
		ctx = context.WithValue(ctx, oauth2.HTTPClient, o.cfg.HTTPClient)
	}
	tok, err := o.oauth2.Exchange(ctx, code)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			// Keep the status and Intercom's error code; drop the body.
			return nil, fmt.Errorf("%w: status %d %s", ErrOAuthExchange, re.Response.StatusCode, re.ErrorCode)
		}
		return nil, fmt.Errorf("%w: %w", ErrOAuthExchange, err)
	}
	if tok.AccessToken == "" {
		if s, ok := tok.Extra("token").(string); ok {
			tok.AccessToken = s
		}
	}
	return tok, nil
}

// StartHandler starts the flow: it sets the state cookie and redirects the
// browser to Intercom's consent page.
func (o *OAuth) StartHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce := make([]byte, 24)
		rand.Read(nonce)
		state := base64.RawURLEncoding.EncodeToString(nonce)
		exp := o.cfg.Now().Add(o.cfg.StateTTL).Unix()
		http.SetCookie(w, &http.Cookie{
			Name:     o.cfg.CookieName,
			Value:    o.signState(state, exp),
			Path:     o.cfg.CookiePath,
			MaxAge:   int(o.cfg.StateTTL / time.Second),
			HttpOnly: true,
			Secure:   isHTTPS(r),
			SameSite: http.SameSiteLaxMode,
		})
		http.Redirect(w, r, o.AuthCodeURL(state), http.StatusFound)
	})
}

func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// signState returns the cookie value "state.expiry.mac".
func (o *OAuth) signState(state string, exp int64) string {
	payload := state + "." + strconv.FormatInt(exp, 10)
	return payload + "." + o.mac(payload)
}

func (o *OAuth) mac(payload string) string {
	m := hmac.New(sha256.New, o.cfg.StateKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkState verifies the callback's state against the browser's cookie.
func (o *OAuth) checkState(r *http.Request) error {
	got := r.URL.Query().Get("state")
	if got == "" {
		return fmt.Errorf("%w: the callback has no state", ErrOAuthState)
	}
	ck, err := r.Cookie(o.cfg.CookieName)
	if err != nil {
		return fmt.Errorf("%w: no state cookie (the flow was not started in this browser, or it expired)", ErrOAuthState)
	}
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: malformed state cookie", ErrOAuthState)
	}
	payload := parts[0] + "." + parts[1]
	if !hmac.Equal([]byte(parts[2]), []byte(o.mac(payload))) {
		return fmt.Errorf("%w: state cookie signature does not match", ErrOAuthState)
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || o.cfg.Now().Unix() > exp {
		return fmt.Errorf("%w: the flow expired; start again", ErrOAuthState)
	}
	if subtle.ConstantTimeCompare([]byte(parts[0]), []byte(got)) != 1 {
		return fmt.Errorf("%w: state does not match this browser's", ErrOAuthState)
	}
	return nil
}

// CallbackHandler finishes the flow. It clears the state cookie, then
// rejects a missing, forged or expired state, an error parameter from
// Intercom, or a failed exchange (with OnError's answer, no token); on
// success it calls onToken, which stores the token and writes the
// response.
func (o *OAuth) CallbackHandler(onToken func(w http.ResponseWriter, r *http.Request, tok *oauth2.Token)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: o.cfg.CookieName, Value: "", Path: o.cfg.CookiePath, MaxAge: -1,
			HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode})
		if err := o.checkState(r); err != nil {
			o.fail(w, r, err)
			return
		}
		q := r.URL.Query()
		if e := q.Get("error"); e != "" {
			o.fail(w, r, fmt.Errorf("%w: %s %s", ErrOAuthDenied, e, q.Get("error_description")))
			return
		}
		code := q.Get("code")
		if code == "" {
			o.fail(w, r, fmt.Errorf("%w: the callback has no code", ErrOAuthExchange))
			return
		}
		tok, err := o.Exchange(r.Context(), code)
		if err != nil {
			o.fail(w, r, err)
			return
		}
		onToken(w, r, tok)
	})
}

func (o *OAuth) fail(w http.ResponseWriter, r *http.Request, err error) {
	o.log.WarnContext(r.Context(), "intercom oauth: callback rejected", "err", err)
	if o.cfg.OnError != nil {
		o.cfg.OnError(w, r, err)
		return
	}
	status := http.StatusBadRequest
	if errors.Is(err, ErrOAuthExchange) {
		status = http.StatusBadGateway
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>Intercom connection failed</title><h1>Intercom connection failed</h1><p>%s</p>",
		html.EscapeString(err.Error()))
}
