package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, false); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	// Codes are random; replace them before comparing.
	got := regexp.MustCompile(`WELCOME-[A-Z]{4}`).ReplaceAllString(out.String(), "WELCOME-XXXX")
	want := `imported 4 customers (0 failed)
distribution "Welcome codes" scheduled: it sends 2s after the segment is synced (10 minutes outside the quickstart)

Intercom received 5 messages:
  Ann Kowalska     email  WELCOME-XXXX
  Ann Kowalska     inapp  WELCOME-XXXX
  Bob Nowak        email  WELCOME-XXXX
  Bob Nowak        inapp  WELCOME-XXXX
  Cleo Wiśniewska  inapp  WELCOME-XXXX

report: status done, 3 recipients, 6 deliveries: sent 5, skipped 1, failed 0, unknown 0
  skipped 1: customer has no email
`
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	// Each customer's in-app message and email carry the same code.
	codes := regexp.MustCompile(`(\S+ \S+)\s+(?:email|inapp)\s+(WELCOME-[A-Z]{4})`).FindAllStringSubmatch(out.String(), -1)
	byName := map[string]map[string]bool{}
	all := map[string]bool{}
	for _, c := range codes {
		if byName[c[1]] == nil {
			byName[c[1]] = map[string]bool{}
		}
		byName[c[1]][c[2]] = true
		all[c[2]] = true
	}
	for name, cs := range byName {
		if len(cs) != 1 {
			t.Errorf("%s got %d different codes, want 1", name, len(cs))
		}
	}
	if len(all) != 3 {
		t.Errorf("%d distinct codes, want 3", len(all))
	}
}

// TestRunMetrics: -metrics prints what the Manager and the Intercom client
// reported after the quickstart's output.
func TestRunMetrics(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, true); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	_, metrics, ok := strings.Cut(out.String(), "\nmetrics:\n")
	if !ok {
		t.Fatalf("no metrics in the output:\n%s", out.String())
	}
	for _, want := range []string{
		"codedrop.deliveries.settled{codedrop.channel=intercom_email, codedrop.delivery.state=sent, codedrop.distribution.mode=manual} 2\n",
		"codedrop.deliveries.settled{codedrop.channel=intercom_email, codedrop.delivery.state=skipped, codedrop.distribution.mode=manual} 1\n",
		"codedrop.deliveries.settled{codedrop.channel=intercom_inapp, codedrop.delivery.state=sent, codedrop.distribution.mode=manual} 3\n",
		"codedrop.deliveries.waiting{codedrop.distribution.mode=manual} 0\n",
		"codedrop.send.duration{codedrop.channel=intercom_inapp, codedrop.delivery.state=sent, codedrop.distribution.mode=manual} count 3, sum ",
		"http.request.method=POST, http.response.status_code=200, server.address=127.0.0.1, ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	if !regexp.MustCompile(`codedrop.intercom.request.duration\{[^}]*url.template=/messages\} count 5, sum [0-9.]+s\n`).MatchString(metrics) {
		t.Errorf("metrics lack the 5 POST /messages calls:\n%s", metrics)
	}
}
