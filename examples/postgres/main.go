// Command postgres runs the quickstart flow against PostgreSQL: it
// migrates a schema, imports customers from a CSV file, builds the
// segment of customers who came from Intercom, creates a campaign of
// unique codes (stored in PostgreSQL), and sends a manual distribution
// with an Intercom in-app message and an email through a fake Intercom
// (intercomtest), with the durable scheduler. It prints what Intercom
// received and the distribution's report.
//
//	go run ./examples/postgres -dsn 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// The DSN defaults to $DATABASE_URL. Everything is written to the schema
// named by -schema (default codedrop_example), which is dropped and
// created again at the start: do not point it at a schema you use.
// Real distributions wait 10 minutes before sending; the example
// shortens that to 2 seconds.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store/postgres"
)

//go:embed customers.csv
var customersCSV []byte

// delay replaces the 10-minute manual delay.
const delay = 2 * time.Second

func main() {
	dsn := flag.String("dsn", os.Getenv("DATABASE_URL"), "PostgreSQL connection string (default $DATABASE_URL)")
	schema := flag.String("schema", "codedrop_example", "schema to (re)create and use")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *dsn, *schema); err != nil {
		fmt.Fprintln(os.Stderr, "postgres example:", err)
		os.Exit(1)
	}
}

// run runs the example in schema (dropped and created again first).
func run(ctx context.Context, out io.Writer, dsn, schema string) error {
	if dsn == "" {
		return errors.New("no database: pass -dsn or set DATABASE_URL")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	quoted := pgx.Identifier{schema}.Sanitize()
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+quoted+" CASCADE; CREATE SCHEMA "+quoted)
	conn.Close(ctx)
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		return err
	}
	fmt.Fprintf(out, "schema %s migrated to version %d\n", schema, postgres.SchemaVersion())

	// A fake Intercom workspace whose contacts are the CSV's Intercom users.
	srv := intercomtest.NewServer(intercomtest.Contacts(
		intercom.Contact{ExternalID: "u-1001", Name: "Ann Kowalska", Email: "ann@example.com"},
		intercom.Contact{ExternalID: "u-1002", Name: "Bob Nowak", Email: "bob@example.com"},
		intercom.Contact{ExternalID: "u-1003", Name: "Cleo Wiśniewska"},
	))
	defer srv.Close()

	sched, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{PollInterval: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	st := postgres.New(pool) // also the code source: campaigns, codes and publications are rows
	m, err := distribution.NewManager(distribution.Config{
		Store:       st,
		Scheduler:   sched,
		Intercom:    srv.Client(),
		AdminID:     srv.AdminID(),
		ManualDelay: delay,
	})
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
	fmt.Fprintf(out, "distribution %q scheduled: it sends %v after the segment is synced (10 minutes outside the example)\n", d.Name, delay)
	var jobs []distribution.Job
	for len(jobs) == 0 { // the countdown is a row once the segment is synced
		if jobs, err = sched.Pending(ctx); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(out, "the countdown is a row of the jobs table: %s (survives a restart)\n", jobs[0].Kind)

	// Wait for the send to finish.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for d.Status != distribution.StatusDone && d.Status != distribution.StatusFailed {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if d, err = m.Distribution(ctx, d.ID); err != nil {
			return err
		}
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
	pubs, err := st.Codes().Publications(ctx, camp.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%d codes published (table publications)\n", len(pubs))

	r := d.Report
	fmt.Fprintf(out, "report: status %s, %d recipients, %d deliveries: sent %d, skipped %d, failed %d, unknown %d\n",
		d.Status, r.Recipients, r.Deliveries, r.Sent, r.Skipped, r.Failed, r.Unknown)
	for _, reason := range sortedKeys(r.SkipReasons) {
		fmt.Fprintf(out, "  skipped %d: %s\n", r.SkipReasons[reason], reason)
	}
	return nil
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
