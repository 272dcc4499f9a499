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
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

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
		schema = new(customer.Schema)
		if err := json.Unmarshal(data, schema); err != nil {
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
	cs, err := loadCSV(file, schema)
	if err != nil {
		fmt.Fprintf(stderr, "segment: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	if _, err := st.UpsertCustomers(ctx, cs, customer.UpsertOptions{}); err != nil {
		fmt.Fprintf(stderr, "segment: %s: %v\n", fs.Arg(0), err)
		return 1
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
	members := map[string]bool{}
	for id, err := range eng.Members(ctx, seg.ID, segment.MemberOptions{}) {
		if err != nil {
			fmt.Fprintln(stderr, "segment:", err)
			return 1
		}
		members[id] = true
	}
	// In file order.
	for c, err := range st.Customers(ctx, customer.ListOptions{}) {
		if err != nil {
			fmt.Fprintln(stderr, "segment:", err)
			return 1
		}
		if members[c.ID] {
			fmt.Fprintln(stdout, c.SourceID)
		}
	}
	fmt.Fprintf(stdout, "%d matching customers\n", len(members))
	return 0
}

// loadCSV is a minimal reader for the Voucherify customer CSV format: a
// header row of standard field names (case-insensitive; Address_City or
// City and so on), every other column metadata typed by the schema (arrays
// as comma-separated cells, untyped keys as text).
func loadCSV(r io.Reader, schema *customer.Schema) ([]customer.Customer, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var out []customer.Customer
	for line := 2; ; line++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var c customer.Customer
		for i, cell := range row {
			cell = strings.TrimSpace(cell)
			if cell == "" {
				continue
			}
			if err := setField(&c, header[i], cell, schema); err != nil {
				return nil, fmt.Errorf("line %d, column %q: %w", line, header[i], err)
			}
		}
		out = append(out, c)
	}
}

func setField(c *customer.Customer, column, cell string, schema *customer.Schema) error {
	strField := map[string]*string{
		"source_id": &c.SourceID, "name": &c.Name, "email": &c.Email, "phone": &c.Phone, "description": &c.Description,
		"address_line_1": &c.Address.Line1, "address_line_2": &c.Address.Line2,
		"address_city": &c.Address.City, "city": &c.Address.City,
		"address_state": &c.Address.State, "state": &c.Address.State,
		"address_postal_code": &c.Address.PostalCode, "postal_code": &c.Address.PostalCode,
		"address_country": &c.Address.Country, "country": &c.Address.Country,
	}
	key := strings.ToLower(column)
	if p, ok := strField[key]; ok {
		*p = cell
		return nil
	}
	if key == "birthdate" {
		d, err := customer.ParseDate(cell)
		c.Birthdate = d
		return err
	}
	if key == "id" {
		return nil // ids are assigned by the store
	}
	prop := customer.Property{Type: customer.TypeString}
	if schema != nil {
		if p, ok := schema.Properties[column]; ok {
			prop = p
		}
	}
	var v any
	if prop.Array {
		var vals []any
		for _, part := range strings.Split(cell, ",") {
			x, err := parseValue(prop.Type, strings.TrimSpace(part))
			if err != nil {
				return err
			}
			vals = append(vals, x)
		}
		v = vals
	} else {
		x, err := parseValue(prop.Type, cell)
		if err != nil {
			return err
		}
		v = x
	}
	if c.Metadata == nil {
		c.Metadata = customer.Metadata{}
	}
	c.Metadata[column] = v
	return nil
}

func parseValue(t customer.PropertyType, s string) (any, error) {
	switch t {
	case customer.TypeNumber:
		return strconv.ParseFloat(s, 64)
	case customer.TypeBoolean:
		return strconv.ParseBool(s)
	case customer.TypeDate:
		return customer.ParseDate(s)
	case customer.TypeDatetime:
		return time.Parse(time.RFC3339Nano, s)
	}
	return s, nil
}
