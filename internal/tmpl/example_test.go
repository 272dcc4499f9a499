package tmpl_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/codedrop/codedrop/internal/tmpl"
)

func Example() {
	known := tmpl.Allow("customer.name", "customer.metadata.*", "voucher.code")
	t, err := tmpl.Parse(`<p>Hi {{ customer.name | default: "there" }}, your code: <b>{{voucher.code}}</b></p>`, known)
	if err != nil {
		fmt.Println(err)
		return
	}
	values := map[string]string{"customer.name": "Ann & Bob", "voucher.code": "WELCOME-AB12"}
	lookup := func(path string) (string, bool) { v, ok := values[path]; return v, ok }
	_ = t.Execute(os.Stdout, lookup, true) // HTML body: values escaped
	fmt.Println()
	delete(values, "customer.name")
	fmt.Println(t.String(lookup, true))
	fmt.Println(t.Tags())
	// Output:
	// <p>Hi Ann &amp; Bob, your code: <b>WELCOME-AB12</b></p>
	// <p>Hi there, your code: <b>WELCOME-AB12</b></p>
	// [customer.name voucher.code]
}

func ExampleError() {
	known := tmpl.Allow("customer.name", "voucher.code")
	_, err := tmpl.Parse("Hello {{customer.name}},\nyour code is {{voucher.cod}}", known)
	var te *tmpl.Error
	if errors.As(err, &te) {
		fmt.Printf("line %d, column %d (byte %d): %s\n", te.Line, te.Col, te.Pos, te.Msg)
	}
	fmt.Println(err)
	// Output:
	// line 2, column 14 (byte 38): unknown tag "voucher.cod"
	// line 2, column 14: unknown tag "voucher.cod" in {{voucher.cod}}
}
