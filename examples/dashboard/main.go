// Command dashboard serves codedrop's dashboard (package
// distribution/dashboard), offline, over a Manager seeded against a fake
// Intercom (intercomtest): customers (one of them named like an HTML tag,
// which the pages show as text), a segment, a finished distribution with
// skipped and failed deliveries, a scheduled one counting down its ten
// minutes, and an active automatic one. It prints the URL of the
// distributions page.
//
//	go run ./examples/dashboard [-addr 127.0.0.1:8080]
//
// The dashboard runs with InsecureLocalNoAuth: it answers loopback
// requests only. A host mounts it with an Authorize function instead (see
// the package doc).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/dashboard"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (loopback: the example has no login)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

// run seeds a Manager, serves its dashboard on addr and prints the URL;
// it returns when ctx ends.
func run(ctx context.Context, addr string, out io.Writer) error {
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ExternalID: "u-1001", Name: "Ann Kowalska", Email: "ann@example.com", Role: intercom.RoleUser},
		intercom.Contact{ExternalID: "u-1002", Name: "Bob Nowak", Role: intercom.RoleUser},
		intercom.Contact{ExternalID: "u-1003", Name: "Cleo Wiśniewska", Email: "cleo@example.com", Role: intercom.RoleUser},
		intercom.Contact{ExternalID: "u-1004", Name: "<img src=x onerror=alert(1)>", Email: "mallory@example.com", Role: intercom.RoleUser},
	))
	defer srv.Close()

	// A fake clock lets the finished distribution skip its ten minutes;
	// afterwards it follows the real time, so the countdown runs live.
	clock := distributiontest.NewFakeClock(time.Now().Add(-distribution.DefaultManualDelay - time.Minute))
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID(), Clock: clock,
		Limits: distribution.Limits{
			Messages: distribution.Limit{Max: 1000, Period: distribution.PeriodDay},
			API:      distribution.Limit{Max: 10000, Period: distribution.PeriodDay},
		},
	})
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()

	if err := seed(ctx, m, clock); err != nil {
		return err
	}
	follow := time.NewTicker(200 * time.Millisecond)
	defer follow.Stop()
	go func() {
		for {
			select {
			case <-runCtx.Done():
				return
			case now := <-follow.C:
				clock.Set(now)
			}
		}
	}()

	h, err := dashboard.New(m, dashboard.Config{InsecureLocalNoAuth: true, Now: clock.Now})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(out, "codedrop dashboard (loopback only, no login): http://%s/\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return err
	}
	return ctx.Err()
}

// seed adds the customers, the segment, a campaign and the distributions.
func seed(ctx context.Context, m *distribution.Manager, clock *distributiontest.FakeClock) error {
	for _, c := range []customer.Customer{
		{SourceID: "u-1001", Name: "Ann Kowalska", Email: "ann@example.com"},
		{SourceID: "u-1002", Name: "Bob Nowak"}, // no email: his email is skipped
		{SourceID: "u-1003", Name: "Cleo Wiśniewska", Email: "cleo@example.com"},
		{SourceID: "u-1004", Name: "<img src=x onerror=alert(1)>", Email: "mallory@example.com"},
		{SourceID: "u-1005", Name: "Dan Lis"}, // not in Intercom: his in-app message fails
	} {
		c.Metadata = customer.Metadata{"source": "Intercom"}
		if _, err := m.UpsertCustomer(ctx, c, customer.UpsertOptions{}); err != nil {
			return err
		}
	}
	seg, err := m.CreateSegment(ctx, segment.Segment{Name: "From Intercom", Type: segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`)})
	if err != nil {
		return err
	}
	camp, err := m.CreateCampaign(ctx, codes.Campaign{Name: "Welcome",
		Code: codes.CodeConfig{Pattern: "WELCOME-####", Charset: codes.CharsetUppercase}})
	if err != nil {
		return err
	}
	channels := []distribution.ChannelMessage{
		{Channel: distribution.IntercomInApp, Body: `Hi {{customer.name | default: "there"}}, your code: {{voucher.code}}`},
		{Channel: distribution.IntercomEmail, Subject: "A gift", Body: "<p>Your code: <b>{{voucher.code}}</b></p>"},
	}

	// Finished: sent ten minutes ago (of the fake clock).
	done, err := m.CreateDistribution(ctx, distribution.Distribution{Name: "Spring sale", Purpose: "Spring promotion",
		Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID, Channels: channels})
	if err != nil {
		return err
	}
	if _, err := m.Send(ctx, done.ID); err != nil {
		return err
	}
	if _, err := waitFor(ctx, m, done.ID, func(d distribution.Distribution) bool { return !d.SendAt.IsZero() }); err != nil {
		return err
	}
	clock.Advance(distribution.DefaultManualDelay)
	if _, err := waitFor(ctx, m, done.ID, func(d distribution.Distribution) bool { return d.Status == distribution.StatusDone }); err != nil {
		return err
	}
	clock.Set(time.Now())

	// Scheduled: counts down ten minutes from now.
	welcome, err := m.CreateDistribution(ctx, distribution.Distribution{Name: "Welcome codes", Purpose: "Welcome gift for Intercom users",
		Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID, Channels: channels})
	if err != nil {
		return err
	}
	if _, err := m.Send(ctx, welcome.ID); err != nil {
		return err
	}
	if _, err := waitFor(ctx, m, welcome.ID, func(d distribution.Distribution) bool { return !d.SendAt.IsZero() }); err != nil {
		return err
	}

	// Automatic: thanks each paid order with a code; one order came in.
	thanks, err := m.CreateDistribution(ctx, distribution.Distribution{Name: "Thanks for ordering", Mode: distribution.Automatic,
		Trigger: distribution.Trigger{Event: distribution.EventOrderPaid}, Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Thanks for order {{order.id}}: {{voucher.code}}"}}})
	if err != nil {
		return err
	}
	if _, err := m.Activate(ctx, thanks.ID); err != nil {
		return err
	}
	return m.HandleEvent(ctx, distribution.Event{ID: "evt_1", Type: distribution.EventOrderPaid, CustomerID: "u-1001",
		Order: &distribution.Order{ID: "ord_1", Amount: 4990}})
}

// waitFor waits (on the Manager's changes, for up to 10 seconds) until
// the distribution satisfies cond.
func waitFor(ctx context.Context, m *distribution.Manager, id string, cond func(distribution.Distribution) bool) (distribution.Distribution, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d distribution.Distribution
	err := distributiontest.WaitUntil(ctx, m, func() bool {
		var err error
		d, err = m.Distribution(ctx, id)
		return err == nil && cond(d)
	})
	if err != nil {
		return d, fmt.Errorf("distribution %q: %w", d.Name, err)
	}
	return d, nil
}
