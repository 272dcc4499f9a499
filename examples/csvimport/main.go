// Command csvimport imports a customers CSV file into an in-memory store
// and prints the import report as JSON:
//
//	go run ./examples/csvimport [-schema schema.json] [-atomic] [-replace] FILE.csv
//
// The report is {"done": N, "failed": M, "failures": [{"row": R, "line": L,
// "column": "...", "source_id": "...", "reason": "..."}]}. The exit status
// is 0 when the import ran (even with failed rows), 1 when the file could
// not be read or imported (not CSV, bad quoting, a wrong column count...),
// and 2 for bad usage or an unreadable schema.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// report is what the command prints.
type report struct {
	Done     int                  `json:"done"`
	Failed   int                  `json:"failed"`
	Failures []*customer.RowError `json:"failures"`
}

// run is the command without the process around it: it returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("csvimport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schemaPath := fs.String("schema", "", "Voucherify metadata schema JSON `file` typing the metadata columns")
	atomic := fs.Bool("atomic", false, "import all rows or none")
	replace := fs.Bool("replace", false, "overwrite existing customers' whole profiles (default: merge)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: csvimport [-schema schema.json] [-atomic] [-replace] FILE.csv")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	opts := customer.ImportOptions{Atomic: *atomic}
	if *replace {
		opts.Mode = customer.ImportReplace
	}
	if *schemaPath != "" {
		data, err := os.ReadFile(*schemaPath)
		if err != nil {
			fmt.Fprintln(stderr, "csvimport:", err)
			return 2
		}
		if opts.Schema, err = customer.ParseSchema(data); err != nil {
			fmt.Fprintf(stderr, "csvimport: %s: %v\n", *schemaPath, err)
			return 2
		}
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "csvimport:", err)
		return 1
	}
	defer f.Close()

	rep, err := customer.Import(ctx, store.NewMemory(), f, opts)
	if err != nil {
		fmt.Fprintf(stderr, "csvimport: %s: %v\n", fs.Arg(0), err)
		if errors.Is(err, customer.ErrMalformedCSV) {
			fmt.Fprintf(stderr, "csvimport: %d rows were imported before the error\n", rep.Done)
		}
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report{Done: rep.Done, Failed: rep.Failed, Failures: rep.Failures}); err != nil {
		fmt.Fprintln(stderr, "csvimport:", err)
		return 1
	}
	return 0
}
