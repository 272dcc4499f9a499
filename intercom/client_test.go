package intercom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jarcoal/httpmock"
	"golang.org/x/oauth2"

	"github.com/codedrop/codedrop/intercom"
)

const (
	mockBase  = "https://api.intercom.test"
	mockToken = "tok_SECRET_123"
)

// fakeClock is an injected clock: Sleep advances it instead of waiting.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slept = append(f.slept, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeClock) Slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

// mockClient returns a client over an httpmock transport with a fake clock.
func mockClient(t *testing.T, edit ...func(*intercom.Config)) (*intercom.Client, *httpmock.MockTransport, *fakeClock) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	fc := newFakeClock()
	cfg := intercom.Config{
		Token:      mockToken,
		BaseURL:    mockBase,
		HTTPClient: &http.Client{Transport: mt},
		Now:        fc.Now,
		Sleep:      fc.Sleep,
		RateLimit:  intercom.RateLimit{Disabled: true},
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := intercom.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, mt, fc
}

func jsonResp(status int, body string, hdr ...string) *http.Response {
	r := httpmock.NewStringResponse(status, body)
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

const messageOK = `{"type":"admin_message","id":"1488971108","created_at":1667560812,"body":"hi","message_type":"inapp","conversation_id":"64619700005570"}`

func inApp() intercom.Message {
	return intercom.Message{Type: intercom.InApp, Body: "hi", FromAdminID: "991267001", To: intercom.Recipient{Role: intercom.RoleUser, ID: "c1"}}
}

func TestNewClientValidation(t *testing.T) {
	t.Parallel()
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	tests := []struct {
		name string
		cfg  intercom.Config
		want string // substring of the error; "" means success
	}{
		{"token", intercom.Config{Token: "t"}, ""},
		{"token source", intercom.Config{TokenSource: ts}, ""},
		{"eu region", intercom.Config{Token: "t", BaseURL: intercom.EUBaseURL}, ""},
		{"no credentials", intercom.Config{}, "Token or Config.TokenSource is required"},
		{"both credentials", intercom.Config{Token: "t", TokenSource: ts}, "only one"},
		{"relative base", intercom.Config{Token: "t", BaseURL: "/api"}, "BaseURL"},
		{"ftp base", intercom.Config{Token: "t", BaseURL: "ftp://x"}, "BaseURL"},
		{"negative limit", intercom.Config{Token: "t", RateLimit: intercom.RateLimit{PerMinute: -1}}, "RateLimit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := intercom.NewClient(tt.cfg)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("NewClient err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSendMessageRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version string
		msg     intercom.Message
		want    string
	}{
		{"in-app", "", inApp(),
			`{"message_type":"inapp","body":"hi","from":{"type":"admin","id":"991267001"},"to":{"type":"user","id":"c1"}}`},
		{"email default template", "2.15", intercom.Message{Type: intercom.Email, Subject: "Gift", Body: "<p>x</p>", FromAdminID: "7", To: intercom.Recipient{Role: intercom.RoleLead, ID: "c2"}},
			`{"message_type":"email","subject":"Gift","body":"<p>x</p>","template":"plain","from":{"type":"admin","id":"7"},"to":{"type":"lead","id":"c2"}}`},
		{"email personal, open conversation", "", intercom.Message{Type: intercom.Email, Subject: "S", Body: "b", Template: "personal", FromAdminID: "7", To: intercom.Recipient{ID: "c3"}, CreateConversationWithoutContactReply: true},
			`{"message_type":"email","subject":"S","body":"b","template":"personal","from":{"type":"admin","id":"7"},"to":{"type":"user","id":"c3"},"create_conversation_without_contact_reply":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt, _ := mockClient(t, func(c *intercom.Config) { c.Version = tt.version })
			var gotBody []byte
			var gotHdr http.Header
			mt.RegisterResponder("POST", mockBase+"/messages", func(r *http.Request) (*http.Response, error) {
				gotBody, _ = io.ReadAll(r.Body)
				gotHdr = r.Header
				return jsonResp(200, messageOK), nil
			})
			sent, err := c.SendMessage(context.Background(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			want := intercom.SentMessage{ID: "1488971108", ConversationID: "64619700005570", Type: intercom.InApp, CreatedAt: time.Unix(1667560812, 0).UTC()}
			if diff := cmp.Diff(want, sent); diff != "" {
				t.Errorf("SentMessage (-want +got):\n%s", diff)
			}
			var gotJSON, wantJSON any
			json.Unmarshal(gotBody, &gotJSON)
			json.Unmarshal([]byte(tt.want), &wantJSON)
			if diff := cmp.Diff(wantJSON, gotJSON); diff != "" {
				t.Errorf("request body (-want +got):\n%s", diff)
			}
			wantVersion := tt.version
			if wantVersion == "" {
				wantVersion = intercom.DefaultVersion
			}
			for k, v := range map[string]string{
				"Authorization": "Bearer " + mockToken, "Accept": "application/json", "Content-Type": "application/json",
				"Intercom-Version": wantVersion, "User-Agent": intercom.DefaultUserAgent,
			} {
				if got := gotHdr.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestTokenSource(t *testing.T) {
	t.Parallel()
	c, mt, _ := mockClient(t, func(c *intercom.Config) {
		c.Token = ""
		c.TokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "from-source"})
	})
	mt.RegisterResponder("GET", mockBase+"/me", func(r *http.Request) (*http.Response, error) {
		if got := r.Header.Get("Authorization"); got != "Bearer from-source" {
			t.Errorf("Authorization = %q", got)
		}
		return jsonResp(200, `{"type":"admin","id":"1","name":"Ann","app":{"name":"Acme","region":"EU"}}`), nil
	})
	me, err := c.Me(context.Background())
	if err != nil || me.Name != "Ann" || me.App.Name != "Acme" || me.App.Region != "EU" {
		t.Fatalf("Me = %+v, %v", me, err)
	}
}

func TestErrorParsing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		hdr    []string
		is     []error
		want   intercom.Error
	}{
		{"unauthorized", 401, `{"type":"error.list","request_id":"r-1","errors":[{"code":"unauthorized","message":"Access Token Invalid"}]}`, nil,
			[]error{intercom.ErrUnauthorized},
			intercom.Error{StatusCode: 401, Method: "GET", Path: "/contacts/c1", RequestID: "r-1", Errors: []intercom.ErrorDetail{{Code: "unauthorized", Message: "Access Token Invalid"}}}},
		{"not found, request id from header", 404, `{"type":"error.list","request_id":null,"errors":[{"code":"not_found","message":"User Not Found"}]}`, []string{"X-Request-Id", "hdr-9"},
			[]error{intercom.ErrNotFound},
			intercom.Error{StatusCode: 404, Method: "GET", Path: "/contacts/c1", RequestID: "hdr-9", Errors: []intercom.ErrorDetail{{Code: "not_found", Message: "User Not Found"}}}},
		{"merged", 410, `{"type":"error.list","errors":[{"code":"contact_merged","message":"merged"}]}`, []string{"Link", `</contacts/c9>; rel="canonical"`},
			[]error{intercom.ErrContactMerged},
			intercom.Error{StatusCode: 410, Method: "GET", Path: "/contacts/c1", CanonicalContactID: "c9", Errors: []intercom.ErrorDetail{{Code: "contact_merged", Message: "merged"}}}},
		{"several errors, unknown code", 422, `{"type":"error.list","request_id":"r-2","errors":[{"code":"parameter_invalid","message":"bad","field":"email"},{"code":"brand_new_code"}]}`, nil,
			nil,
			intercom.Error{StatusCode: 422, Method: "GET", Path: "/contacts/c1", RequestID: "r-2", Errors: []intercom.ErrorDetail{{Code: "parameter_invalid", Message: "bad", Field: "email"}, {Code: "brand_new_code"}}}},
		{"not json", 400, `<html>oops</html>`, nil, nil, intercom.Error{StatusCode: 400, Method: "GET", Path: "/contacts/c1"}},
	}
	all := []error{intercom.ErrUnauthorized, intercom.ErrNotFound, intercom.ErrRateLimited, intercom.ErrContactMerged, intercom.ErrAmbiguous}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt, _ := mockClient(t)
			mt.RegisterResponder("GET", mockBase+"/contacts/c1", httpmock.ResponderFromResponse(jsonResp(tt.status, tt.body, tt.hdr...)))
			_, err := c.GetContact(context.Background(), "c1")
			var apiErr *intercom.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *intercom.Error", err)
			}
			if diff := cmp.Diff(tt.want, *apiErr); diff != "" {
				t.Errorf("*Error (-want +got):\n%s", diff)
			}
			for _, target := range all {
				want := false
				for _, w := range tt.is {
					want = want || w == target
				}
				if got := errors.Is(err, target); got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", target, got, want)
				}
			}
			if strings.Contains(err.Error(), mockToken) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestRetry429WaitsForReset(t *testing.T) {
	t.Parallel()
	c, mt, fc := mockClient(t)
	reset := fc.Now().Add(7 * time.Second).Unix()
	calls := 0
	mt.RegisterResponder("POST", mockBase+"/messages", func(r *http.Request) (*http.Response, error) {
		calls++
		if calls == 1 {
			return jsonResp(429, `{"type":"error.list","errors":[{"code":"rate_limit_exceeded"}]}`,
				"X-RateLimit-Limit", "166", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(reset, 10)), nil
		}
		return jsonResp(200, messageOK), nil
	})
	if _, err := c.SendMessage(context.Background(), inApp()); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("calls = %d, want 2", calls)
	}
	if got := fc.Slept(); len(got) != 1 || got[0] != 7*time.Second {
		t.Errorf("slept %v, want [7s] (until X-RateLimit-Reset)", got)
	}
}

func TestRetry429Bounded(t *testing.T) {
	t.Parallel()
	c, mt, _ := mockClient(t, func(c *intercom.Config) { c.MaxRetries = 2 })
	mt.RegisterResponder("GET", mockBase+"/admins", httpmock.ResponderFromResponse(
		jsonResp(429, `{"type":"error.list","errors":[{"code":"rate_limit_exceeded"}]}`, "Retry-After", "1")))
	_, err := c.Admins(context.Background())
	if !errors.Is(err, intercom.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if n := mt.GetTotalCallCount(); n != 3 {
		t.Errorf("calls = %d, want 3 (1 + MaxRetries)", n)
	}
}

func TestRetryReadsNotAmbiguousWrites(t *testing.T) {
	t.Parallel()
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	resetErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	e503 := func(*http.Request) (*http.Response, error) {
		return jsonResp(503, `{"type":"error.list","errors":[{"code":"server_error"}]}`), nil
	}
	tests := []struct {
		name      string
		call      func(*intercom.Client) error
		method    string
		path      string
		first     httpmock.Responder
		ok        string
		wantCalls int
		wantErr   error
	}{
		{"GET after 503 is retried", func(c *intercom.Client) error { _, err := c.GetContact(context.Background(), "c1"); return err },
			"GET", "/contacts/c1", e503, `{"type":"contact","id":"c1","role":"user"}`, 2, nil},
		{"GET after reset is retried", func(c *intercom.Client) error { _, err := c.GetContact(context.Background(), "c1"); return err },
			"GET", "/contacts/c1", httpmock.NewErrorResponder(resetErr), `{"type":"contact","id":"c1","role":"user"}`, 2, nil},
		{"search after 503 is retried", func(c *intercom.Client) error {
			for _, err := range c.SearchContacts(context.Background(), intercom.SearchQuery{Field: "email", Operator: "=", Value: "a@b"}, intercom.SearchOptions{}) {
				return err
			}
			return nil
		}, "POST", "/contacts/search", e503, `{"type":"list","data":[]}`, 2, nil},
		{"message after 503 is ambiguous", func(c *intercom.Client) error { _, err := c.SendMessage(context.Background(), inApp()); return err },
			"POST", "/messages", e503, messageOK, 1, intercom.ErrAmbiguous},
		{"message after reset is ambiguous", func(c *intercom.Client) error { _, err := c.SendMessage(context.Background(), inApp()); return err },
			"POST", "/messages", httpmock.NewErrorResponder(resetErr), messageOK, 1, intercom.ErrAmbiguous},
		{"message after dial error is retried", func(c *intercom.Client) error { _, err := c.SendMessage(context.Background(), inApp()); return err },
			"POST", "/messages", httpmock.NewErrorResponder(dialErr), messageOK, 2, nil},
		{"message with an unreadable 200 is ambiguous", func(c *intercom.Client) error { _, err := c.SendMessage(context.Background(), inApp()); return err },
			"POST", "/messages", httpmock.NewStringResponder(200, `{"id":`), messageOK, 1, intercom.ErrAmbiguous},
		{"contact create after 502 is ambiguous", func(c *intercom.Client) error {
			_, err := c.CreateContact(context.Background(), intercom.ContactInput{ExternalID: "u1"})
			return err
		}, "POST", "/contacts", e503, `{"type":"contact","id":"c1"}`, 1, intercom.ErrAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt, _ := mockClient(t)
			mt.RegisterResponder(tt.method, mockBase+tt.path, tt.first.Once().Then(httpmock.ResponderFromResponse(jsonResp(200, tt.ok))))
			err := tt.call(c)
			if tt.wantErr == nil && err != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n := mt.GetTotalCallCount(); n != tt.wantCalls {
				t.Errorf("calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestNoRetryAfterContextDone(t *testing.T) {
	t.Parallel()
	c, mt, _ := mockClient(t, func(c *intercom.Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error { return context.Canceled }
	})
	mt.RegisterResponder("GET", mockBase+"/admins", httpmock.ResponderFromResponse(
		jsonResp(503, `{"type":"error.list","errors":[{"code":"server_error"}]}`)))
	_, err := c.Admins(context.Background())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := mt.GetTotalCallCount(); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Admins(ctx); !errors.Is(err, context.Canceled) || mt.GetTotalCallCount() != 1 {
		t.Errorf("done context: err = %v, calls = %d; want Canceled and no call", err, mt.GetTotalCallCount())
	}
}

func TestRateLimitHeadersSlowDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		limit, remain   string
		resetIn         time.Duration
		wantSecondSleep time.Duration // 0: no sleep
	}{
		{"none left: wait for the reset", "166", "0", 4 * time.Second, 4 * time.Second},
		{"few left: spread them", "166", "5", 6 * time.Second, time.Second},
		{"plenty left: no pause", "166", "100", 6 * time.Second, 0},
		{"reset in the past: no pause", "166", "0", -2 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt, fc := mockClient(t)
			reset := fc.Now().Add(tt.resetIn).Unix()
			mt.RegisterResponder("GET", mockBase+"/admins", httpmock.ResponderFromResponse(jsonResp(200, `{"type":"admin.list","admins":[]}`,
				"X-RateLimit-Limit", tt.limit, "X-RateLimit-Remaining", tt.remain, "X-RateLimit-Reset", strconv.FormatInt(reset, 10))))
			for range 2 {
				if _, err := c.Admins(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			var want []time.Duration
			if tt.wantSecondSleep > 0 {
				want = []time.Duration{tt.wantSecondSleep}
			}
			if diff := cmp.Diff(want, fc.Slept()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientSideLimiter(t *testing.T) {
	t.Parallel()
	// 60 a minute in 10-second windows: 1 a second, bursts of 1.
	c, mt, fc := mockClient(t, func(c *intercom.Config) { c.RateLimit = intercom.RateLimit{PerMinute: 60, Window: 10 * time.Second} })
	mt.RegisterResponder("GET", mockBase+"/admins", httpmock.ResponderFromResponse(jsonResp(200, `{"admins":[]}`)))
	for range 5 {
		if _, err := c.Admins(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var total time.Duration
	for _, d := range fc.Slept() {
		total += d
	}
	if total < 4*time.Second-time.Millisecond {
		t.Errorf("5 calls at 1/s waited %v in all, want about 4s", total)
	}
}

func TestLogsNeverHoldTheToken(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c, mt, _ := mockClient(t, func(c *intercom.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	mt.RegisterResponder("GET", mockBase+"/admins", httpmock.ResponderFromResponse(
		jsonResp(503, `{"type":"error.list","errors":[{"code":"server_error"}]}`)))
	_, err := c.Admins(context.Background())
	if err == nil {
		t.Fatal("want an error")
	}
	if buf.Len() == 0 {
		t.Fatal("expected retry logs")
	}
	if strings.Contains(buf.String(), mockToken) || strings.Contains(err.Error(), mockToken) {
		t.Errorf("token leaked:\nlog: %s\nerr: %v", buf.String(), err)
	}
}

func TestContactsPagination(t *testing.T) {
	t.Parallel()
	c, mt, _ := mockClient(t)
	pages := map[string]string{
		"":     `{"type":"list","data":[{"id":"a","role":"user"},{"id":"b","role":"lead"}],"pages":{"next":{"per_page":2,"starting_after":"cur1"}}}`,
		"cur1": `{"type":"list","data":[{"id":"c","role":"user","tags":{"type":"list","data":[{"type":"tag","id":"t1"}]}}],"pages":{"next":null}}`,
	}
	var seen []string
	mt.RegisterResponder("GET", mockBase+"/contacts", func(r *http.Request) (*http.Response, error) {
		q := r.URL.Query()
		if q.Get("per_page") != "2" {
			t.Errorf("per_page = %q, want 2", q.Get("per_page"))
		}
		seen = append(seen, q.Get("starting_after"))
		return jsonResp(200, pages[q.Get("starting_after")]), nil
	})
	var ids []string
	for ct, err := range c.Contacts(context.Background(), intercom.ListOptions{PerPage: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ct.ID)
		if ct.ID == "c" && (len(ct.Tags) != 1 || ct.Tags[0].ID != "t1") {
			t.Errorf("contact c tags = %+v", ct.Tags)
		}
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"", "cur1"}, seen); diff != "" {
		t.Errorf("cursors (-want +got):\n%s", diff)
	}
	for _, err := range c.Contacts(context.Background(), intercom.ListOptions{PerPage: 151}) {
		if !errors.Is(err, intercom.ErrInvalid) {
			t.Errorf("PerPage 151: err = %v, want ErrInvalid", err)
		}
	}
}

func TestSearchCursorInBody(t *testing.T) {
	t.Parallel()
	c, mt, _ := mockClient(t)
	var bodies []map[string]any
	mt.RegisterResponder("POST", mockBase+"/contacts/search", func(r *http.Request) (*http.Response, error) {
		var b map[string]any
		json.NewDecoder(r.Body).Decode(&b)
		bodies = append(bodies, b)
		if len(bodies) == 1 {
			return jsonResp(200, `{"type":"list","data":[{"id":"a"}],"pages":{"next":{"starting_after":"xyz"}}}`), nil
		}
		return jsonResp(200, `{"type":"list","data":[{"id":"b"}],"pages":{}}`), nil
	})
	q := intercom.SearchQuery{Operator: "AND", Value: []intercom.SearchQuery{{Field: "role", Operator: "=", Value: "user"}, {Field: "email", Operator: "~", Value: "@example.com"}}}
	n := 0
	for _, err := range c.SearchContacts(context.Background(), q, intercom.SearchOptions{ListOptions: intercom.ListOptions{PerPage: 1}, SortField: "created_at", SortOrder: "ascending"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 || len(bodies) != 2 {
		t.Fatalf("got %d contacts in %d requests, want 2 in 2", n, len(bodies))
	}
	want := map[string]any{
		"query": map[string]any{"operator": "AND", "value": []any{
			map[string]any{"field": "role", "operator": "=", "value": "user"},
			map[string]any{"field": "email", "operator": "~", "value": "@example.com"}}},
		"pagination": map[string]any{"per_page": 1.0, "starting_after": "xyz"},
		"sort":       map[string]any{"field": "created_at", "order": "ascending"},
	}
	if diff := cmp.Diff(want, bodies[1]); diff != "" {
		t.Errorf("second search body (-want +got):\n%s", diff)
	}
}

func TestConfigRedactsToken(t *testing.T) {
	t.Parallel()
	cfg := intercom.Config{Token: mockToken, BaseURL: intercom.EUBaseURL}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "cfg", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%v %+v %s %#v", cfg, cfg, cfg, cfg), buf.String()} {
		if strings.Contains(s, mockToken) || !strings.Contains(s, "redacted") {
			t.Errorf("printed config %q leaks or lacks the redaction", s)
		}
	}
}
