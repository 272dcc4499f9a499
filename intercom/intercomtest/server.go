package intercomtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codedrop/codedrop/intercom"
)

// Defaults of a Server.
const (
	// DefaultToken is the access token the server accepts unless Token
	// sets another.
	DefaultToken = "intercomtest-token"
	// DefaultAdminID is the id of the admin seeded when Admins is not given.
	DefaultAdminID = "991267001"
	// DefaultWorkspace is the workspace name reported by GET /me.
	DefaultWorkspace = "Test Workspace"
	// DefaultClientID and DefaultClientSecret are the OAuth client
	// credentials the server accepts unless OAuthClient sets others.
	DefaultClientID     = "intercomtest-client"
	DefaultClientSecret = "intercomtest-secret"
)

// Option configures a Server.
type Option func(*config)

type config struct {
	token        string
	admins       []intercom.Admin
	contacts     []intercom.Contact
	workspace    string
	clientID     string
	clientSecret string
	limit        int
	window       time.Duration
	phase        time.Duration
	reset        ResetRounding
	latency      time.Duration
	now          func() time.Time
}

// Contacts seeds contacts. A contact without an ID gets one; without a
// Role it is a user.
func Contacts(cs ...intercom.Contact) Option {
	return func(c *config) { c.contacts = append(c.contacts, cs...) }
}

// Admins seeds the workspace's admins (replacing the default admin,
// DefaultAdminID "Ada Admin"). The first one is the token's admin (GET /me).
func Admins(as ...intercom.Admin) Option {
	return func(c *config) { c.admins = append(c.admins, as...) }
}

// Token sets the access token the server accepts (default DefaultToken).
// Tokens issued through the OAuth endpoints are accepted too.
func Token(tok string) Option { return func(c *config) { c.token = tok } }

// Workspace sets the workspace name reported by GET /me.
func Workspace(name string) Option { return func(c *config) { c.workspace = name } }

// OAuthClient sets the OAuth client id and secret the server accepts.
func OAuthClient(id, secret string) Option {
	return func(c *config) { c.clientID, c.clientSecret = id, secret }
}

// Latency delays every API answer by d.
func Latency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// Clock sets the server's clock (rate-limit windows, created_at). Default
// time.Now.
func Clock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Message is a message the server received on POST /messages.
type Message struct {
	intercom.Message
	// ID and ConversationID are what the server answered.
	ID             string
	ConversationID string
	CreatedAt      time.Time
	// UserAgent is the request's User-Agent: which client sent it, when
	// clients set their own (intercom.Config.UserAgent).
	UserAgent string
}

// msgLog stores messages in fixed-size chunks, so that recording is O(1)
// without ever copying earlier messages (a growing slice would copy them
// all under the lock).
type msgLog struct {
	chunks [][]Message
	n      int
}

const msgChunk = 4096

func (l *msgLog) add(m Message) {
	if len(l.chunks) == 0 || len(l.chunks[len(l.chunks)-1]) == msgChunk {
		l.chunks = append(l.chunks, make([]Message, 0, msgChunk))
	}
	last := &l.chunks[len(l.chunks)-1]
	*last = append(*last, m)
	l.n++
}

func (l *msgLog) all() []Message {
	out := make([]Message, 0, l.n)
	for _, c := range l.chunks {
		out = append(out, c...)
	}
	return out
}

// Reply is a conversation reply the server received.
type Reply struct {
	intercom.Reply
	ConversationID string
	CreatedAt      time.Time
}

// Server is an in-memory Intercom. It is safe for concurrent use.
type Server struct {
	// URL is the server's base URL (use it as intercom.Config.BaseURL).
	URL string

	cfg       config
	ts        *httptest.Server
	transport *http.Transport
	mux       *http.ServeMux

	mu         sync.RWMutex
	contacts   map[string]*contact
	order      []string // contact ids in creation order
	byExternal map[string]string
	merged     map[string]string // merged contact id -> canonical id
	admins     map[string]intercom.Admin
	tags       map[string]intercom.Tag
	attrs      []dataAttribute
	tokens     map[string]bool
	codes      map[string]bool

	msgMu    sync.Mutex
	messages msgLog
	replies  []Reply
	cards    []Card

	seq atomic.Int64

	rlMu    sync.Mutex
	windows []Window // the rate-limit windows seen, oldest first

	faultN  atomic.Int64 // pending fault count; 0 skips the lock
	faultMu sync.Mutex
	faults  []Fault

	denyOAuth atomic.Bool
	requests  atomic.Int64
	limited   atomic.Int64
}

