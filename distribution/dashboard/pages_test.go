package dashboard_test

import (
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/dashboard"
)

// text strips tags and collapses white space, for assertions on what a
// page reads like.
func text(page string) string {
	s := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(page, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func TestDistributionsPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	w := f.do(http.MethodGet, "/", nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("status %d, %q", w.Code, w.Header().Get("Content-Type"))
	}
	got := text(w.Body.String())
	for _, want := range []string{
		"Thanks for ordering automatic draft on customer.order.paid intercom_inapp",
		"Welcome codes Welcome gift manual scheduled 10:00 segment From Intercom intercom_inapp, intercom_email Edit Cancel",
		"Spring sale manual done segment From Intercom intercom_inapp, intercom_email",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(w.Body.String(), `data-remaining-ms="600000"`) || !strings.Contains(w.Body.String(), `title="sends at 2026-12-01 09:20:00 UTC"`) {
		t.Errorf("countdown attributes missing:\n%s", w.Body.String())
	}
	// The countdown moves with the clock.
	f.clk.Advance(61*time.Second + 500*time.Millisecond)
	if got := text(f.do(http.MethodGet, "/", nil).Body.String()); !strings.Contains(got, "scheduled 08:59 segment") {
		t.Errorf("after 61.5s the countdown does not read 08:59:\n%s", got)
	}
}

func TestLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	read := func() map[string]map[string]any {
		t.Helper()
		w := f.do(http.MethodGet, "/api/live", nil)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, %q", w.Code, w.Header().Get("Content-Type"))
		}
		var out struct{ Distributions []map[string]any }
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		byID := map[string]map[string]any{}
		for _, d := range out.Distributions {
			byID[d["id"].(string)] = d
		}
		return byID
	}
	live := read()
	if s := live[f.scheduled.ID]; s["status"] != "scheduled" || s["countdown"] != "10:00" || s["remaining_ms"] != 600000.0 || s["open"] != true {
		t.Errorf("scheduled: %v", s)
	}
	if d := live[f.finished.ID]; d["status"] != "done" || d["open"] != false || d["remaining_ms"] != nil {
		t.Errorf("finished: %v", d)
	}
	f.clk.Advance(4 * time.Minute)
	if s := read()[f.scheduled.ID]; s["countdown"] != "06:00" || s["remaining_ms"] != 360000.0 {
		t.Errorf("4 minutes later: %v", s)
	}
}

func TestReportPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{PageSize: 3})
	path := "/distributions/" + f.finished.ID
	w := f.do(http.MethodGet, path, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	got := text(w.Body.String())
	for _, want := range []string{
		"Spring sale", "Status done", "4 recipients, 8 deliveries",
		"sent 5 skipped 2 failed 1 unknown 0 canceled 0 to process 0",
		"Why skipped customer has no email 2",
		"Why failed " + distribution.ReasonNoContact,
		"Retry failed",
		"Next page",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	// Bars are SVG rects scaled to the largest count (sent: 5 -> 240px).
	if !strings.Contains(w.Body.String(), `<rect class="sent" width="240"`) || !strings.Contains(w.Body.String(), `<rect class="failed" width="48"`) {
		t.Errorf("chart bars:\n%s", w.Body.String())
	}
	if strings.Contains(got, "Edit") || strings.Contains(w.Body.String(), "/cancel") {
		t.Error("Edit or Cancel offered on a finished distribution")
	}

	// Paging: 8 deliveries, 3 per page.
	var all []string
	for page, next := 0, path; next != ""; page++ {
		body := f.do(http.MethodGet, next, nil).Body.String()
		rows := regexp.MustCompile(`<td class="customer">`).FindAllStringIndex(body, -1)
		all = append(all, regexp.MustCompile(`<span class="state state-(\w+)">`).FindAllString(body, -1)...)
		m := regexp.MustCompile(`href="([^"]*)" rel="next"`).FindStringSubmatch(body)
		next = ""
		if m != nil {
			next = html.UnescapeString(m[1])
		}
		if want := min(3, 8-page*3); len(rows) != want {
			t.Errorf("page %d: %d rows, want %d", page, len(rows), want)
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
	}
	if len(all) != 8 {
		t.Errorf("%d deliveries over all pages, want 8", len(all))
	}

	// Filtered by state.
	failed := text(f.do(http.MethodGet, path+"?state=failed", nil).Body.String())
	if !strings.Contains(failed, "Dan u4 intercom_inapp failed "+distribution.ReasonNoContact) || strings.Contains(failed, "Ann u1") {
		t.Errorf("failed filter:\n%s", failed)
	}
	if w := f.do(http.MethodGet, path+"?state=bogus", nil); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `state &#34;bogus&#34;`) {
		t.Errorf("bad state: %d\n%s", w.Code, w.Body.String())
	}
	if w := f.do(http.MethodGet, "/distributions/distr_missing", nil); w.Code != http.StatusNotFound {
		t.Errorf("missing distribution: %d", w.Code)
	}
}

// TestCustomerNameEscaped: a customer named like an HTML tag shows as
// text everywhere it appears.
func TestCustomerNameEscaped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	// Distribution names and reasons are user data too.
	d := f.create(distribution.Distribution{Name: `"><script>alert(2)</script>`, Audience: distribution.Audience{CustomerID: "u3"},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi"}}})
	for _, path := range []string{"/", "/distributions/" + f.finished.ID, "/distributions/" + d.ID, "/distributions/" + d.ID + "/edit"} {
		body := f.do(http.MethodGet, path, nil).Body.String()
		for _, raw := range []string{"<img", "<script>alert"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s contains raw %q", path, raw)
			}
		}
	}
	body := f.do(http.MethodGet, "/distributions/"+f.finished.ID, nil).Body.String()
	if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the customer's name is not shown escaped:\n%s", body)
	}
}

func TestUsagePage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	for range 3 {
		if err := f.m.CountInbound(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := text(f.do(http.MethodGet, "/usage", nil).Body.String())
	for _, want := range []string{
		"Messages sent Intercom webhook (message) limit 5 none unlimited",
		"Calls from Intercom Intercom API limit 3 none unlimited",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("usage lacks %q:\n%s", want, got)
		}
	}
}

// TestMounting: under http.StripPrefix (with or without the trailing
// slash) or Config.Prefix, links and redirects stay under the prefix.
func TestMounting(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dashboard.Config{})
	withPrefix, err := dashboard.New(f.m, dashboard.Config{Authorize: allowAll, Now: f.clk.Now, Prefix: "/admin/codes"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"StripPrefix", http.StripPrefix("/admin/codes", f.h)},
		{"StripPrefix with slash", http.StripPrefix("/admin/codes/", f.h)},
		{"Prefix", withPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle("/admin/codes/", tc.h)
			w := serve(mux, http.MethodGet, "/admin/codes/", nil)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			body := w.Body.String()
			for _, want := range []string{
				`href="/admin/codes/distributions/` + f.finished.ID + `"`,
				`action="/admin/codes/distributions/` + f.scheduled.ID + `/cancel"`,
				`src="/admin/codes/static/dashboard.js?v=`,
				`data-base="/admin/codes"`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if w := serve(mux, http.MethodGet, "/admin/codes/distributions/"+f.finished.ID, nil); w.Code != http.StatusOK {
				t.Errorf("report: %d", w.Code)
			}
			w = serve(mux, http.MethodPost, "/admin/codes/distributions/"+f.auto.ID+"/activate", nil)
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/codes/distributions/"+f.auto.ID+"?done=activated" {
				t.Errorf("activate: %d, Location %q", w.Code, w.Header().Get("Location"))
			}
			if _, err := f.m.Pause(f.ctx, f.auto.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
	if w := serve(withPrefix, http.MethodGet, "/elsewhere/", nil); w.Code != http.StatusNotFound {
		t.Errorf("outside Prefix: %d", w.Code)
	}
	if w := serve(withPrefix, http.MethodGet, "/admin/codes", nil); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/admin/codes/" {
		t.Errorf("Prefix without slash: %d %q", w.Code, w.Header().Get("Location"))
	}
}
