package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestRun(t *testing.T) {
	dsn := os.Getenv("CODEDROP_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("CODEDROP_TEST_POSTGRES_DSN is not set; skipping the PostgreSQL example")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "codedrop_example_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	var out bytes.Buffer
	if err := run(context.Background(), &out, dsn, schema); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := regexp.MustCompile(`WELCOME-[A-Z]{4}`).ReplaceAllString(out.String(), "WELCOME-XXXX")
	got = regexp.MustCompile(`codedrop_example_test_[0-9a-f]+`).ReplaceAllString(got, "SCHEMA")
	got = regexp.MustCompile(`migrated to version \d+`).ReplaceAllString(got, "migrated to version N")
	want := `schema SCHEMA migrated to version N
imported 4 customers (0 failed)
distribution "Welcome codes" scheduled: it sends 2s after the segment is synced (10 minutes outside the example)
the countdown is a row of the jobs table: send (survives a restart)

Intercom received 5 messages:
  Ann Kowalska     email  WELCOME-XXXX
  Ann Kowalska     inapp  WELCOME-XXXX
  Bob Nowak        email  WELCOME-XXXX
  Bob Nowak        inapp  WELCOME-XXXX
  Cleo Wiśniewska  inapp  WELCOME-XXXX

3 codes published (table publications)
report: status done, 3 recipients, 6 deliveries: sent 5, skipped 1, failed 0, unknown 0
  skipped 1: customer has no email
`
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunNeedsDSN(t *testing.T) {
	if err := run(context.Background(), &bytes.Buffer{}, "", "x"); err == nil {
		t.Fatal("run without a DSN succeeded")
	}
}
