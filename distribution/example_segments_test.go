package distribution_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// synced waits until segment id of m is synced (waking on m's changes,
// not polling).
func synced(ctx context.Context, m *distribution.Manager, id string) error {
	return distributiontest.WaitUntil(ctx, m, func() bool {
		s, err := m.Segment(ctx, id)
		return err == nil && s.SyncStatus == segment.Synced
	})
}

// exampleManager is a Manager on a memory store with three customers.
func exampleManager(ctx context.Context) *distribution.Manager {
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory()})
	if err != nil {
		panic(err)
	}
	for _, c := range []customer.Customer{
		{SourceID: "ann", Metadata: customer.Metadata{"source": "Intercom", "ltv": 40.0}},
		{SourceID: "bob", Metadata: customer.Metadata{"source": "Web", "ltv": 900.0}},
		{SourceID: "cy", Metadata: customer.Metadata{"source": "Intercom", "ltv": 250.0}},
	} {
		if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{}); err != nil {
			panic(err)
		}
	}
	return m
}

// sourceIDs returns a segment's members as source ids.
func sourceIDs(ctx context.Context, m *distribution.Manager, segID string) []string {
	ids, _ := m.SegmentMembers(ctx, segID)
	var out []string
	for _, id := range ids {
		c, _ := m.Customer(ctx, id)
		out = append(out, c.SourceID)
	}
	return out
}

// A segment gets a new rule in place: it syncs again (distributions and
// triggers keep pointing at it), and the Voucherify filter comes back as
// written.
func ExampleManager_UpdateSegment() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := exampleManager(ctx)
	seg, err := m.CreateSegment(ctx, segment.Segment{Name: "From Intercom", Type: segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`)})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := synced(ctx, m, seg.ID); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("before:", sourceIDs(ctx, m, seg.ID))

	rule := `{"junction":"and","metadata.ltv":{"conditions":{"$more_than":[100]}},"metadata.source":{"conditions":{"$is_not":["Web"]}}}`
	seg.Name = "Valuable"
	seg.Filter = segment.MustParseFilter(rule)
	seg, err = m.UpdateSegment(ctx, seg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("status:", seg.SyncStatus)
	if err := synced(ctx, m, seg.ID); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after:", sourceIDs(ctx, m, seg.ID))
	got, _ := m.Segment(ctx, seg.ID)
	fmt.Println("filter unchanged:", got.Filter.String() == rule)

	// Bad input names the field and changes nothing.
	seg.Filter = segment.MustParseFilter(`{"junction":"and","metadata.ltv":{"conditions":{"$more_than":["lots"]}}}`)
	_, err = m.UpdateSegment(ctx, seg)
	var fe *segment.FilterError
	if errors.As(err, &fe) {
		fmt.Println(errors.Is(err, distribution.ErrInvalid), fe.Path, fe.Operator, fe.Err)
	}
	s, _ := m.Segment(ctx, seg.ID)
	fmt.Println("still:", s.Name, s.SyncStatus)
	// Output:
	// before: [ann cy]
	// status: syncing
	// after: [cy]
	// filter unchanged: true
	// true metadata.ltv $more_than want a number, got "lots"
	// still: Valuable synced
}

// Segments lists every segment with its sync status and progress, as a
// dashboard shows them.
func ExampleManager_Segments() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := exampleManager(ctx)
	for _, s := range []segment.Segment{
		{Name: "Big spenders", Type: segment.Passive, Expression: `metadata.ltv > 100`},
		{Name: "VIP", Type: segment.Static, CustomerIDs: []string{"bob"}},
	} {
		if _, err := m.CreateSegment(ctx, s); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := distributiontest.WaitIdle(ctx, m); err != nil { // both are synced
		fmt.Println(err)
		return
	}
	list, err := m.Segments(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range list {
		n, _ := m.SegmentMembers(ctx, s.ID)
		fmt.Printf("%s (%s): %s, %d of %d customers checked, %d members\n", s.Name, s.Type, s.SyncStatus, s.SyncChecked, s.SyncTotal, len(n))
	}
	// Unordered output:
	// Big spenders (passive): synced, 3 of 3 customers checked, 2 members
	// VIP (static): synced, 0 of 0 customers checked, 1 members
}

// An Intercom webhook endpoint that keeps the Manager's customers current:
// a contact created in Intercom becomes a customer (and joins the
// segments it matches); a repeated delivery is counted but not handled
// twice.
func ExampleManager_WebhookConfig() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory()})
	if err != nil {
		fmt.Println(err)
		return
	}
	seg, _ := m.CreateSegment(ctx, segment.Segment{Name: "From Intercom", Type: segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`)})
	if err := synced(ctx, m, seg.ID); err != nil {
		fmt.Println(err)
		return
	}

	h, err := intercom.NewWebhookHandler(m.WebhookConfig("client-secret"))
	if err != nil {
		fmt.Println(err)
		return
	}
	// http.Handle("/webhooks/intercom", h) in a host; here, two deliveries
	// of one notification as Intercom would send it.
	body := intercomtest.Notification("notif_1", "contact.user.created",
		intercom.Contact{ID: "6543", Role: intercom.RoleUser, ExternalID: "user-42", Name: "Ann"})
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, intercomtest.WebhookRequest("/webhooks/intercom", "client-secret", body))
		fmt.Println("status", w.Code)
	}
	c, _ := m.Customer(ctx, "user-42")
	fmt.Println(c.Name, c.Metadata[intercom.MetaSource], c.Metadata[intercom.MetaIntercomID])
	fmt.Println("members:", sourceIDs(ctx, m, seg.ID))
	u, _ := m.Usage(ctx)
	fmt.Println("inbound calls:", u.API.Used)
	// Output:
	// status 200
	// status 200
	// Ann Intercom 6543
	// members: [user-42]
	// inbound calls: 2
}
