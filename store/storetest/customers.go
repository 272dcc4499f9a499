package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
)

// timeOpt compares times as instants, to the microsecond (PostgreSQL's
// precision).
var timeOpt = cmpopts.EquateApproxTime(time.Microsecond)

// at returns a fixed instant, truncated to the microsecond.
func at(sec int) time.Time { return time.Date(2026, 1, 2, 3, 4, sec, 0, time.UTC) }

func upsert(t *testing.T, st store.Store, opts customer.UpsertOptions, cs ...customer.Customer) []customer.Customer {
	t.Helper()
	got, err := st.UpsertCustomers(context.Background(), cs, opts)
	if err != nil {
		t.Fatalf("UpsertCustomers: %v", err)
	}
	if len(got) != len(cs) {
		t.Fatalf("UpsertCustomers returned %d customers for a batch of %d", len(got), len(cs))
	}
	return got
}

func mustGet(t *testing.T, st store.Store, id string) customer.Customer {
	t.Helper()
	c, err := st.GetCustomer(context.Background(), id)
	if err != nil {
		t.Fatalf("GetCustomer(%q): %v", id, err)
	}
	return c
}

func list(t *testing.T, st store.Store, opts customer.ListOptions) []customer.Customer {
	t.Helper()
	var out []customer.Customer
	for c, err := range st.Customers(context.Background(), opts) {
		if err != nil {
			t.Fatalf("Customers(%+v): %v", opts, err)
		}
		out = append(out, c.Clone())
	}
	return out
}

func ids(cs []customer.Customer) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func diffCustomer(t *testing.T, what string, want, got customer.Customer) {
	t.Helper()
	if diff := cmp.Diff(want, got, timeOpt, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, diff)
	}
}

// full is a customer with every field set.
func full(src string) customer.Customer {
	return customer.Customer{
		SourceID:    src,
		Name:        "Ann Smith",
		Email:       "ann@example.com",
		Phone:       "+48 600 000 000",
		Description: "A good customer.\nSecond line.",
		Birthdate:   customer.Date{Year: 1990, Month: time.March, Day: 4},
		Address:     customer.Address{Line1: "1 Main St", Line2: "Apt 2", City: "Warsaw", State: "Mazowieckie", PostalCode: "00-001", Country: "Poland"},
		Metadata: customer.Metadata{
			"plan":    "gold",
			"ltv":     12.5,
			"vip":     true,
			"signup":  customer.Date{Year: 2022, Month: time.July, Day: 3},
			"seen_at": at(9),
			"brands":  []any{"Nike", "Fenty"},
			"prefs":   map[string]any{"color": "red", "size": 42.0},
			"where":   customer.GeoPoint{Lat: 52.23, Lng: 21.01},
		},
		Consents: customer.Consents{Status: map[string]customer.ConsentStatus{
			"cnst_news": {Granted: true, At: at(1)},
		}},
		Timezone:  "Europe/Warsaw",
		CreatedAt: at(0),
		UpdatedAt: at(0),
	}
}

