package dashboard_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/dashboard"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// xssName is a customer name that would run script if a page put it in
// as HTML.
const xssName = `<img src=x onerror=alert(1)>`

const intercomFilter = `{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`

// fixture is a running Manager on a fake clock and a fake Intercom,
// seeded with four customers (one named xssName, one without an Intercom
// contact), a segment of them, a finished manual distribution (sent,
// skipped and failed deliveries), a scheduled one counting down and a
// draft automatic one; and a dashboard over it.
type fixture struct {
	t   *testing.T
	ctx context.Context
	srv *intercomtest.Server
	clk *distributiontest.FakeClock
	m   *distribution.Manager
	h   *dashboard.Handler

	seg       segment.Segment
	camp      distribution.Campaign
	finished  distribution.Distribution
	scheduled distribution.Distribution
	auto      distribution.Distribution
}

// allowAll is an Authorize that lets every request in.
func allowAll(*http.Request) error { return nil }

// newFixture seeds the Manager and builds the dashboard with cfg
// (Authorize: allowAll and Now: the fake clock unless set).
func newFixture(t *testing.T, cfg dashboard.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background()}
	f.srv = intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ExternalID: "u1", Name: "Ann", Email: "ann@example.com", Role: intercom.RoleUser},
		intercom.Contact{ExternalID: "u2", Name: "Bob", Role: intercom.RoleUser},
		intercom.Contact{ExternalID: "u3", Name: xssName, Email: "x@example.com", Role: intercom.RoleUser},
	))
	t.Cleanup(f.srv.Close)
	f.clk = distributiontest.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: f.srv.Client(), AdminID: f.srv.AdminID(), Clock: f.clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})

	for _, c := range []customer.Customer{
		{SourceID: "u1", Name: "Ann", Email: "ann@example.com"},
		{SourceID: "u2", Name: "Bob"},
		{SourceID: "u3", Name: xssName, Email: "x@example.com"},
		{SourceID: "u4", Name: "Dan"}, // no Intercom contact: the in-app message fails
	} {
		c.Metadata = customer.Metadata{"source": "Intercom"}
		if _, err := m.UpsertCustomer(f.ctx, c, customer.UpsertOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if f.seg, err = m.CreateSegment(f.ctx, segment.Segment{Name: "From Intercom", Type: segment.AutoUpdate,
		Filter: segment.MustParseFilter(intercomFilter)}); err != nil {
		t.Fatal(err)
	}
	if f.camp, err = m.CreateCampaign(f.ctx, distribution.Campaign{Name: "Welcome",
		Code: distribution.CodeConfig{Pattern: "WELCOME-####", Charset: distribution.CharsetUppercase}}); err != nil {
		t.Fatal(err)
	}
	f.finished = f.create(distribution.Distribution{Name: "Spring sale", Audience: distribution.Audience{SegmentID: f.seg.ID},
		Campaign: f.camp.ID, Channels: channels()})
	f.send(f.finished.ID)
	f.clk.Advance(distribution.DefaultManualDelay)
	f.finished = f.waitStatus(f.finished.ID, distribution.StatusDone)

	f.scheduled = f.create(distribution.Distribution{Name: "Welcome codes", Purpose: "Welcome gift",
		Audience: distribution.Audience{SegmentID: f.seg.ID}, Campaign: f.camp.ID, Channels: channels()})
	f.scheduled = f.send(f.scheduled.ID)

	f.auto = f.create(distribution.Distribution{Name: "Thanks for ordering", Mode: distribution.Automatic,
		Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Campaign: f.camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Thanks: {{voucher.code}}"}}})

	if cfg.Authorize == nil && !cfg.InsecureLocalNoAuth {
		cfg.Authorize = allowAll
	}
	if cfg.Now == nil {
		cfg.Now = f.clk.Now
	}
	if f.h, err = dashboard.New(m, cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func channels() []distribution.ChannelMessage {
	return []distribution.ChannelMessage{
		{Channel: distribution.IntercomInApp, Body: "Hi {{customer.name}}: {{voucher.code}}"},
		{Channel: distribution.IntercomEmail, Subject: "A gift", Body: "<p>{{voucher.code}}</p>"},
	}
}

func (f *fixture) create(d distribution.Distribution) distribution.Distribution {
	f.t.Helper()
	out, err := f.m.CreateDistribution(f.ctx, d)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// send sends a manual distribution and waits until its countdown runs
// (its segment synced).
func (f *fixture) send(id string) distribution.Distribution {
	f.t.Helper()
	if _, err := f.m.Send(f.ctx, id); err != nil {
		f.t.Fatal(err)
	}
	return f.wait(id, "armed", func(d distribution.Distribution) bool { return !d.SendAt.IsZero() })
}

func (f *fixture) waitStatus(id string, want distribution.Status) distribution.Distribution {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	d, err := distributiontest.WaitFor(ctx, f.m, id, want)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// wait waits (on the Manager's changes, for up to 10 seconds) until the
// distribution satisfies cond.
func (f *fixture) wait(id, what string, cond func(distribution.Distribution) bool) distribution.Distribution {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	var d distribution.Distribution
	if err := distributiontest.WaitUntil(ctx, f.m, func() bool {
		var err error
		d, err = f.m.Distribution(ctx, id)
		return err == nil && cond(d)
	}); err != nil {
		f.t.Fatalf("distribution %s: waiting for %s: %v (last: %+v)", id, what, err, d)
	}
	return d
}

// idle waits until the Manager has nothing left to do now.
func (f *fixture) idle() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	if err := distributiontest.WaitIdle(ctx, f.m); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(id string) distribution.Distribution {
	f.t.Helper()
	d, err := f.m.Distribution(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// do serves one request through the dashboard. A POST carries form and
// the headers a browser sends on a same-origin form submission, unless
// hdr overrides them.
func (f *fixture) do(method, target string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	return serve(f.h, method, target, form, hdr...)
}

func serve(h http.Handler, method, target string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, target, body)
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "http://example.com")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// sent counts the messages Intercom received.
func (f *fixture) sent() int { return len(f.srv.Messages()) }
