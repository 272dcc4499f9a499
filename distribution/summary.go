package distribution

import (
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// Order statuses, as Voucherify's.
const (
	OrderCreated   = "CREATED"
	OrderPaid      = "PAID"
	OrderCanceled  = "CANCELED"
	OrderFulfilled = "FULFILLED"
)

// OrderRecord is what the customer summary keeps of one order.
type OrderRecord struct {
	ID     string
	Status string
	Amount float64
	// CreatedAt is when the order was first seen (the order's own date
	// when the event carries one).
	CreatedAt time.Time
	// UpdatedAt is the time of the latest event about it.
	UpdatedAt time.Time
}

// SummarizeOrders computes a customer's order summary from all its orders,
// each counted once by id:
//
//   - an order counts from its first event (created, updated or paid) with
//     the amount of its latest event: an update changes the amount, never
//     the count;
//   - a canceled order (status CANCELED, from customer.order.canceled or an
//     update to that status) no longer counts: it leaves total_count,
//     total_amount and average_amount, and last_order_* fall back to the
//     latest order still counted; a later event about it with another
//     status counts it again;
//   - last_order_amount and last_order_date are those of the counted
//     order created last (ties: the greater id).
//
// Stores call it from RecordOrder.
func SummarizeOrders(orders []OrderRecord) customer.OrderSummary {
	var s customer.OrderSummary
	var last *OrderRecord
	for i := range orders {
		o := &orders[i]
		if strings.EqualFold(o.Status, OrderCanceled) {
			continue
		}
		s.TotalCount++
		s.TotalAmount += o.Amount
		if last == nil || o.CreatedAt.After(last.CreatedAt) || o.CreatedAt.Equal(last.CreatedAt) && o.ID > last.ID {
			last = o
		}
	}
	if s.TotalCount > 0 {
		s.AverageAmount = s.TotalAmount / float64(s.TotalCount)
		s.LastOrderAmount, s.LastOrderDate = last.Amount, last.CreatedAt
	}
	return s
}

// Redemption results kept by the summary.
const (
	RedemptionSucceeded  = "succeeded"
	RedemptionFailed     = "failed"
	RedemptionRolledBack = "rolled_back"
)

// RedemptionRecord is what the customer summary keeps of one redemption
// outcome.
type RedemptionRecord struct {
	ID     string
	Result string // RedemptionSucceeded, RedemptionFailed or RedemptionRolledBack
	At     time.Time
}

// SummarizeRedemptions counts a customer's redemptions by result (a
// rolled-back redemption counts as succeeded and as rolled back, as in
// Voucherify). Stores call it from RecordRedemption.
func SummarizeRedemptions(rs []RedemptionRecord) customer.RedemptionSummary {
	var s customer.RedemptionSummary
	for _, r := range rs {
		switch r.Result {
		case RedemptionSucceeded:
			s.TotalSucceeded++
		case RedemptionFailed:
			s.TotalFailed++
		case RedemptionRolledBack:
			s.TotalRolledBack++
		}
	}
	return s
}
