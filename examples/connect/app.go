package main

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"

	"golang.org/x/oauth2"

	"github.com/codedrop/codedrop/intercom"
)

// appConfig configures the host app.
type appConfig struct {
	// PublicURL is where the browser reaches this app ("http://127.0.0.1:8080").
	PublicURL string
	// ClientID and ClientSecret are the Intercom app's OAuth credentials.
	ClientID, ClientSecret string
	// AuthURL and TokenURL override Intercom's OAuth endpoints (intercomtest).
	AuthURL, TokenURL string
	// APIBaseURL is the Intercom API host for GET /me (default US).
	APIBaseURL string
	// HTTPClient calls Intercom (token exchange and API).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// app is a host web app with a "Connect Intercom" button. A real host
// would store the token per workspace; this one keeps the last connection.
type app struct {
	cfg   appConfig
	mux   *http.ServeMux
	mu    sync.Mutex
	state string // "Connected to ... as ..." once connected
}

func newApp(cfg appConfig) (*app, error) {
	if cfg.PublicURL == "" {
		return nil, errors.New("connect: PublicURL is required")
	}
	o, err := intercom.NewOAuth(intercom.OAuthConfig{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		RedirectURL:  cfg.PublicURL + "/callback",
		AuthURL:      cfg.AuthURL,
		TokenURL:     cfg.TokenURL,
		HTTPClient:   cfg.HTTPClient,
		Logger:       cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /{$}", a.home)
	a.mux.Handle("GET /connect", o.StartHandler())
	a.mux.Handle("GET /callback", o.CallbackHandler(a.connected))
	return a, nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

var page = template.Must(template.New("page").Parse(`<!doctype html>
<title>codedrop: connect Intercom</title>
<h1>codedrop</h1>
{{if .}}<p id="status">{{.}}</p>{{else}}<p>Not connected.</p>{{end}}
<p><a href="/connect">Connect Intercom</a></p>
`))

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	state := a.state
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, state)
}

// connected receives the token, identifies the workspace with GET /me and
// shows the result.
func (a *app) connected(w http.ResponseWriter, r *http.Request, tok *oauth2.Token) {
	client, err := intercom.NewClient(intercom.Config{
		Token:      tok.AccessToken,
		BaseURL:    a.cfg.APIBaseURL,
		HTTPClient: a.cfg.HTTPClient,
		Logger:     a.cfg.Logger,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	me, err := client.Me(r.Context())
	if err != nil {
		http.Error(w, "connected, but GET /me failed: "+err.Error(), http.StatusBadGateway)
		return
	}
	status := fmt.Sprintf("Connected to %s as %s", me.App.Name, me.Name)
	a.mu.Lock()
	a.state = status
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, status)
}
