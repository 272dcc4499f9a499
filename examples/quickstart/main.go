// Command quickstart runs codedrop's main flow offline.
//
// For now it stores customers in the in-memory store and lists them; the
// distribution flow (segment, campaign, Intercom messages) replaces it as
// those packages land.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	st := store.NewMemory()
	_, err := st.UpsertCustomers(ctx, []customer.Customer{
		{SourceID: "u-1001", Name: "Ann Lee", Email: "ann@example.com", Metadata: customer.Metadata{"source": "Intercom"}},
		{SourceID: "u-1002", Name: "Bo Chen", Email: "bo@example.com", Metadata: customer.Metadata{"source": "Intercom"}},
	}, customer.UpsertOptions{})
	if err != nil {
		return err
	}
	for c, err := range st.Customers(ctx, customer.ListOptions{}) {
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %s <%s>\n", c.SourceID, c.Name, c.Email)
	}
	return nil
}
