package intercom_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

type oauthHost struct {
	srv    *intercomtest.Server
	app    *httptest.Server
	mu     sync.Mutex
	tokens []*oauth2.Token
	now    time.Time
}

// newOAuthHost mounts the start and callback handlers on a host app that
// talks to intercomtest's OAuth endpoints.
func newOAuthHost(t *testing.T, secret string) *oauthHost {
	t.Helper()
	h := &oauthHost{now: time.Now()}
	h.srv = intercomtest.NewServer()
	t.Cleanup(h.srv.Close)
	mux := http.NewServeMux()
	h.app = httptest.NewServer(mux)
	t.Cleanup(h.app.Close)
	o, err := intercom.NewOAuth(intercom.OAuthConfig{
		ClientID:     intercomtest.DefaultClientID,
		ClientSecret: secret,
		RedirectURL:  h.app.URL + "/callback",
		AuthURL:      h.srv.URL + "/oauth",
		TokenURL:     h.srv.URL + "/auth/eagle/token",
		Now:          func() time.Time { h.mu.Lock(); defer h.mu.Unlock(); return h.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/connect", o.StartHandler())
	mux.Handle("/callback", o.CallbackHandler(func(w http.ResponseWriter, r *http.Request, tok *oauth2.Token) {
		h.mu.Lock()
		h.tokens = append(h.tokens, tok)
		h.mu.Unlock()
		io.WriteString(w, "connected")
	}))
	return h
}

func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOAuthFlow(t *testing.T) {
	t.Parallel()
	h := newOAuthHost(t, intercomtest.DefaultClientSecret)
	status, body := get(t, browser(t), h.app.URL+"/connect")
	if status != 200 || body != "connected" {
		t.Fatalf("flow ended with %d %q", status, body)
	}
	if len(h.tokens) != 1 {
		t.Fatalf("host got %d tokens, want 1", len(h.tokens))
	}
	tok := h.tokens[0]
	if tok.AccessToken == "" || tok.RefreshToken != "" || !tok.Expiry.IsZero() {
		t.Errorf("token = %+v, want an access token that does not expire, no refresh token", tok)
	}
	cfg := h.srv.Config()
	cfg.Token = tok.AccessToken
	c, err := intercom.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if me, err := c.Me(context.Background()); err != nil || me.App.Name != intercomtest.DefaultWorkspace {
		t.Errorf("Me with the new token = %+v, %v", me, err)
	}
}

func TestOAuthRejections(t *testing.T) {
	t.Parallel()
	// started runs the start handler in a browser without following the
	// redirect, and returns the browser and the state Intercom would get.
	started := func(t *testing.T, h *oauthHost) (*http.Client, string) {
		b := browser(t)
		b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := b.Get(h.app.URL + "/connect")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("start: %d %v", resp.StatusCode, err)
		}
		if loc.Query().Get("client_id") != intercomtest.DefaultClientID || loc.Query().Get("redirect_uri") != h.app.URL+"/callback" {
			t.Errorf("consent URL %s lacks client_id or redirect_uri", loc)
		}
		return b, loc.Query().Get("state")
	}
	tests := []struct {
		name     string
		secret   string
		run      func(t *testing.T, h *oauthHost) (int, string)
		wantCode int
		wantText string
	}{
		{"forged state", intercomtest.DefaultClientSecret, func(t *testing.T, h *oauthHost) (int, string) {
			b, _ := started(t, h)
			return get(t, b, h.app.URL+"/callback?code=code-1&state=forged")
		}, 400, "state does not match"},
		{"missing state", intercomtest.DefaultClientSecret, func(t *testing.T, h *oauthHost) (int, string) {
			b, _ := started(t, h)
			return get(t, b, h.app.URL+"/callback?code=code-1")
		}, 400, "no state"},
		{"state from another browser", intercomtest.DefaultClientSecret, func(t *testing.T, h *oauthHost) (int, string) {
			_, state := started(t, h)
			return get(t, browser(t), h.app.URL+"/callback?code=code-1&state="+state)
		}, 400, "no state cookie"},
		{"expired flow", intercomtest.DefaultClientSecret, func(t *testing.T, h *oauthHost) (int, string) {
			b, state := started(t, h)
			h.mu.Lock()
			h.now = h.now.Add(time.Hour)
			h.mu.Unlock()
			return get(t, b, h.app.URL+"/callback?code=code-1&state="+state)
		}, 400, "expired"},
		{"user declined", intercomtest.DefaultClientSecret, func(t *testing.T, h *oauthHost) (int, string) {
			h.srv.DenyOAuth(true)
			return get(t, browser(t), h.app.URL+"/connect")
		}, 400, "access_denied"},
		{"failed exchange", "wrong-secret", func(t *testing.T, h *oauthHost) (int, string) {
			return get(t, browser(t), h.app.URL+"/connect")
		}, 502, "code exchange failed"},
		{"unknown code", intercomtest.DefaultClientSecret, func(t *testing.T, h *oauthHost) (int, string) {
			b, state := started(t, h)
			return get(t, b, h.app.URL+"/callback?code=made-up&state="+state)
		}, 502, "code exchange failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newOAuthHost(t, tt.secret)
			code, body := tt.run(t, h)
			if code != tt.wantCode || !strings.Contains(body, tt.wantText) {
				t.Errorf("callback = %d %q, want %d containing %q", code, body, tt.wantCode, tt.wantText)
			}
			if strings.Contains(body, "wrong-secret") {
				t.Errorf("error page leaks the client secret: %q", body)
			}
			if len(h.tokens) != 0 {
				t.Errorf("host got a token: %v", h.tokens)
			}
		})
	}
}
