package distribution_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// A manual distribution to a segment, with an in-app message carrying a
// unique code, driven by a fake clock and a fake Intercom.
func ExampleManager_Send() {
	ctx := context.Background()
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ID: "c1", ExternalID: "u1", Name: "Ann"},
		intercom.Contact{ID: "c2", ExternalID: "u2", Name: "Bob"},
	))
	defer srv.Close()
	clock := distributiontest.NewFakeClock(time.Time{})
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: clock,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.Run(runCtx)

	for _, c := range []customer.Customer{
		{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"source": "Intercom"}},
		{SourceID: "u2", Name: "Bob", Metadata: customer.Metadata{"source": "Intercom"}},
	} {
		if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{}); err != nil {
			fmt.Println(err)
			return
		}
	}
	seg, _ := m.CreateSegment(ctx, segment.Segment{Name: "From Intercom", Type: segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`)})
	camp, _ := m.CreateCampaign(ctx, codes.Campaign{Name: "Welcome", Codes: []string{"WELCOME-0001", "WELCOME-0002"}})
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name:     "Welcome codes",
		Audience: distribution.Audience{SegmentID: seg.ID},
		Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Hi {{customer.name}}, your code: {{voucher.code}}"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, _ = m.Send(ctx, d.ID)
	fmt.Println("status:", d.Status)
	// The segment syncs in the background; the countdown starts when it
	// is synced.
	if err := distributiontest.WaitIdle(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	d, _ = m.Distribution(ctx, d.ID)
	fmt.Println("sends in:", d.SendAt.Sub(clock.Now()))

	clock.Advance(10 * time.Minute)
	if d, err = distributiontest.WaitFor(ctx, m, d.ID, distribution.StatusDone); err != nil {
		fmt.Println(err)
		return
	}
	// Each customer got one of the two codes (which one depends on the
	// order of the concurrent sends).
	var got []string
	for _, msg := range srv.Messages() {
		got = append(got, msg.To.ID+": "+strings.NewReplacer("0001", "000X", "0002", "000X").Replace(msg.Body))
	}
	sort.Strings(got)
	for _, s := range got {
		fmt.Println(s)
	}
	fmt.Printf("%s: sent %d, skipped %d, failed %d\n", d.Status, d.Report.Sent, d.Report.Skipped, d.Report.Failed)
	// Output:
	// status: scheduled
	// sends in: 10m0s
	// c1: Hi Ann, your code: WELCOME-000X
	// c2: Hi Bob, your code: WELCOME-000X
	// done: sent 2, skipped 0, failed 0
}
