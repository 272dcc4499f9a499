package distribution_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// NewManager needs only a Store; every other zero value is a documented
// default. A bad Config fails with ErrInvalid, naming the field.
func ExampleNewManager() {
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory()})
	fmt.Println(m != nil, err)

	_, err = distribution.NewManager(distribution.Config{
		Store:      store.NewMemory(),
		QuietHours: distribution.QuietHours{Start: "21:00", End: "8am"},
	})
	fmt.Println(errors.Is(err, distribution.ErrInvalid), err)
	// Output:
	// true <nil>
	// true distribution: Config.QuietHours.End: "8am" is not HH:MM: codedrop: invalid input
}

// ImportCustomers imports a CSV file through the Manager, so every
// imported customer is checked against the rule segments at once. Rows
// that fail are reported by line and column; the others are written.
func ExampleManager_ImportCustomers() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Clock: distributiontest.NewFakeClock(time.Time{})})
	if err != nil {
		fmt.Println(err)
		return
	}
	seg, err := m.CreateSegment(ctx, segment.Segment{Name: "Warsaw", Type: segment.AutoUpdate, Expression: `address.city == "Warsaw"`})
	if err != nil {
		fmt.Println(err)
		return
	}
	file := strings.NewReader("source_id,name,email,city\n" +
		"u1,Ann,ann@example.com,Warsaw\n" +
		"u2,Bob,bob@,Warsaw\n" +
		"u3,Cy,cy@example.com,Paris\n")
	rep, err := m.ImportCustomers(ctx, file, customer.ImportOptions{})
	if err != nil {
		fmt.Println(err) // not a CSV file, or the store failed
		return
	}
	fmt.Printf("done %d, failed %d\n", rep.Done, rep.Failed)
	for _, f := range rep.Failures {
		fmt.Println(f)
	}
	if err := distributiontest.WaitIdle(ctx, m); err != nil { // the segment's first sync
		fmt.Println(err)
		return
	}
	members, _ := m.SegmentMembers(ctx, seg.ID)
	for _, id := range members {
		c, _ := m.Customer(ctx, id)
		fmt.Println("in Warsaw:", c.SourceID, c.Name)
	}
	// Output:
	// done 2, failed 1
	// row 2 (line 3), column "email", source_id "u2": email: "bob@" is not an email address
	// in Warsaw: u1 Ann
}

// SummarizeOrders is the rule behind customer.Summary.Orders, which
// segments such as summary.orders.total_count >= 3 read: each order
// counts once with its latest amount, and a canceled one no longer
// counts.
func ExampleSummarizeOrders() {
	day := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC) }
	s := distribution.SummarizeOrders([]distribution.OrderRecord{
		{ID: "ord-1", Status: distribution.OrderPaid, Amount: 40, CreatedAt: day(1), UpdatedAt: day(1)},
		{ID: "ord-2", Status: distribution.OrderPaid, Amount: 60, CreatedAt: day(2), UpdatedAt: day(3)},
		{ID: "ord-3", Status: distribution.OrderCanceled, Amount: 500, CreatedAt: day(4), UpdatedAt: day(5)},
	})
	fmt.Println(s.TotalCount, s.TotalAmount, s.AverageAmount, s.LastOrderAmount, s.LastOrderDate.Format(time.DateOnly))
	// Output:
	// 2 100 50 60 2026-03-02
}
