package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
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