type contact struct {
	c intercom.Contact
}

// NewServer starts a Server; Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		contacts:   map[string]*contact{},
		byExternal: map[string]string{},
		merged:     map[string]string{},
		admins:     map[string]intercom.Admin{},
		tags:       map[string]intercom.Tag{},
		tokens:     map[string]bool{},
		codes:      map[string]bool{},
	}
	s.cfg = config{token: DefaultToken, workspace: DefaultWorkspace, clientID: DefaultClientID, clientSecret: DefaultClientSecret, now: time.Now}
	for _, o := range opts {
		o(&s.cfg)
	}
	if len(s.cfg.admins) == 0 {
		s.cfg.admins = []intercom.Admin{{ID: DefaultAdminID, Name: "Ada Admin", Email: "ada@example.com", HasInboxSeat: true}}
	}
	for _, a := range s.cfg.admins {
		s.admins[a.ID] = a
	}
	s.tokens[s.cfg.token] = true
	for _, c := range s.cfg.contacts {
		s.addContact(c)
	}
	s.routes()
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	t.ForceAttemptHTTP2 = false
	s.transport = t
	return s
}

// Close shuts the server down.
func (s *Server) Close() {
	s.transport.CloseIdleConnections()
	s.ts.Close()
}

// HTTPClient returns an *http.Client for the server (a transport that keeps
// many idle connections, for concurrent callers).
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: s.transport, Timeout: 30 * time.Second}
}

// Config returns an intercom.Config wired to the server: its URL, token
// and HTTP client, and a client-side limit matching RateLimit (disabled
// when the server does not limit). Adjust it and pass it to
// intercom.NewClient.
func (s *Server) Config() intercom.Config {
	cfg := intercom.Config{
		Token:      s.cfg.token,
		BaseURL:    s.URL,
		HTTPClient: s.HTTPClient(),
		RateLimit:  intercom.RateLimit{Disabled: true},
	}
	if s.cfg.limit > 0 {
		cfg.RateLimit = intercom.RateLimit{PerMinute: int(float64(s.cfg.limit) * float64(time.Minute) / float64(s.cfg.window)), Window: s.cfg.window}
	}
	return cfg
}

// Client returns an *intercom.Client wired to the server (see Config).
func (s *Server) Client() *intercom.Client {
	c, err := intercom.NewClient(s.Config())
	if err != nil {
		panic("intercomtest: " + err.Error()) // Config is always valid
	}
	return c
}

// Handler returns the server's handler, for calling it in-process (for
// example through a RoundTripper inside a testing/synctest bubble, where
// the server's clock is the bubble's). Dropped-connection faults need the
// real listener and do not work this way.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Token returns the access token the server accepts.
func (s *Server) Token() string { return s.cfg.token }

// AdminID returns the id of the first admin (the token's admin).
func (s *Server) AdminID() string { return s.cfg.admins[0].ID }

// Messages returns a copy of the messages received so far, in order.
func (s *Server) Messages() []Message {
	s.msgMu.Lock()
	defer s.msgMu.Unlock()
	return s.messages.all()
}

// Replies returns a copy of the conversation replies received so far.
func (s *Server) Replies() []Reply {
	s.msgMu.Lock()
	defer s.msgMu.Unlock()
	return append([]Reply(nil), s.replies...)
}

// MessageCount returns how many messages were received.
func (s *Server) MessageCount() int {
	s.msgMu.Lock()
	defer s.msgMu.Unlock()
	return s.messages.n
}

// Stats counts what the server saw.
type Stats struct {
	// Requests is the number of API requests (OAuth endpoints excluded).
	Requests int64
	// RateLimited is the number of 429s the enforced limit produced
	// (injected faults excluded).
	RateLimited int64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), RateLimited: s.limited.Load()}
}

