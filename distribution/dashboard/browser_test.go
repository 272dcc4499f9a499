package dashboard_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/dashboard"
)

// chromium finds a Chromium to drive: $CODEDROP_CHROMIUM, or Debian's
// chromium (apt-get install chromium), or another usual name.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CODEDROP_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found: install Debian's chromium (apt-get install -y chromium) or set CODEDROP_CHROMIUM to run the browser test")
	return ""
}

// browser starts a headless Chromium with a fresh profile and returns a
// tab's context (ended at cleanup), the dialogs the pages opened and the
// errors they reported (uncaught exceptions, CSP violations, console
// errors).
func browser(t *testing.T) (ctx context.Context, problems func() []string) {
	t.Helper()
	exe := chromium(t)
	profile := t.TempDir() // removed after the browser is stopped (cleanups run last-in first-out)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab); err != nil { // starts the browser, for as long as tab lives
		t.Fatalf("starting %s: %v", exe, err)
	}
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	t.Cleanup(cancel)

	var mu sync.Mutex
	var seen []string
	note := func(s string) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			note(fmt.Sprintf("a %s dialog opened: %q", ev.Type, ev.Message))
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError || m.Source == "security" || m.Source == "violation" {
				note("console: " + m.String())
			}
		}
	}()
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// TestBrowser drives the dashboard in headless Chromium: the countdown
// moves, Cancel stops a scheduled distribution so nothing is sent, and a
// customer named like an HTML tag reads as text with no dialog.
func TestBrowser(t *testing.T) {
	ctx, problems := browser(t)
	f := newFixture(t, dashboard.Config{InsecureLocalNoAuth: true, PollInterval: 100 * time.Millisecond})
	srv := httptest.NewServer(f.h) // 127.0.0.1: InsecureLocalNoAuth admits it
	t.Cleanup(srv.Close)

	countdown := `[data-countdown="` + f.scheduled.ID + `"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(countdown))); err != nil {
		t.Fatal(err)
	}
	first, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(countdown)))
	if err != nil {
		t.Fatal(err)
	}
	if first != "10:00" && first != "09:59" {
		t.Errorf("countdown reads %q, want 10:00", first)
	}

	// Four minutes pass on the Manager's clock: the page's script (not a
	// reload) shows the new time left.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(4 * time.Minute)
	moved, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(function(){ var t = document.querySelector('`+countdown+`').textContent; return /^0[56]:\d\d$/.test(t) && t; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("the countdown did not move to about 06:00: %v", err)
	}
	if reloaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded !== true`)); err != nil || reloaded {
		t.Errorf("the page reloaded (%v) to move the countdown", err)
	}
	t.Logf("countdown: %s -> %s", first, moved)

	// Cancel the scheduled distribution from the list.
	cancelButton := `form[action="/distributions/` + f.scheduled.ID + `/cancel"] button`
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(cancelButton)), chromedp.WaitVisible(chromedp.CSS(`p.flash`))); err != nil {
		t.Fatal(err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`p.flash`)))
	if err != nil {
		t.Fatal(err)
	}
	if flash != "Canceled: nothing will be sent." {
		t.Errorf("flash %q", flash)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-status="`+f.scheduled.ID+`"]`)))
	if err != nil || status != "canceled" {
		t.Errorf("status on the page %q (%v), want canceled", status, err)
	}
	before := f.sent()
	f.clk.Set(f.scheduled.SendAt.Add(time.Minute))
	f.idle()
	if d := f.get(f.scheduled.ID); d.Status != distribution.StatusCanceled || d.Report.Deliveries != 0 {
		t.Errorf("after its send time: %s with %d deliveries", d.Status, d.Report.Deliveries)
	}
	if n := f.sent(); n != before {
		t.Errorf("Intercom received %d messages after the cancel", n-before)
	}

	// The finished distribution's deliveries name the customer as text.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/distributions/"+f.finished.ID), chromedp.WaitVisible(chromedp.CSS(`table.deliveries`))); err != nil {
		t.Fatal(err)
	}
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('td.customer')).map(td => td.firstChild.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range names {
		found = found || strings.TrimSpace(n) == xssName
	}
	if !found {
		t.Errorf("no customer named %q on the page; names: %q", xssName, names)
	}
	imgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('img').length`))
	if err != nil || imgs != 0 {
		t.Errorf("%d img elements on the page (%v)", imgs, err)
	}
	// Every page loads with no script error or CSP violation.
	for _, path := range []string{"/", "/automatic", "/segments", "/usage", "/distributions/" + f.auto.ID + "/edit"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS(`main h1`))); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	for _, p := range problems() {
		t.Error(p)
	}
}
