package dashboard_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/dashboard"
	"github.com/codedrop/codedrop/intercom"
)

// fire lets the scheduled distribution's window close: the clock passes
// its send time and it finishes.
func (f *fixture) fire() {
	f.t.Helper()
	f.clk.Set(f.scheduled.SendAt)
	f.waitStatus(f.scheduled.ID, distribution.StatusDone)
}

// wantRefused checks a 409 whose page shows the library's message.
func wantRefused(t *testing.T, w interface {
	Result() *http.Response
}, body string, want error) {
	t.Helper()
	if code := w.Result().StatusCode; code != http.StatusConflict {
		t.Errorf("status %d, want 409", code)
	}
	if !strings.Contains(html.UnescapeString(body), want.Error()) {
		t.Errorf("page does not show %q:\n%s", want, body)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	w := f.do(http.MethodPost, "/distributions/"+f.scheduled.ID+"/cancel", url.Values{"back": {"list"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/?done=canceled" {
		t.Fatalf("status %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	if d := f.get(f.scheduled.ID); d.Status != distribution.StatusCanceled {
		t.Fatalf("status %s, want canceled", d.Status)
	}
	before := f.sent()
	f.clk.Set(f.scheduled.SendAt.Add(distribution.DefaultManualDelay))
	f.idle()
	if d := f.get(f.scheduled.ID); d.Status != distribution.StatusCanceled || d.Report.Deliveries != 0 {
		t.Errorf("after its send time: %s, %d deliveries", d.Status, d.Report.Deliveries)
	}
	if n := f.sent(); n != before {
		t.Errorf("Intercom received %d more messages", n-before)
	}
	page := f.do(http.MethodGet, "/?done=canceled", nil).Body.String()
	if !strings.Contains(page, "Canceled: nothing will be sent.") {
		t.Error("the list does not say the distribution was canceled")
	}
}

func TestCancelAfterWindowClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	list := f.do(http.MethodGet, "/", nil).Body.String() // rendered while the window is open
	if !strings.Contains(list, "/distributions/"+f.scheduled.ID+"/cancel") {
		t.Fatal("no Cancel button while the window is open")
	}
	f.fire()
	w := f.do(http.MethodPost, "/distributions/"+f.scheduled.ID+"/cancel", url.Values{"back": {"list"}})
	wantRefused(t, w, w.Body.String(), distribution.ErrWindowClosed)
	if d := f.get(f.scheduled.ID); d.Status != distribution.StatusDone {
		t.Errorf("status %s, want done", d.Status)
	}
	if strings.Contains(f.do(http.MethodGet, "/", nil).Body.String(), "/distributions/"+f.scheduled.ID+"/cancel") {
		t.Error("a Cancel button after the window closed")
	}
}

func TestEdit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	path := "/distributions/" + f.scheduled.ID + "/edit"
	form := f.do(http.MethodGet, path, nil)
	if form.Code != http.StatusOK || !strings.Contains(form.Body.String(), `name="revision" value="`+fmt.Sprint(f.scheduled.Revision)+`"`) {
		t.Fatalf("edit form: %d\n%s", form.Code, form.Body.String())
	}
	post := url.Values{"name": {"Welcome codes (v2)"}, "purpose": {"New purpose"}, "revision": {fmt.Sprint(f.scheduled.Revision)}, "channels": {"2"},
		"subject.0": {""}, "body.0": {"Hello {{customer.name}}: {{voucher.code}}"},
		"subject.1": {"A bigger gift"}, "body.1": {"<p>{{voucher.code}}</p>"}}
	w := f.do(http.MethodPost, path, post)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/distributions/"+f.scheduled.ID+"?done=saved" {
		t.Fatalf("status %d, Location %q\n%s", w.Code, w.Header().Get("Location"), w.Body.String())
	}
	d := f.get(f.scheduled.ID)
	if d.Name != "Welcome codes (v2)" || d.Purpose != "New purpose" || d.Channels[0].Body != "Hello {{customer.name}}: {{voucher.code}}" ||
		d.Channels[1].Subject != "A bigger gift" || d.Status != distribution.StatusScheduled || !d.SendAt.Equal(f.scheduled.SendAt) {
		t.Errorf("after edit: %+v", d)
	}

	// The same form again is stale: nothing is overwritten.
	post.Set("name", "Stale")
	w = f.do(http.MethodPost, path, post)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "changed since this form was loaded") {
		t.Errorf("stale form: status %d", w.Code)
	}
	if f.get(f.scheduled.ID).Name != "Welcome codes (v2)" {
		t.Error("a stale form overwrote the distribution")
	}
	// The library validates: an unknown merge tag is refused with its message.
	post.Set("revision", fmt.Sprint(d.Revision))
	post.Set("name", "Bad")
	post.Set("body.0", "{{nope}}")
	w = f.do(http.MethodPost, path, post)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "nope") || !strings.Contains(w.Body.String(), "{{nope}}") {
		t.Errorf("invalid template: status %d (the form keeps what was typed)\n%s", w.Code, w.Body.String())
	}
	if f.get(f.scheduled.ID).Name != "Welcome codes (v2)" {
		t.Error("an invalid edit changed the distribution")
	}
}