// AddContact adds (or replaces) a contact and returns it with its id.
func (s *Server) AddContact(c intercom.Contact) intercom.Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addContact(c)
}

func (s *Server) addContact(c intercom.Contact) intercom.Contact {
	if c.ID == "" {
		c.ID = s.newID()
	}
	if c.Role == "" {
		c.Role = intercom.RoleUser
	}
	now := s.cfg.now().UTC().Truncate(time.Second)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	for _, t := range c.Tags {
		if _, ok := s.tags[t.ID]; !ok {
			s.tags[t.ID] = t
		}
	}
	if _, ok := s.contacts[c.ID]; !ok {
		s.order = append(s.order, c.ID)
	}
	s.contacts[c.ID] = &contact{c: c}
	if c.ExternalID != "" {
		s.byExternal[c.ExternalID] = c.ID
	}
	return c
}

// Contact returns the stored contact with id id.
func (s *Server) Contact(id string) (intercom.Contact, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.contacts[id]
	if !ok {
		return intercom.Contact{}, false
	}
	return c.c, true
}

// MergeContact merges contact from into contact into: from disappears and
// requests for it answer 410 contact_merged with a Link to into.
func (s *Server) MergeContact(from, into string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.contacts[from]; ok {
		delete(s.contacts, from)
		if c.c.ExternalID != "" && s.byExternal[c.c.ExternalID] == from {
			delete(s.byExternal, c.c.ExternalID)
			s.merged["ext:"+c.c.ExternalID] = into
		}
	}
	s.merged[from] = into
}

// DenyOAuth makes the authorize endpoint redirect back with
// error=access_denied (as when a user declines) while deny is true.
func (s *Server) DenyOAuth(deny bool) { s.denyOAuth.Store(deny) }

func (s *Server) newID() string {
	return fmt.Sprintf("%024x", 0x6500000000+s.seq.Add(1))
}

// serve is the entry point: OAuth endpoints, then auth, faults, rate
// limiting and latency in front of the API routes.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth":
		s.authorize(w, r)
		return
	case "/auth/eagle/token":
		s.token(w, r)
		return
	}
	s.requests.Add(1)
	if s.faultN.Load() > 0 {
		if f, ok := s.takeFault(r); ok {
			if s.applyFault(w, r, f) {
				return
			}
		}
	}
	if s.cfg.latency > 0 {
		if !sleep(r, s.cfg.latency) {
			return
		}
	}
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "Access Token Invalid", "")
		return
	}
	if !s.rateLimit(w) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// sleep waits d or until the client goes away. It reads the body first,
// so that the server notices a closed connection while it waits.
func sleep(r *http.Request, d time.Duration) bool {
	if r.Body != nil && r.Body != http.NoBody {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return false
	}
	tok := h[len(prefix):]
	if tok == s.cfg.token {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tokens[tok]
}

var unlimited = []string{"10000"}

// writeError answers with Intercom's error.list.
func writeError(w http.ResponseWriter, status int, code, message, field string) {
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message,omitempty"`
		Field   string `json:"field,omitempty"`
	}
	body, _ := json.Marshal(struct {
		Type      string   `json:"type"`
		RequestID string   `json:"request_id"`
		Errors    []detail `json:"errors"`
	}{"error.list", newRequestID(), []detail{{code, message, field}}})
	w.Header()["Content-Type"] = jsonType
	w.WriteHeader(status)
	w.Write(body)
}

var reqSeq atomic.Int64

func newRequestID() string {
	return fmt.Sprintf("req-%012d", reqSeq.Add(1))
}

var jsonType = []string{"application/json; charset=utf-8"}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", err.Error(), "")
		return
	}
	w.Header()["Content-Type"] = jsonType
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// readJSON decodes the request body into v, answering 400 when it is not
// JSON.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "parameter_invalid", "Invalid JSON: "+err.Error(), "")
		return false
	}
	return true
}

// dropConn closes the client's connection without an answer.
func dropConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