func runCustomers(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("InsertGetBySourceID", func(t *testing.T) {
		st := newStore(t)
		got := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1", Name: "Ann"})
		if got[0].ID == "" || got[0].CreatedAt.IsZero() || got[0].UpdatedAt.IsZero() {
			t.Fatalf("stored customer lacks ID, CreatedAt or UpdatedAt: %+v", got[0])
		}
		if want := customer.IDPrefix + "_"; len(got[0].ID) <= len(want) || got[0].ID[:len(want)] != want {
			t.Errorf("ID %q lacks the %q prefix", got[0].ID, want)
		}
		diffCustomer(t, "GetCustomer(source_id)", got[0], mustGet(t, st, "u1"))
		diffCustomer(t, "GetCustomer(id)", got[0], mustGet(t, st, got[0].ID))
		for _, id := range []string{"nobody", ""} {
			if _, err := st.GetCustomer(ctx, id); !errors.Is(err, customer.ErrNotFound) {
				t.Errorf("GetCustomer(%q) error = %v, want ErrNotFound", id, err)
			}
		}
	})

	t.Run("RoundTripEveryField", func(t *testing.T) {
		st := newStore(t)
		in := full("u1")
		in.Summary = customer.Summary{Orders: customer.OrderSummary{TotalCount: 2, TotalAmount: 10}}
		got := upsert(t, st, customer.UpsertOptions{}, in)
		want := in.Clone()
		want.ID = got[0].ID
		diffCustomer(t, "returned customer", want, got[0])
		diffCustomer(t, "stored customer", want, mustGet(t, st, "u1"))
	})

	t.Run("ExplicitID", func(t *testing.T) {
		st := newStore(t)
		got := upsert(t, st, customer.UpsertOptions{}, customer.Customer{ID: "cust_explicit1", SourceID: "u1"})
		if got[0].ID != "cust_explicit1" {
			t.Fatalf("ID = %q, want cust_explicit1", got[0].ID)
		}
		upsert(t, st, customer.UpsertOptions{}, customer.Customer{ID: "cust_explicit1", Name: "Bob"})
		if c := mustGet(t, st, "u1"); c.Name != "Bob" || c.SourceID != "u1" {
			t.Fatalf("update by ID: got %+v", c)
		}
	})

	t.Run("UpdateBySourceIDAndByID", func(t *testing.T) {
		st := newStore(t)
		first := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1", Name: "Ann", CreatedAt: at(0), UpdatedAt: at(0)})[0]
		bySrc := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1", Name: "Ann B", UpdatedAt: at(5)})[0]
		if bySrc.ID != first.ID || bySrc.Name != "Ann B" || !bySrc.CreatedAt.Equal(at(0)) || !bySrc.UpdatedAt.Equal(at(5)) {
			t.Fatalf("update by source_id = %+v, want same ID and CreatedAt, new name and UpdatedAt", bySrc)
		}
		byID := upsert(t, st, customer.UpsertOptions{}, customer.Customer{ID: first.ID, Name: "Ann C"})[0]
		if byID.SourceID != "u1" || byID.Name != "Ann C" {
			t.Fatalf("update by ID without source_id = %+v, want source_id kept", byID)
		}
		if !byID.UpdatedAt.After(at(5)) {
			t.Errorf("zero UpdatedAt was not set to the current time: %v", byID.UpdatedAt)
		}
		if n := len(list(t, st, customer.ListOptions{})); n != 1 {
			t.Fatalf("%d customers stored, want 1", n)
		}
		// A customer without a source_id gets one later.
		anon := upsert(t, st, customer.UpsertOptions{}, customer.Customer{Name: "Anon"})[0]
		upsert(t, st, customer.UpsertOptions{}, customer.Customer{ID: anon.ID, SourceID: "u2"})
		if c := mustGet(t, st, "u2"); c.ID != anon.ID {
			t.Fatalf("source_id set later: GetCustomer(u2) = %+v", c)
		}
	})

	t.Run("ReplaceVersusMerge", func(t *testing.T) {
		st := newStore(t)
		in := full("u1")
		in.Summary = customer.Summary{Redemptions: customer.RedemptionSummary{TotalSucceeded: 3}}
		stored := upsert(t, st, customer.UpsertOptions{}, in)[0]
		update := customer.Customer{
			SourceID:  "u1",
			Name:      "Ann Jones",
			Metadata:  customer.Metadata{"plan": "silver", "vip": nil, "new": 1.0},
			UpdatedAt: at(30),
		}

		merged := upsert(t, st, customer.UpsertOptions{Merge: true}, update)[0]
		want := stored.Clone()
		want.Name = "Ann Jones"
		want.Metadata["plan"] = "silver"
		want.Metadata["new"] = 1.0
		delete(want.Metadata, "vip") // nil deletes in merge mode
		want.UpdatedAt = at(30)
		diffCustomer(t, "merged", want, merged)
		diffCustomer(t, "merged (stored)", want, mustGet(t, st, "u1"))

		update.UpdatedAt = at(40)
		replaced := upsert(t, st, customer.UpsertOptions{}, update)[0]
		want = customer.Customer{
			ID:        stored.ID,
			SourceID:  "u1",
			Name:      "Ann Jones",
			Metadata:  customer.Metadata{"plan": "silver", "vip": nil, "new": 1.0},
			Consents:  stored.Consents, // a zero Consents keeps the stored ones
			Summary:   stored.Summary,  // kept by the library
			CreatedAt: stored.CreatedAt,
			UpdatedAt: at(40),
		}
		diffCustomer(t, "replaced", want, replaced)
		diffCustomer(t, "replaced (stored)", want, mustGet(t, st, "u1"))

		// Consents given in a replace replace the stored ones.
		cons := customer.Consents{Unsubscribed: true, UnsubscribedAt: at(50)}
		replaced = upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1", Consents: cons})[0]
		if diff := cmp.Diff(cons, replaced.Consents, timeOpt, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("replaced consents mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("MergeConsents", func(t *testing.T) {
		st := newStore(t)
		upsert(t, st, customer.UpsertOptions{}, full("u1"))
		got := upsert(t, st, customer.UpsertOptions{Merge: true}, customer.Customer{SourceID: "u1", Consents: customer.Consents{
			Status: map[string]customer.ConsentStatus{"cnst_sms": {Granted: false, At: at(7)}},
		}})[0]
		want := map[string]customer.ConsentStatus{"cnst_news": {Granted: true, At: at(1)}, "cnst_sms": {Granted: false, At: at(7)}}
		if diff := cmp.Diff(want, got.Consents.Status, timeOpt); diff != "" {
			t.Errorf("merged consents mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("SourceIDImmutable", func(t *testing.T) {
		st := newStore(t)
		c := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1", Name: "Ann"})[0]
		for _, merge := range []bool{false, true} {
			_, err := st.UpsertCustomers(ctx, []customer.Customer{{ID: c.ID, SourceID: "u2", Name: "Changed"}}, customer.UpsertOptions{Merge: merge})
			if !errors.Is(err, customer.ErrConflict) {
				t.Fatalf("changing source_id (merge=%v): error = %v, want ErrConflict", merge, err)
			}
		}
		diffCustomer(t, "after refused change", c, mustGet(t, st, c.ID))
		if _, err := st.GetCustomer(ctx, "u2"); !errors.Is(err, customer.ErrNotFound) {
			t.Fatalf("GetCustomer(u2) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("SourceIDUnique", func(t *testing.T) {
		st := newStore(t)
		a := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1", Name: "Ann"})[0]
		b := upsert(t, st, customer.UpsertOptions{}, customer.Customer{Name: "Bob"})[0]
		// Taking another customer's source_id, by update or by insert with an explicit ID.
		for _, in := range []customer.Customer{{ID: b.ID, SourceID: "u1"}, {ID: "cust_other", SourceID: "u1"}} {
			if _, err := st.UpsertCustomers(ctx, []customer.Customer{in}, customer.UpsertOptions{}); !errors.Is(err, customer.ErrConflict) {
				t.Fatalf("upsert %+v: error = %v, want ErrConflict", in, err)
			}
		}
		diffCustomer(t, "owner", a, mustGet(t, st, "u1"))
		diffCustomer(t, "other", b, mustGet(t, st, b.ID))
		if _, err := st.GetCustomer(ctx, "cust_other"); !errors.Is(err, customer.ErrNotFound) {
			t.Fatalf("refused insert was stored: error = %v", err)
		}
	})

	t.Run("BatchAtomic", func(t *testing.T) {
		st := newStore(t)
		a := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1", Name: "Ann"})[0]
		batch := []customer.Customer{
			{SourceID: "new1", Name: "New"},
			{SourceID: "u1", Name: "Ann changed"},
			{ID: a.ID, SourceID: "u9"}, // conflict: changes a's source_id
			{SourceID: "new2"},
		}
		_, err := st.UpsertCustomers(ctx, batch, customer.UpsertOptions{})
		if !errors.Is(err, customer.ErrConflict) {
			t.Fatalf("error = %v, want ErrConflict", err)
		}
		var be *customer.BatchError
		if !errors.As(err, &be) || be.Index != 2 {
			t.Errorf("error = %v, want a *customer.BatchError with Index 2", err)
		}
		if got := list(t, st, customer.ListOptions{}); len(got) != 1 {
			t.Fatalf("failed batch left %d customers, want 1: %+v", len(got), got)
		}
		diffCustomer(t, "after failed batch", a, mustGet(t, st, "u1"))
		if _, err := st.GetCustomer(ctx, "new1"); !errors.Is(err, customer.ErrNotFound) {
			t.Fatalf("failed batch left new1 reachable by source_id: error = %v", err)
		}
		// Nothing of the failed batch lingers in an index: the same
		// source ids can be written now.
		got := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "new1"}, customer.Customer{SourceID: "new2"})
		if got[0].ID == got[1].ID || mustGet(t, st, "new1").ID != got[0].ID {
			t.Fatalf("after a failed batch, new ids %s and %s", got[0].ID, got[1].ID)
		}
	})

	t.Run("Handoff", func(t *testing.T) {
		// With Handoff the store may keep the maps, but what it stores
		// and returns is what a plain upsert would, and a failed batch
		// keeps nothing: the caller may pass the customers again.
		st := newStore(t)
		a := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "taken", Name: "Ann"})[0]
		batch := []customer.Customer{full("h1"), {ID: a.ID, SourceID: "other"}, full("h2")}
		opts := customer.UpsertOptions{Handoff: true}
		if _, err := st.UpsertCustomers(ctx, batch, opts); !errors.Is(err, customer.ErrConflict) {
			t.Fatalf("error = %v, want ErrConflict", err)
		}
		if _, err := st.GetCustomer(ctx, "h1"); !errors.Is(err, customer.ErrNotFound) {
			t.Fatalf("failed handoff batch stored h1: error = %v", err)
		}
		batch = append(batch[:1], batch[2:]...)
		got, err := st.UpsertCustomers(ctx, batch, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("returned %d customers, want 2", len(got))
		}
		for i, src := range []string{"h1", "h2"} {
			want := full(src)
			want.ID, want.CreatedAt, want.UpdatedAt = got[i].ID, got[i].CreatedAt, got[i].UpdatedAt
			diffCustomer(t, "returned "+src, want, got[i])
			diffCustomer(t, "stored "+src, got[i], mustGet(t, st, src))
		}
		// Handoff replaces and merges as a plain upsert does.
		upd := full("h1")
		upd.Name, upd.Metadata = "Renamed", customer.Metadata{"plan": "silver"}
		got, err = st.UpsertCustomers(ctx, []customer.Customer{upd}, customer.UpsertOptions{Handoff: true, Merge: true})
		if err != nil {
			t.Fatal(err)
		}
		if c := mustGet(t, st, "h1"); c.Name != "Renamed" || c.Metadata["plan"] != "silver" || c.ID != got[0].ID || len(c.Metadata) != len(full("h1").Metadata) {
			t.Fatalf("merged by handoff: %+v", c)
		}
	})

	t.Run("BatchSeesEarlierItems", func(t *testing.T) {
		st := newStore(t)
		got := upsert(t, st, customer.UpsertOptions{Merge: true},
			customer.Customer{SourceID: "u1", Name: "Ann"},
			customer.Customer{SourceID: "u1", Email: "ann@example.com"},
		)
		if got[0].ID != got[1].ID {
			t.Fatalf("same source_id twice in a batch made two customers: %s, %s", got[0].ID, got[1].ID)
		}
		c := mustGet(t, st, "u1")
		if c.Name != "Ann" || c.Email != "ann@example.com" {
			t.Fatalf("merged in batch: %+v", c)
		}
		if n := len(list(t, st, customer.ListOptions{})); n != 1 {
			t.Fatalf("%d customers, want 1", n)
		}
	})

	t.Run("ReturnedValuesAreCopies", func(t *testing.T) {
		st := newStore(t)
		in := full("u1")
		got := upsert(t, st, customer.UpsertOptions{}, in)[0]
		in.Metadata["plan"] = "changed input"
		got.Metadata["plan"] = "changed output"
		g := mustGet(t, st, "u1")
		g.Metadata["plan"] = "changed get"
		g.Consents.Status["cnst_news"] = customer.ConsentStatus{}
		if c := mustGet(t, st, "u1"); c.Metadata["plan"] != "gold" || !c.Consents.Granted("cnst_news") {
			t.Fatalf("store shares maps with its callers: %+v", c)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		st := newStore(t)
		cs := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1"}, customer.Customer{SourceID: "u2"})
		if err := st.DeleteCustomer(ctx, cs[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteCustomer(ctx, "u2"); err != nil { // by source_id
			t.Fatal(err)
		}
		for _, id := range []string{cs[0].ID, "u1", cs[1].ID, "u2"} {
			if _, err := st.GetCustomer(ctx, id); !errors.Is(err, customer.ErrNotFound) {
				t.Errorf("GetCustomer(%q) after delete: error = %v, want ErrNotFound", id, err)
			}
		}
		if err := st.DeleteCustomer(ctx, "u1"); !errors.Is(err, customer.ErrNotFound) {
			t.Errorf("second delete: error = %v, want ErrNotFound", err)
		}
		if got := list(t, st, customer.ListOptions{}); len(got) != 0 {
			t.Errorf("listing after delete: %v", ids(got))
		}
		// The source_id is free again.
		again := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1"})[0]
		if again.ID == cs[0].ID {
			t.Errorf("re-created customer reuses the deleted ID %s", again.ID)
		}
	})

	t.Run("ListOrderAfterLimit", func(t *testing.T) {
		st := newStore(t)
		// Explicit IDs inserted out of order, plus generated ones.
		var want []string
		for _, id := range []string{"cust_m", "cust_c", "cust_x", "cust_a"} {
			upsert(t, st, customer.UpsertOptions{}, customer.Customer{ID: id})
			want = append(want, id)
		}
		for i := range 5 {
			c := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: fmt.Sprint("g", i)})[0]
			want = append(want, c.ID)
		}
		slices.Sort(want)
		if got := ids(list(t, st, customer.ListOptions{})); !slices.Equal(got, want) {
			t.Fatalf("listing = %v, want ascending IDs %v", got, want)
		}
		if got := ids(list(t, st, customer.ListOptions{Limit: 3})); !slices.Equal(got, want[:3]) {
			t.Errorf("Limit 3 = %v, want %v", got, want[:3])
		}
		if got := ids(list(t, st, customer.ListOptions{After: want[2], Limit: 2})); !slices.Equal(got, want[3:5]) {
			t.Errorf("After %s Limit 2 = %v, want %v", want[2], got, want[3:5])
		}
		// A cursor that names no customer (deleted, say) still works.
		if err := st.DeleteCustomer(ctx, "cust_c"); err != nil {
			t.Fatal(err)
		}
		wantAfter := slices.DeleteFunc(slices.Clone(want), func(id string) bool { return id <= "cust_c" })
		if got := ids(list(t, st, customer.ListOptions{After: "cust_c"})); !slices.Equal(got, wantAfter) {
			t.Errorf("After deleted cust_c = %v, want %v", got, wantAfter)
		}
		// Paging with After covers everyone once.
		var paged []string
		after := ""
		for {
			page := ids(list(t, st, customer.ListOptions{After: after, Limit: 2}))
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1]
		}
		want = slices.DeleteFunc(want, func(id string) bool { return id == "cust_c" })
		if !slices.Equal(paged, want) {
			t.Errorf("paged = %v, want %v", paged, want)
		}
		// Stopping the iteration early is fine.
		for range st.Customers(ctx, customer.ListOptions{}) {
			break
		}
	})

	t.Run("ListMany", func(t *testing.T) {
		st := newStore(t)
		const n = 1200 // more than one chunk of any sensible implementation
		batch := make([]customer.Customer, n)
		for i := range batch {
			batch[i] = customer.Customer{SourceID: fmt.Sprint("s", i)}
		}
		upsert(t, st, customer.UpsertOptions{}, batch...)
		got := ids(list(t, st, customer.ListOptions{}))
		if len(got) != n || !slices.IsSorted(got) {
			t.Fatalf("listed %d customers (sorted: %v), want %d sorted", len(got), slices.IsSorted(got), n)
		}
		if len(slices.Compact(got)) != n {
			t.Fatalf("listing repeats customers")
		}
	})

	t.Run("ConcurrentUpsertsSameSourceID", func(t *testing.T) {
		st := newStore(t)
		const workers = 8
		var wg sync.WaitGroup
		errc := make(chan error, workers*10)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					merge := (w+i)%2 == 0
					_, err := st.UpsertCustomers(ctx, []customer.Customer{{
						SourceID: "same",
						Metadata: customer.Metadata{fmt.Sprint("w", w): float64(i)},
					}}, customer.UpsertOptions{Merge: merge})
					if err != nil {
						errc <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Errorf("concurrent upsert: %v", err)
		}
		got := list(t, st, customer.ListOptions{})
		if len(got) != 1 || got[0].SourceID != "same" {
			t.Fatalf("concurrent upserts of one source_id left %d customers, want 1", len(got))
		}
	})

	t.Run("ContextCanceled", func(t *testing.T) {
		st := newStore(t)
		c := upsert(t, st, customer.UpsertOptions{}, customer.Customer{SourceID: "u1"})[0]
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := st.UpsertCustomers(cctx, []customer.Customer{{SourceID: "u2"}}, customer.UpsertOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("UpsertCustomers: error = %v, want context.Canceled", err)
		}
		if _, err := st.GetCustomer(cctx, "u1"); !errors.Is(err, context.Canceled) {
			t.Errorf("GetCustomer: error = %v, want context.Canceled", err)
		}
		if err := st.DeleteCustomer(cctx, "u1"); !errors.Is(err, context.Canceled) {
			t.Errorf("DeleteCustomer: error = %v, want context.Canceled", err)
		}
		var listErr error
		for _, err := range st.Customers(cctx, customer.ListOptions{}) {
			if err != nil {
				listErr = err
				break
			}
		}
		if !errors.Is(listErr, context.Canceled) {
			t.Errorf("Customers: error = %v, want context.Canceled", listErr)
		}
		if got := ids(list(t, st, customer.ListOptions{})); !slices.Equal(got, []string{c.ID}) {
			t.Errorf("after canceled calls the store holds %v, want [%s]", got, c.ID)
		}
	})
}
