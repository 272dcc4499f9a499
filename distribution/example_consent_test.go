package distribution_test

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// Check says whether a customer may get a message under a consent policy:
// a stable reason a host can count, and the specifics (the missing
// consent's id) apart.
func ExampleConsentPolicy_Check() {
	policy := distribution.ConsentPolicy{Required: []string{"cnst_newsletter", "cnst_sms"}}
	for _, c := range []customer.Customer{
		{SourceID: "ann", Consents: customer.Consents{Status: map[string]customer.ConsentStatus{
			"cnst_newsletter": {Granted: true}, "cnst_sms": {Granted: true}}}},
		{SourceID: "bob", Consents: customer.Consents{Status: map[string]customer.ConsentStatus{
			"cnst_newsletter": {Granted: true}}}},
		{SourceID: "cy", Consents: customer.Consents{Unsubscribed: true}},
	} {
		reason, detail := policy.Check(&c)
		fmt.Printf("%s: %q %q\n", c.SourceID, reason, detail)
	}
	reason, _ := distribution.ConsentPolicy{Disabled: true}.Check(&customer.Customer{Consents: customer.Consents{Unsubscribed: true}})
	fmt.Printf("disabled: %q\n", reason)
	// Output:
	// ann: "" ""
	// bob: "consent not granted" "cnst_sms"
	// cy: "customer unsubscribed" ""
	// disabled: ""
}

// A distribution's report counts skipped deliveries by stable reason
// (Report.SkipReasons), so a host can branch on or chart them; each
// skipped delivery keeps its specifics in ReasonDetail, such as the
// consent the customer has not granted.
func ExampleReport() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clock := distributiontest.NewFakeClock(time.Time{})
	sms := distributiontest.NewChannel("sms")
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Clock: clock, Channels: []distribution.Channel{sms},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.Run(runCtx)

	news, err := m.CreateConsent(ctx, distribution.Consent{Name: "Newsletter"})
	if err != nil {
		fmt.Println(err)
		return
	}
	granted := customer.Consents{Status: map[string]customer.ConsentStatus{news.ID: {Granted: true}}}
	for _, c := range []customer.Customer{
		{SourceID: "ann", Consents: granted},
		{SourceID: "bob"},
		{SourceID: "cy", Consents: customer.Consents{Unsubscribed: true}},
		{SourceID: "dee"},
	} {
		if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{}); err != nil {
			fmt.Println(err)
			return
		}
	}
	seg, _ := m.CreateSegment(ctx, segment.Segment{Name: "Everyone", Type: segment.Static, CustomerIDs: []string{"ann", "bob", "cy", "dee"}})
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name:     "Newsletter offer",
		Audience: distribution.Audience{SegmentID: seg.ID},
		Consents: distribution.ConsentPolicy{Required: []string{news.ID}},
		Channels: []distribution.ChannelMessage{{Channel: "sms", Body: "20% off this week"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.Send(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}
	if err := distributiontest.WaitIdle(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	clock.Advance(distribution.DefaultManualDelay)
	if d, err = distributiontest.WaitFor(ctx, m, d.ID, distribution.StatusDone); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("sent %d, skipped %d\n", d.Report.Sent, d.Report.Skipped)
	reasons := make([]string, 0, len(d.Report.SkipReasons))
	for r, n := range d.Report.SkipReasons {
		reasons = append(reasons, fmt.Sprintf("%s: %d", r, n))
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Println(r)
	}
	var skipped []string
	for dl := range m.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID, States: []distribution.DeliveryState{distribution.DeliverySkipped}}) {
		c, _ := m.Customer(ctx, dl.CustomerID)
		skipped = append(skipped, fmt.Sprintf("%s: %s (detail is the consent's id: %v)", c.SourceID, dl.Reason, dl.ReasonDetail == news.ID))
	}
	sort.Strings(skipped)
	for _, s := range skipped {
		fmt.Println(s)
	}
	// Output:
	// sent 1, skipped 3
	// consent not granted: 2
	// customer unsubscribed: 1
	// bob: consent not granted (detail is the consent's id: true)
	// cy: customer unsubscribed (detail is the consent's id: false)
	// dee: consent not granted (detail is the consent's id: true)
}
