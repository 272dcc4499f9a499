package customer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
)

func ExampleImport() {
	ctx := context.Background()
	st := store.NewMemory()
	schema, err := customer.ParseSchema([]byte(`{"properties": {
		"favorite_brands": {"type": "string", "array": true, "optional": true},
		"ltv": {"type": "number", "optional": true, "gte": 0}
	}}`))
	if err != nil {
		log.Fatal(err)
	}
	file := strings.NewReader("Source_id,Name,Email,City,favorite_brands,ltv\n" +
		"u1,Ann,ann@example.com,Warsaw,\"Nike,Fenty\",120.5\n" +
		"u2,Bob,bob@,,,\n" +
		"u3,Cy,cy@example.com,,,-3\n")

	rep, err := customer.Import(ctx, st, file, customer.ImportOptions{Schema: schema})
	if err != nil {
		log.Fatal(err) // the file could not be read as CSV, or the store failed
	}
	fmt.Printf("done %d, failed %d\n", rep.Done, rep.Failed)
	for _, f := range rep.Failures {
		fmt.Println(f)
	}
	c, err := st.GetCustomer(ctx, "u1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name, c.Address.City, c.Metadata["favorite_brands"], c.Metadata["ltv"])
	// Output:
	// done 1, failed 2
	// row 2 (line 3), column "Email", source_id "u2": email: "bob@" is not an email address
	// row 3 (line 4), column "ltv", source_id "u3": metadata "ltv": must be greater than or equal to 0 (actual value is -3)
	// Ann Warsaw [Nike Fenty] 120.5
}

func ExampleSchema() {
	schema, err := customer.ParseSchema([]byte(`{
		"allow_defined_only": true,
		"properties": {
			"acquisition_channel": {"type": "string", "eq": ["Facebook", "Twitter", "Website"]},
			"signup": {"type": "date", "optional": true}
		}
	}`))
	if err != nil {
		log.Fatal(err)
	}

	// Parse a CSV cell into the property's type.
	v, err := schema.Parse("signup", "2022-07-03")
	fmt.Printf("%T %v %v\n", v, v, err)

	// Validate a metadata map; errors name the property and the rule.
	err = schema.Validate(customer.Metadata{"acquisition_channel": "snap", "color": "red"})
	var me *customer.MetadataError
	if errors.As(err, &me) {
		fmt.Println(me.Key, me.Rule)
	}
	fmt.Println(err)
	// Output:
	// customer.Date 2022-07-03 <nil>
	// acquisition_channel eq
	// metadata "acquisition_channel": must be equal to one of Facebook, Twitter, Website (actual value is "snap")
	// metadata "color": property is not defined in the schema
}
