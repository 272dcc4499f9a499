// Command quickstart runs codedrop end to end, offline: it imports
// customers from a CSV file, builds the segment of customers who came from
// Intercom, creates a campaign of unique codes and a manual distribution
// with an Intercom in-app message and an email, sends it, and prints what
// a fake Intercom (intercomtest) received and the distribution's report.
//
//	go run ./examples/quickstart
//
// Real distributions wait 10 minutes before sending so they can still be
// edited or canceled; the quickstart shortens that to 2 seconds.
//
// With -metrics it also prints the OpenTelemetry metrics the Manager and
// the Intercom client reported (read with the SDK's manual reader; the
// library itself uses only the API):
//
//	go run ./examples/quickstart -metrics
package main

import (
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

//go:embed customers.csv
var customersCSV []byte

// delay replaces the 10-minute manual delay.
const delay = 2 * time.Second

func main() {
	metrics := flag.Bool("metrics", false, "print the OpenTelemetry metrics at the end")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *metrics); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run runs the quickstart, writing to out; showMetrics prints the
// OpenTelemetry metrics at the end.
func run(ctx context.Context, out io.Writer, showMetrics bool) error {
	// A fake Intercom workspace whose contacts are the CSV's Intercom users.
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ExternalID: "u-1001", Name: "Ann Kowalska", Email: "ann@example.com"},
		intercom.Contact{ExternalID: "u-1002", Name: "Bob Nowak", Email: "bob@example.com"},
		intercom.Contact{ExternalID: "u-1003", Name: "Cleo Wiśniewska"},
	))
	defer srv.Close()

	cfg := distribution.Config{
		Store:       store.NewMemory(),
		AdminID:     srv.AdminID(),
		ManualDelay: delay,
	}
	icCfg := srv.Config()
	var reader *sdkmetric.ManualReader
	if showMetrics {
		// An OpenTelemetry SDK whose metrics are read on demand; a host
		// would export them (OTLP, Prometheus) instead.
		reader = sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		defer mp.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // nothing to flush: the reader is manual
		cfg.MeterProvider, icCfg.MeterProvider = mp, mp
	}
	ic, err := intercom.NewClient(icCfg)
	if err != nil {
		return err
	}
	cfg.Intercom = ic
	m, err := distribution.NewManager(cfg)
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()

	rep, err := m.ImportCustomers(ctx, bytes.NewReader(customersCSV), customer.ImportOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "imported %d customers (%d failed)\n", rep.Done, rep.Failed)

	seg, err := m.CreateSegment(ctx, segment.Segment{
		Name:   "From Intercom",
		Type:   segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`),
	})
	if err != nil {
		return err
	}
	camp, err := m.CreateCampaign(ctx, codes.Campaign{
		Name: "Welcome",
		Code: codes.CodeConfig{Pattern: "WELCOME-####", Charset: codes.CharsetUppercase},
	})
	if err != nil {
		return err
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name:     "Welcome codes",
		Purpose:  "Welcome gift for Intercom users",
		Audience: distribution.Audience{SegmentID: seg.ID},
		Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{
			{Channel: distribution.IntercomInApp, Body: `Hi {{customer.name | default: "there"}}, your code: {{voucher.code}}`},
			{Channel: distribution.IntercomEmail, Subject: "A gift from {{campaign.name}}", Body: "<p>Your {{customer.metadata.plan}} plan code: <b>{{voucher.code}}</b></p>"},
		},
	})
	if err != nil {
		return err
	}
	if d, err = m.Send(ctx, d.ID); err != nil {
		return err
	}
	fmt.Fprintf(out, "distribution %q scheduled: it sends %v after the segment is synced (10 minutes outside the quickstart)\n", d.Name, delay)

	// Wait for the send to finish (WaitFor wakes on the Manager's changes;
	// it is not a polling loop).
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if d, err = distributiontest.WaitFor(waitCtx, m, d.ID, distribution.StatusDone); err != nil {
		return err
	}

	names := map[string]string{} // Intercom contact id -> name
	for _, src := range []string{"u-1001", "u-1002", "u-1003"} {
		if c, err := srv.Client().FindContactByExternalID(ctx, src); err == nil {
			names[c.ID] = c.Name
		}
	}
	msgs := srv.Messages()
	sort.SliceStable(msgs, func(i, j int) bool {
		return names[msgs[i].To.ID]+string(msgs[i].Type) < names[msgs[j].To.ID]+string(msgs[j].Type)
	})
	fmt.Fprintf(out, "\nIntercom received %d messages:\n", len(msgs))
	for _, msg := range msgs {
		fmt.Fprintf(out, "  %-16s %-6s %s\n", names[msg.To.ID], msg.Type, codeIn(msg.Body))
	}

	r := d.Report
	fmt.Fprintf(out, "\nreport: status %s, %d recipients, %d deliveries: sent %d, skipped %d, failed %d, unknown %d\n",
		d.Status, r.Recipients, r.Deliveries, r.Sent, r.Skipped, r.Failed, r.Unknown)
	for _, reason := range sortedKeys(r.SkipReasons) {
		fmt.Fprintf(out, "  skipped %d: %s\n", r.SkipReasons[reason], reason)
	}
	if reader != nil {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			return err
		}
		printMetrics(out, rm)
	}
	return nil
}

// printMetrics prints every data point of rm, one a line, sorted: a sum or
// gauge's value, a histogram's count and sum.
func printMetrics(out io.Writer, rm metricdata.ResourceMetrics) {
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s %d", m.Name, attrs(dp.Attributes), dp.Value))
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s %d", m.Name, attrs(dp.Attributes), dp.Value))
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s%s count %d, sum %.3f%s", m.Name, attrs(dp.Attributes), dp.Count, dp.Sum, m.Unit))
				}
			}
		}
	}
	sort.Strings(lines)
	fmt.Fprintf(out, "\nmetrics:\n")
	for _, l := range lines {
		fmt.Fprintf(out, "  %s\n", l)
	}
}

// attrs formats an attribute set as {k=v, k=v}.
func attrs(set attribute.Set) string {
	if set.Len() == 0 {
		return ""
	}
	parts := make([]string, 0, set.Len())
	for _, kv := range set.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// codeIn finds the WELCOME- code in a message body.
func codeIn(body string) string {
	i := strings.Index(body, "WELCOME-")
	if i < 0 {
		return "(no code)"
	}
	return body[i : i+len("WELCOME-####")]
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