func TestEditTooLarge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	post := url.Values{"name": {"Big"}, "revision": {fmt.Sprint(f.scheduled.Revision)}, "channels": {"2"},
		"body.0": {strings.Repeat("x", 2<<20)}, "subject.1": {"s"}, "body.1": {"y"}}
	w := f.do(http.MethodPost, "/distributions/"+f.scheduled.ID+"/edit", post)
	if w.Code != http.StatusBadRequest {
		t.Errorf("status %d, want 400", w.Code)
	}
	if d := f.get(f.scheduled.ID); d.Name != "Welcome codes" {
		t.Errorf("name %q after a refused edit", d.Name)
	}
}

func TestEditAfterWindowClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	post := url.Values{"name": {"Too late"}, "revision": {fmt.Sprint(f.scheduled.Revision)}, "channels": {"2"},
		"body.0": {"x {{voucher.code}}"}, "subject.1": {"s"}, "body.1": {"y"}}
	f.fire()
	w := f.do(http.MethodPost, "/distributions/"+f.scheduled.ID+"/edit", post)
	wantRefused(t, w, w.Body.String(), distribution.ErrWindowClosed)
	if d := f.get(f.scheduled.ID); d.Name != "Welcome codes" {
		t.Errorf("name %q after a refused edit", d.Name)
	}
}

func TestRetryFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	if f.finished.Report.Failed != 1 {
		t.Fatalf("fixture: %d failed, want 1", f.finished.Report.Failed)
	}
	// Retrying a distribution that has not sent is refused.
	w := f.do(http.MethodPost, "/distributions/"+f.scheduled.ID+"/retry", nil)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "nothing to retry while it is scheduled") {
		t.Errorf("retry of a scheduled distribution: status %d\n%s", w.Code, w.Body.String())
	}
	// Dan gets an Intercom contact; his failed in-app message goes out.
	f.srv.AddContact(intercom.Contact{ExternalID: "u4", Name: "Dan", Role: intercom.RoleUser})
	before := f.sent()
	w = f.do(http.MethodPost, "/distributions/"+f.finished.ID+"/retry", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/distributions/"+f.finished.ID+"?done=retried&n=1" {
		t.Fatalf("status %d, Location %q\n%s", w.Code, w.Header().Get("Location"), w.Body.String())
	}
	d := f.wait(f.finished.ID, "the retry to be sent", func(d distribution.Distribution) bool {
		return d.Status == distribution.StatusDone && d.Report.Failed == 0
	})
	if d.Report.Sent != 6 || f.sent() != before+1 {
		t.Errorf("after retry: %+v, %d messages more", d.Report, f.sent()-before)
	}
	if page := f.do(http.MethodGet, w.Header().Get("Location"), nil).Body.String(); !strings.Contains(page, "Failed deliveries re-queued: 1.") {
		t.Error("the report does not say what was re-queued")
	}
}

func TestActivateAndPause(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	steps := []struct {
		action string
		want   distribution.Status
	}{
		{"activate", distribution.StatusActive},
		{"pause", distribution.StatusPaused},
		{"activate", distribution.StatusActive},
	}
	for _, s := range steps {
		w := f.do(http.MethodPost, "/distributions/"+f.auto.ID+"/"+s.action, url.Values{"back": {"automatic"}})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/automatic?done="+s.action+"d" {
			t.Fatalf("%s: status %d, Location %q\n%s", s.action, w.Code, w.Header().Get("Location"), w.Body.String())
		}
		if d := f.get(f.auto.ID); d.Status != s.want {
			t.Errorf("after %s: %s, want %s", s.action, d.Status, s.want)
		}
	}
	page := f.do(http.MethodGet, "/automatic", nil).Body.String()
	if !strings.Contains(page, "on customer.order.paid") || !strings.Contains(page, "/distributions/"+f.auto.ID+"/pause") {
		t.Errorf("automatic page lacks the trigger or Pause:\n%s", page)
	}
	// Activating a manual distribution is refused with the library's message.
	w := f.do(http.MethodPost, "/distributions/"+f.scheduled.ID+"/activate", nil)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "is sent (Send), not activated") {
		t.Errorf("activate manual: status %d\n%s", w.Code, w.Body.String())
	}
}

// TestActivateAfterCanceled: once an automatic distribution is canceled
// (its window closed for good) Activate and Pause are refused with the
// library's message.
func TestActivateAfterCanceled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	if w := f.do(http.MethodPost, "/distributions/"+f.auto.ID+"/cancel", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("cancel: %d", w.Code)
	}
	for _, action := range []string{"activate", "pause"} {
		w := f.do(http.MethodPost, "/distributions/"+f.auto.ID+"/"+action, nil)
		if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "cannot "+action+": it is canceled") {
			t.Errorf("%s: status %d\n%s", action, w.Code, w.Body.String())
		}
	}
	if d := f.get(f.auto.ID); d.Status != distribution.StatusCanceled {
		t.Errorf("status %s", d.Status)
	}
}

func TestActionOnMissingDistribution(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	for _, action := range []string{"cancel", "retry", "activate", "pause", "edit"} {
		if w := f.do(http.MethodPost, "/distributions/distr_missing/"+action, nil); w.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", action, w.Code)
		}
	}
}
