package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `Intercom received:
  to ic-ann: Thanks for order A-1 (120 PLN), Ann Kowalska! 10% off next time: THANKS-A1
  to ic-ann: Thanks for order A-2 (80 PLN), Ann Kowalska! 10% off next time: THANKS-B2
  to ic-bob: Thanks for order B-1 (35.5 PLN), Bob Nowak! 10% off next time: THANKS-C3
  to ic-ann: Ann Kowalska, you are in 3 orders: free shipping from now on.
  to ic-ann: Thanks for order A-3 (40 PLN), Ann Kowalska! 10% off next time: THANKS-D4
Order summaries:
  Ann Kowalska: 3 orders, 240.00 total, 80.00 average, last 40.00 on 2026-05-04 15:00:00
  Bob Nowak: 1 orders, 35.50 total, 35.50 average, last 35.50 on 2026-05-04 14:00:00
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}
