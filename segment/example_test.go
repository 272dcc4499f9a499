package segment_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

func ExampleParseFilter() {
	f, err := segment.ParseFilter([]byte(`{"junction":"and",
		"address.country":{"conditions":{"$is":"Poland"}},
		"metadata.club_level":{"conditions":{"$in":["Gold","Silver"]}}}`))
	if err != nil {
		panic(err)
	}
	m, err := segment.DefaultEvaluator{}.CompileFilter(f)
	if err != nil {
		panic(err)
	}
	ann := customer.Customer{Address: customer.Address{Country: "Poland"}, Metadata: customer.Metadata{"club_level": "Gold"}}
	bob := customer.Customer{Address: customer.Address{Country: "Poland"}, Metadata: customer.Metadata{"club_level": "Bronze"}}
	fmt.Println(m.Match(&ann, time.Now()), m.Match(&bob, time.Now()))
	// Output: true false
}

func ExampleDefaultEvaluator_CompileExpression() {
	m, err := segment.DefaultEvaluator{}.CompileExpression(`metadata.ltv > 100 && email endsWith "@acme.com"`)
	if err != nil {
		panic(err)
	}
	c := customer.Customer{Email: "ann@acme.com", Metadata: customer.Metadata{"ltv": 250.0}}
	fmt.Println(m.Match(&c, time.Now()))

	_, err = segment.DefaultEvaluator{}.CompileExpression(`metadata.ltv > 100 && emial endsWith "@acme.com"`)
	var fe *segment.FilterError
	fmt.Println(errors.As(err, &fe), fe.Path)
	// Output:
	// true
	// true expression
}

func ExampleFilterError() {
	_, err := segment.DefaultEvaluator{}.CompileFilter(segment.MustParseFilter(
		`{"metadata.ltv":{"conditions":{"$more_than":["a lot"]}}}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, segment.ErrInvalid))
	// Output:
	// segment rule: metadata.ltv $more_than: want a number, got "a lot"
	// true
}

func ExampleEngine() {
	ctx := context.Background()
	st := store.NewMemory()
	cs, _ := st.UpsertCustomers(ctx, []customer.Customer{
		{SourceID: "ann", Metadata: customer.Metadata{"source": "Intercom"}},
		{SourceID: "bob", Metadata: customer.Metadata{"source": "Web"}},
	}, customer.UpsertOptions{})

	eng, err := segment.NewEngine(ctx, segment.Config{Store: st, Customers: st})
	if err != nil {
		panic(err)
	}
	seg, err := eng.Create(ctx, segment.Segment{
		Name:   "From Intercom",
		Type:   segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`),
	})
	if err != nil {
		panic(err)
	}
	res, err := eng.Sync(ctx, seg.ID, func(p segment.SyncProgress) { fmt.Println("checked", p.Checked) })
	if err != nil {
		panic(err)
	}
	fmt.Println("entered", res.Entered)

	// Bob comes in from Intercom: re-check him alone.
	bob := cs[1]
	bob.Metadata = customer.Metadata{"source": "Intercom"}
	stored, _ := st.UpsertCustomers(ctx, []customer.Customer{bob}, customer.UpsertOptions{})
	changes, err := eng.CustomerChanged(ctx, stored[0])
	if err != nil {
		panic(err)
	}
	for _, ch := range changes {
		fmt.Println(ch.EventType(), ch.Emit)
	}
	n, _ := st.CountMembers(ctx, seg.ID)
	fmt.Println("members", n)
	// Output:
	// checked 2
	// entered 1
	// customer.segment.entered true
	// members 2
}

func ExampleEngine_Explain() {
	ctx := context.Background()
	st := store.NewMemory()
	eng, _ := segment.NewEngine(ctx, segment.Config{Store: st, Customers: st})
	seg, err := eng.Create(ctx, segment.Segment{
		ID:   "seg_example",
		Name: "Valuable Intercom users",
		Type: segment.Passive,
		Filter: segment.MustParseFilter(`{"junction":"and",
			"metadata.source":{"conditions":{"$is":["Intercom"]}},
			"metadata.ltv":{"conditions":{"$more_than":[100]}}}`),
	})
	if err != nil {
		panic(err)
	}
	c := customer.Customer{ID: "cust_ann", Metadata: customer.Metadata{"source": "Intercom", "ltv": 80.0}}
	ex, err := eng.Explain(ctx, seg.ID, c)
	if err != nil {
		panic(err)
	}
	fmt.Print(ex)
	// Output:
	// customer cust_ann is not in segment seg_example
	//   all of these must hold:
	//   yes  metadata.source $is ["Intercom"] (customer: "Intercom")
	//   no   metadata.ltv $more_than [100] (customer: 80)
}
