// Command segment imports customers from a CSV file and prints those that a
// segment rule selects, or explains the rule for one customer.
//
//	go run ./examples/segment [-schema schema.json] -filter '<json or expr>' FILE.csv
//	go run ./examples/segment -filter '...' -explain SOURCE_ID FILE.csv
//
// The rule is Voucherify filter JSON when it starts with "{", else an
// expr-lang expression:
//
//	-filter '{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}'
//	-filter 'metadata.ltv > 100 && email endsWith "@acme.com"'
//
// It prints the matching customers' source ids, one a line, then a count.
// A rule that does not compile prints the error and exits with status 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("segment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schemaPath := fs.String("schema", "", "metadata schema `file` (JSON: {\"properties\": {...}})")
	rule := fs.String("filter", "", "the segment rule: Voucherify filter JSON, or an expr-lang expression")
	explainID := fs.String("explain", "", "explain the rule for the customer with this `source_id` instead of listing matches")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segment [-schema schema.json] -filter '<json or expr>' [-explain SOURCE_ID] FILE.csv")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *rule == "" || fs.NArg() != 1 {
		fs.Usage()
		return 2
	}

	var schema *customer.Schema
	if *schemaPath != "" {
		data, err := os.ReadFile(*schemaPath)
		if err != nil {
			fmt.Fprintln(stderr, "segment:", err)
			return 1
		}
		if schema, err = customer.ParseSchema(data); err != nil {
			fmt.Fprintf(stderr, "segment: schema %s: %v\n", *schemaPath, err)
			return 1
		}
	}

	seg := segment.Segment{Name: "example", Type: segment.Passive}
	if strings.HasPrefix(strings.TrimSpace(*rule), "{") {
		f, err := segment.ParseFilter([]byte(*rule))
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		seg.Filter = f
	} else {
		seg.Expression = *rule
	}

	st := store.NewMemory()
	eng, err := segment.NewEngine(ctx, segment.Config{Store: st, Customers: st, Evaluator: segment.DefaultEvaluator{Schema: schema}})
	if err != nil {
		fmt.Fprintln(stderr, "segment:", err)
		return 1
	}
	// Compile the rule before reading any data: a bad rule is reported at
	// once.
	seg, err = eng.Create(ctx, seg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}

	file, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "segment:", err)
		return 1
	}
	defer file.Close()
	// The same import as examples/csvimport: bad rows are reported on
	// stderr and the rest of the file is imported.
	rep, err := customer.Import(ctx, st, file, customer.ImportOptions{Schema: schema})
	if err != nil {
		fmt.Fprintf(stderr, "segment: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(stderr, "segment: %s: skipped %v\n", fs.Arg(0), f)
	}

	if *explainID != "" {
		c, err := st.GetCustomer(ctx, *explainID)
		if err != nil {
			fmt.Fprintln(stderr, "segment:", err)
			return 1
		}
		ex, err := eng.Explain(ctx, seg.ID, c)
		if err != nil {
			fmt.Fprintln(stderr, "segment:", err)
			return 1
		}
		ex.CustomerID, ex.SegmentID = c.SourceID, "(-filter)"
		fmt.Fprint(stdout, ex.String())
		return 0
	}

	if _, err := eng.Sync(ctx, seg.ID, nil); err != nil {
		fmt.Fprintln(stderr, "segment:", err)
		return 1
	}
	var sourceIDs []string
	for id, err := range eng.Members(ctx, seg.ID, segment.MemberOptions{}) {
		if err != nil {
			fmt.Fprintln(stderr, "segment:", err)
			return 1
		}
		c, err := st.GetCustomer(ctx, id)
		if err != nil {
			fmt.Fprintln(stderr, "segment:", err)
			return 1
		}
		sourceIDs = append(sourceIDs, c.SourceID)
	}
	slices.Sort(sourceIDs) // a stable order, whatever the store's ids
	for _, id := range sourceIDs {
		fmt.Fprintln(stdout, id)
	}
	fmt.Fprintf(stdout, "%d matching customers\n", len(sourceIDs))
	return 0
}
