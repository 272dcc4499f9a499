package main

import (
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "u-1001 Ann Lee") {
		t.Fatalf("output lacks the first customer:\n%s", out.String())
	}
}
