// Command intercom distributes unique codes to the contacts of a real
// Intercom workspace. It syncs every contact into an in-memory store,
// builds a segment from -filter, creates a campaign and a manual
// distribution, and either previews it per recipient (the default: nothing
// is sent) or, with -send, sends it after -delay with a visible countdown
// that Ctrl-C cancels.
//
//	go run ./examples/intercom -admin-id 991267001 -body 'Hi {{customer.name}}, your code: {{voucher.code}}'
//	go run ./examples/intercom -admin-id 991267001 -filter '{"junction":"and","metadata.plan":{"conditions":{"$is":["pro"]}}}' -send
//
// The token comes from -token or $INTERCOM_ACCESS_TOKEN. The output ends
// with one line "sent N skipped M failed K", then a line per skipped or
// failed recipient with the reason.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "intercom:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type options struct {
	apiBase, token, adminID string
	filter                  string
	messageType             string
	subject, body           string
	codePattern             string
	delay                   time.Duration
	send                    bool
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("intercom", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.apiBase, "api-base", intercom.USBaseURL, "Intercom API base URL (US, EU or AU region, or a test server)")
	fs.StringVar(&o.token, "token", os.Getenv("INTERCOM_ACCESS_TOKEN"), "Intercom access token (default $INTERCOM_ACCESS_TOKEN)")
	fs.StringVar(&o.adminID, "admin-id", "", "id of the Intercom admin messages are sent from (required)")
	fs.StringVar(&o.filter, "filter", "", "segment rule: Voucherify filter JSON or an expr expression (default: every synced contact)")
	fs.StringVar(&o.messageType, "message-type", "inapp", "inapp or email")
	fs.StringVar(&o.subject, "subject", "A gift for you", "email subject (template)")
	fs.StringVar(&o.body, "body", `Hi {{customer.name | default: "there"}}, here is your code: {{voucher.code}}`, "message body (template)")
	fs.StringVar(&o.codePattern, "code-pattern", "GIFT-#####", "code pattern (# = random character); empty sends a plain message without a code")
	fs.DurationVar(&o.delay, "delay", distribution.DefaultManualDelay, "wait before sending (Ctrl-C cancels)")
	fs.BoolVar(&o.send, "send", false, "send for real; without it, print a preview per recipient and send nothing")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.token == "":
		return o, errors.New("-token (or $INTERCOM_ACCESS_TOKEN) is required")
	case o.adminID == "":
		return o, errors.New("-admin-id is required")
	case o.messageType != "inapp" && o.messageType != "email":
		return o, fmt.Errorf("-message-type %q: want inapp or email", o.messageType)
	case o.delay <= 0:
		return o, fmt.Errorf("-delay %v: must be positive", o.delay)
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	client, err := intercom.NewClient(intercom.Config{Token: o.token, BaseURL: o.apiBase})
	if err != nil {
		return err
	}
	m, err := distribution.NewManager(distribution.Config{
		Store: store.NewMemory(), Intercom: client, AdminID: o.adminID, ManualDelay: o.delay,
	})
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()

	// 1. Contacts -> customers (the Manager keeps segments current).
	prog, err := client.SyncContacts(ctx, m, intercom.SyncOptions{})
	if err != nil {
		return fmt.Errorf("syncing contacts: %w", err)
	}
	fmt.Fprintf(out, "synced %d contacts\n", prog.Contacts)

	// 2. Segment.
	seg := segment.Segment{Name: "Recipients", Type: segment.Passive}
	switch f := strings.TrimSpace(o.filter); {
	case f == "":
		seg.Filter = segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`)
	case strings.HasPrefix(f, "{"):
		if seg.Filter, err = segment.ParseFilter([]byte(f)); err != nil {
			return fmt.Errorf("-filter: %w", err)
		}
	default:
		seg.Expression = f
	}
	if seg, err = m.CreateSegment(ctx, seg); err != nil {
		return fmt.Errorf("-filter: %w", err)
	}

	// 3. Campaign and distribution.
	ch := distribution.ChannelMessage{Channel: distribution.IntercomInApp, Body: o.body}
	if o.messageType == "email" {
		ch = distribution.ChannelMessage{Channel: distribution.IntercomEmail, Subject: o.subject, Body: o.body}
	}
	d := distribution.Distribution{
		Name: "examples/intercom " + time.Now().Format(time.RFC3339), Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{ch},
	}
	if o.codePattern != "" {
		camp, err := m.CreateCampaign(ctx, codes.Campaign{Name: "examples/intercom", Type: codes.AutoUpdate,
			Code: codes.CodeConfig{Pattern: o.codePattern, Charset: "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"}})
		if err != nil {
			return fmt.Errorf("-code-pattern: %w", err)
		}
		d.Campaign = camp.ID
	}
	if d, err = m.CreateDistribution(ctx, d); err != nil {
		return err
	}
	if err := waitSynced(ctx, m, seg.ID); err != nil {
		return err
	}

	if !o.send {
		return preview(ctx, m, d, seg.ID, out)
	}
	return send(ctx, m, d, o.delay, out)
}

func waitSynced(ctx context.Context, m *distribution.Manager, segID string) error {
	for {
		s, err := m.Segment(ctx, segID)
		if err != nil {
			return err
		}
		if s.SyncStatus == segment.Synced {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// preview prints each recipient's message and sends nothing.
func preview(ctx context.Context, m *distribution.Manager, d distribution.Distribution, segID string, out io.Writer) error {
	members, err := m.SegmentMembers(ctx, segID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "preview of %d recipients (nothing is sent; add -send to send):\n", len(members))
	var skips []string
	for _, id := range members {
		c, err := m.Customer(ctx, id)
		if err != nil {
			return err
		}
		rs, err := m.Preview(ctx, d.ID, id)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Skip != "" {
				skips = append(skips, fmt.Sprintf("skipped %s: %s", who(c.SourceID, c.Name), r.Skip))
				continue
			}
			if r.Subject != "" {
				fmt.Fprintf(out, "  %s [%s] %q: %s\n", who(c.SourceID, c.Name), r.Channel, r.Subject, r.Body)
			} else {
				fmt.Fprintf(out, "  %s [%s] %s\n", who(c.SourceID, c.Name), r.Channel, r.Body)
			}
		}
	}
	fmt.Fprintf(out, "sent 0 skipped %d failed 0\n", len(skips))
	sort.Strings(skips)
	for _, s := range skips {
		fmt.Fprintln(out, s)
	}
	return nil
}

// send schedules d, shows the countdown (Ctrl-C cancels), waits for the
// sendout and prints the summary.
func send(ctx context.Context, m *distribution.Manager, d distribution.Distribution, delay time.Duration, out io.Writer) error {
	d, err := m.Send(ctx, d.ID)
	if err != nil {
		return err
	}
	for d.SendAt.IsZero() { // armed once the segment is synced
		time.Sleep(10 * time.Millisecond)
		if d, err = m.Distribution(ctx, d.ID); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "sending at %s (in %v); press Ctrl-C to cancel\n", d.SendAt.Format(time.TimeOnly), delay)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for d.Status == distribution.StatusScheduled {
		select {
		case <-ctx.Done():
			bg := context.WithoutCancel(ctx)
			if _, err := m.Cancel(bg, d.ID); err != nil {
				return fmt.Errorf("interrupted, but could not cancel: %w", err)
			}
			fmt.Fprintln(out, "\ncanceled: nothing was sent")
			return ctx.Err()
		case <-tick.C:
			if left := time.Until(d.SendAt).Round(time.Second); left > 0 {
				fmt.Fprintf(out, "\rsending in %v ", left)
			}
		case <-time.After(20 * time.Millisecond):
		}
		// Not ctx: a Ctrl-C arriving now must reach the select above
		// (and cancel the distribution), not fail this read.
		if d, err = m.Distribution(context.WithoutCancel(ctx), d.ID); err != nil {
			return err
		}
	}
	// Sending: Ctrl-C no longer cancels; wait for the end.
	for d.Status == distribution.StatusSending {
		time.Sleep(20 * time.Millisecond)
		if d, err = m.Distribution(context.WithoutCancel(ctx), d.ID); err != nil {
			return err
		}
	}
	r := d.Report
	fmt.Fprintf(out, "\nsent %d skipped %d failed %d\n", r.Sent, r.Skipped, r.Failed+r.Unknown)
	var lines []string
	for dl, err := range m.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: d.ID,
		States: []distribution.DeliveryState{distribution.DeliverySkipped, distribution.DeliveryFailed, distribution.DeliveryUnknown}}) {
		if err != nil {
			return err
		}
		c, err := m.Customer(ctx, dl.CustomerID)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s", dl.State, who(c.SourceID, c.Name), dl.Reason))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

func who(sourceID, name string) string {
	if name == "" {
		return sourceID
	}
	return sourceID + " (" + name + ")"
}
