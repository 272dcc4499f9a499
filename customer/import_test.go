package customer_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // time zone names resolve without system tzdata

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
)

var fixedNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func opts(o customer.ImportOptions) customer.ImportOptions {
	if o.Now == nil {
		o.Now = func() time.Time { return fixedNow }
	}
	return o
}

// importInto imports text into st and fails the test on an import error.
func importInto(t *testing.T, st customer.Writer, text string, o customer.ImportOptions) *customer.ImportReport {
	t.Helper()
	rep, err := customer.Import(context.Background(), st, strings.NewReader(text), opts(o))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if rep == nil {
		t.Fatal("Import returned a nil report")
	}
	return rep
}

func all(t *testing.T, st customer.Store) []customer.Customer {
	t.Helper()
	var out []customer.Customer
	for c, err := range st.Customers(context.Background(), customer.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Clone())
	}
	return out
}

func get(t *testing.T, st customer.Store, id string) customer.Customer {
	t.Helper()
	c, err := st.GetCustomer(context.Background(), id)
	if err != nil {
		t.Fatalf("GetCustomer(%q): %v", id, err)
	}
	return c
}

// ignoreGenerated leaves out what the store assigns.
var ignoreGenerated = cmpopts.IgnoreFields(customer.Customer{}, "ID")

const template = "Name,Source_id,Description,Email,Phone,Address_line_1,Address_line_2,City,Postal_Code,State,Country,Birthdate,favorite_brands,CRM_created_date\n" +
	`John Smith,test-user@voucherify.io,A good customer.,test-user@voucherify.io,+1 (989) 123-4632,100 Main St,Blg 2 Apt 3,New York,12345,New York,United States,2022-07-03,"Nike,Fenty,Reebok",2022-05-18T10:00:00.000Z` + "\n"

func templateCustomer(md customer.Metadata) customer.Customer {
	return customer.Customer{
		SourceID:    "test-user@voucherify.io",
		Name:        "John Smith",
		Email:       "test-user@voucherify.io",
		Phone:       "+1 (989) 123-4632",
		Description: "A good customer.",
		Birthdate:   customer.Date{Year: 2022, Month: time.July, Day: 3},
		Address:     customer.Address{Line1: "100 Main St", Line2: "Blg 2 Apt 3", City: "New York", PostalCode: "12345", State: "New York", Country: "United States"},
		Metadata:    md,
		CreatedAt:   fixedNow,
		UpdatedAt:   fixedNow,
	}
}

func TestImportVoucherifyTemplate(t *testing.T) {
	t.Parallel()
	schema := &customer.Schema{Properties: map[string]customer.Property{
		"favorite_brands":  {Type: customer.TypeString, Array: true},
		"CRM_created_date": {Type: customer.TypeDatetime},
	}}
	tests := []struct {
		name   string
		schema *customer.Schema
		want   customer.Metadata
	}{
		{"no schema: strings", nil, customer.Metadata{"favorite_brands": "Nike,Fenty,Reebok", "CRM_created_date": "2022-05-18T10:00:00.000Z"}},
		{"schema: typed", schema, customer.Metadata{"favorite_brands": []any{"Nike", "Fenty", "Reebok"}, "CRM_created_date": time.Date(2022, 5, 18, 10, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMemory()
			rep := importInto(t, st, template, customer.ImportOptions{Schema: tt.schema})
			if rep.Done != 1 || rep.Failed != 0 || rep.Rows != 1 || rep.Bytes != int64(len(template)) {
				t.Fatalf("report = %+v, want 1 done of 1 row, %d bytes", rep, len(template))
			}
			got := get(t, st, "test-user@voucherify.io")
			if diff := cmp.Diff(templateCustomer(tt.want), got, ignoreGenerated); diff != "" {
				t.Errorf("imported customer mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImportHeaderAliases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		value  string
		want   func(c customer.Customer) string
	}{
		{"Name", "Ann", func(c customer.Customer) string { return c.Name }},
		{"NAME", "Ann", func(c customer.Customer) string { return c.Name }},
		{"Email", "ann@example.com", func(c customer.Customer) string { return c.Email }},
		{"email", "ann@example.com", func(c customer.Customer) string { return c.Email }},
		{"Phone", "+48 1", func(c customer.Customer) string { return c.Phone }},
		{"Description", "Nice", func(c customer.Customer) string { return c.Description }},
		{"Birthdate", "1990-03-04", func(c customer.Customer) string { return c.Birthdate.String() }},
		{"BIRTHDATE", "1990-03-04", func(c customer.Customer) string { return c.Birthdate.String() }},
		{"Address_line_1", "1 Main St", func(c customer.Customer) string { return c.Address.Line1 }},
		{"address_LINE_1", "1 Main St", func(c customer.Customer) string { return c.Address.Line1 }},
		{"Address_line_2", "Apt 2", func(c customer.Customer) string { return c.Address.Line2 }},
		{"Address_City", "Warsaw", func(c customer.Customer) string { return c.Address.City }},
		{"City", "Warsaw", func(c customer.Customer) string { return c.Address.City }},
		{"city", "Warsaw", func(c customer.Customer) string { return c.Address.City }},
		{"Address_State", "Maz", func(c customer.Customer) string { return c.Address.State }},
		{"State", "Maz", func(c customer.Customer) string { return c.Address.State }},
		{"Address_Postal_Code", "00-001", func(c customer.Customer) string { return c.Address.PostalCode }},
		{"Postal_Code", "00-001", func(c customer.Customer) string { return c.Address.PostalCode }},
		{"Address_Country", "Poland", func(c customer.Customer) string { return c.Address.Country }},
		{"Country", "Poland", func(c customer.Customer) string { return c.Address.Country }},
		{" Country ", "Poland", func(c customer.Customer) string { return c.Address.Country }},
		{"Id", "cust_abc", func(c customer.Customer) string { return c.ID }},
		{"ID", "cust_abc", func(c customer.Customer) string { return c.ID }},
		{"Unknown_Column", "x", func(c customer.Customer) string { return fmt.Sprint(c.Metadata["Unknown_Column"]) }},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			st := store.NewMemory()
			rep := importInto(t, st, "Source_id,"+tt.header+"\nu1,"+tt.value+"\n", customer.ImportOptions{})
			if rep.Done != 1 {
				t.Fatalf("report %+v, failures %v", rep, rep.Failures)
			}
			if got := tt.want(get(t, st, "u1")); got != tt.value {
				t.Errorf("header %q: field holds %q, want %q", tt.header, got, tt.value)
			}
		})
	}
	// Source_id itself, in other cases.
	for _, h := range []string{"Source_id", "SOURCE_ID", "source_id"} {
		st := store.NewMemory()
		importInto(t, st, h+",Name\nu1,Ann\n", customer.ImportOptions{})
		if c := get(t, st, "u1"); c.Name != "Ann" {
			t.Errorf("header %q: %+v", h, c)
		}
	}
}

func TestImportMetadataTypes(t *testing.T) {
	t.Parallel()
	schema, err := customer.ParseSchema([]byte(`{"properties": {
		"n": {"type": "number", "optional": true},
		"b": {"type": "boolean", "optional": true},
		"d": {"type": "date", "optional": true},
		"dt": {"type": "datetime", "optional": true},
		"o": {"type": "object", "optional": true},
		"g": {"type": "geopoint", "optional": true},
		"img": {"type": "image_url", "optional": true},
		"tags": {"type": "string", "array": true, "optional": true},
		"nums": {"type": "number", "array": true, "optional": true}
	}}`))
	if err != nil {
		t.Fatal(err)
	}
	text := "Source_id,n,b,d,dt,o,g,img,tags,nums,free\n" +
		`u1,12.5,true,2022-03-11,2022-03-11T09:00:00.000Z,"{""k"":1}","52.2, 21.0",https://x.io/a.png,"subscribed,premium","123,234",hello` + "\n" +
		`u2,,FALSE,,,,,,,,` + "\n" +
		`u3,null,null,,,,,,,,null` + "\n"
	st := store.NewMemory()
	rep := importInto(t, st, text, customer.ImportOptions{Schema: schema})
	if rep.Done != 3 {
		t.Fatalf("report %+v, failures %v", rep, rep.Failures)
	}
	want := map[string]customer.Metadata{
		"u1": {
			"n": 12.5, "b": true, "d": customer.Date{Year: 2022, Month: 3, Day: 11},
			"dt": time.Date(2022, 3, 11, 9, 0, 0, 0, time.UTC), "o": map[string]any{"k": 1.0},
			"g": customer.GeoPoint{Lat: 52.2, Lng: 21.0}, "img": "https://x.io/a.png",
			"tags": []any{"subscribed", "premium"}, "nums": []any{123.0, 234.0}, "free": "hello",
		},
		"u2": {"b": false}, // empty cells are absent
		"u3": {"n": nil, "b": nil, "free": "null"},
	}
	for src, md := range want {
		if diff := cmp.Diff(md, get(t, st, src).Metadata); diff != "" {
			t.Errorf("%s metadata mismatch (-want +got):\n%s", src, diff)
		}
	}
}

// failure is a RowError as JSON, for comparisons.
type failure struct {
	Row      int    `json:"row"`
	Line     int    `json:"line"`
	Column   string `json:"column"`
	SourceID string `json:"source_id"`
	Reason   string `json:"reason"`
}

func failures(t *testing.T, rep *customer.ImportReport) []failure {
	t.Helper()
	b, err := json.Marshal(rep.Failures)
	if err != nil {
		t.Fatal(err)
	}
	var out []failure
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportFailureReport(t *testing.T) {
	t.Parallel()
	schema := &customer.Schema{Properties: map[string]customer.Property{
		"acquisition_channel": {Type: customer.TypeString, Eq: []any{"Facebook", "Twitter", "Website"}},
		"ltv":                 {Type: customer.TypeNumber, Optional: true, Gte: ptr(0.0)},
	}}
	text := "Source_id,Name,Email,Birthdate,acquisition_channel,ltv,Notes\r\n" + // line 1
		"u1,Ann,ann@example.com,1990-01-02,Website,10,ok\r\n" + // line 2, row 1
		"u2,Bob,bob@,1990-01-02,Website,10,bad email\r\n" + // line 3, row 2
		"u3,\"Cy, \"\"the\"\" one\",cy@example.com,,Twitter,,\"multi\r\nline\nnote\"\r\n" + // lines 4-6, row 3
		"u4,Di,di@example.com,1990-13-01,Twitter,,\r\n" + // line 7, row 4
		"u5,Ed,ed@example.com,,snap,,\r\n" + // line 8, row 5
		"\r\n" + // line 9: empty, skipped
		"u6,Flo,flo@example.com,,Facebook,-1,\r\n" + // line 10, row 6
		",Gus,gus@example.com,,Facebook,,\r\n" + // line 11, row 7
		"u8,Hal,hal@example.com,,,,\r\n" + // line 12, row 8: required property missing
		"u9,Ivy,ivy@example.com,,Facebook,abc,\r\n" // line 13, row 9
	st := store.NewMemory()
	rep := importInto(t, st, text, customer.ImportOptions{Schema: schema})
	want := []failure{
		{2, 3, "Email", "u2", `email: "bob@" is not an email address`},
		{4, 7, "Birthdate", "u4", `birthdate: "1990-13-01" is not a date (want YYYY-MM-DD)`},
		{5, 8, "acquisition_channel", "u5", `metadata "acquisition_channel": must be equal to one of Facebook, Twitter, Website (actual value is "snap")`},
		{6, 10, "ltv", "u6", `metadata "ltv": must be greater than or equal to 0 (actual value is -1)`},
		{7, 11, "Source_id", "", `source_id: the row has neither a source_id nor an id`},
		{8, 12, "acquisition_channel", "u8", `metadata "acquisition_channel": property is required`},
		{9, 13, "ltv", "u9", `metadata "ltv": must be a number (actual value is "abc")`},
	}
	if diff := cmp.Diff(want, failures(t, rep)); diff != "" {
		t.Errorf("failures mismatch (-want +got):\n%s", diff)
	}
	if rep.Done != 2 || rep.Failed != 7 || rep.Rows != 9 || rep.Line != 13 {
		t.Errorf("report = done %d failed %d rows %d line %d, want 2, 7, 9, 13", rep.Done, rep.Failed, rep.Rows, rep.Line)
	}
	if c := get(t, st, "u3"); c.Name != `Cy, "the" one` || c.Metadata["Notes"] != "multi\nline\nnote" {
		t.Errorf("quoted multi-line fields: %+v", c)
	}
	if got := len(all(t, st)); got != 2 {
		t.Errorf("%d customers stored, want 2", got)
	}
	// The typed errors are reachable.
	var me *customer.MetadataError
	if !errors.As(rep.Failures[2], &me) || me.Rule != customer.RuleEq || me.Key != "acquisition_channel" {
		t.Errorf("failure 3 does not unwrap to the eq MetadataError: %v", rep.Failures[2])
	}
	var fe *customer.FieldError
	if !errors.As(rep.Failures[0], &fe) || fe.Field != "email" || !errors.Is(rep.Failures[0], customer.ErrInvalid) {
		t.Errorf("failure 1 does not unwrap to an email FieldError: %v", rep.Failures[0])
	}
	if got, want := rep.Failures[0].Error(), `row 2 (line 3), column "Email", source_id "u2": email: "bob@" is not an email address`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestImportInvalidUTF8 checks that a cell that is not UTF-8 fails its
// row whether the value is a string, an element of a string array, or an
// undefined key's string.
func TestImportInvalidUTF8(t *testing.T) {
	t.Parallel()
	schema := &customer.Schema{Properties: map[string]customer.Property{
		"plan": {Type: customer.TypeString, Optional: true},
		"tags": {Type: customer.TypeString, Array: true, Optional: true},
	}}
	text := "Source_id,plan,tags,other\n" +
		"u1,gold,\"a,b\",x\n" +
		"u2,go\xffld,,\n" +
		"u3,,\"a,b\xff\",\n" +
		"u4,,,\xfe\n"
	rep := importInto(t, store.NewMemory(), text, customer.ImportOptions{Schema: schema})
	want := []failure{
		{2, 3, "plan", "u2", `metadata "plan": invalid UTF-8`},
		{3, 4, "tags", "u3", `metadata "tags": invalid UTF-8`},
		{4, 5, "other", "u4", `metadata "other": invalid UTF-8`},
	}
	if diff := cmp.Diff(want, failures(t, rep)); diff != "" {
		t.Errorf("failures mismatch (-want +got):\n%s", diff)
	}
	if rep.Done != 1 {
		t.Errorf("done %d, want 1", rep.Done)
	}
}

func TestImportMaxFailures(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("Source_id,Email\n")
	for i := range 10 {
		fmt.Fprintf(&b, "u%d,bad\n", i)
	}
	for _, tt := range []struct{ max, kept int }{{0, 10}, {3, 3}, {-1, 10}} {
		rep := importInto(t, store.NewMemory(), b.String(), customer.ImportOptions{MaxFailures: tt.max})
		if rep.Failed != 10 || len(rep.Failures) != tt.kept {
			t.Errorf("MaxFailures %d: failed %d, kept %d; want 10, %d", tt.max, rep.Failed, len(rep.Failures), tt.kept)
		}
	}
}

func TestImportAllowDefinedOnly(t *testing.T) {
	t.Parallel()
	schema := &customer.Schema{AllowDefinedOnly: true, Properties: map[string]customer.Property{
		"tier": {Type: customer.TypeString, Optional: true},
	}}
	st := store.NewMemory()
	rep := importInto(t, st, "Source_id,tier,extra\nu1,gold,\nu2,gold,x\n", customer.ImportOptions{Schema: schema})
	want := []failure{{2, 3, "extra", "u2", `metadata "extra": property is not defined in the schema`}}
	if diff := cmp.Diff(want, failures(t, rep)); diff != "" {
		t.Errorf("failures mismatch (-want +got):\n%s", diff)
	}
	if rep.Done != 1 {
		t.Errorf("done = %d, want 1", rep.Done)
	}
}

func TestImportColumns(t *testing.T) {
	t.Parallel()
	text := "user,Mail,City,Internal,Tier\nu1,ann@example.com,Warsaw,secret,2\n"
	st := store.NewMemory()
	schema := &customer.Schema{Properties: map[string]customer.Property{"level": {Type: customer.TypeNumber}}}
	rep := importInto(t, st, text, customer.ImportOptions{
		Schema: schema,
		Columns: map[string]customer.Column{
			"USER":     {Field: customer.FieldSourceID},
			"mail":     {Field: customer.FieldEmail},
			"city":     {Metadata: "home_city"}, // overrides a built-in alias
			"internal": {Ignore: true},
			"tier":     {Metadata: "level"}, // typed by the schema under its new name
		},
	})
	if rep.Done != 1 {
		t.Fatalf("report %+v, failures %v", rep, rep.Failures)
	}
	want := customer.Customer{
		SourceID:  "u1",
		Email:     "ann@example.com",
		Metadata:  customer.Metadata{"home_city": "Warsaw", "level": 2.0},
		CreatedAt: fixedNow,
		UpdatedAt: fixedNow,
	}
	if diff := cmp.Diff(want, get(t, st, "u1"), ignoreGenerated); diff != "" {
		t.Errorf("mapped customer mismatch (-want +got):\n%s", diff)
	}

	bad := []struct {
		name string
		cols map[string]customer.Column
	}{
		{"unknown column", map[string]customer.Column{"nope": {Ignore: true}}},
		{"two targets", map[string]customer.Column{"Mail": {Field: customer.FieldEmail, Ignore: true}}},
		{"no target", map[string]customer.Column{"Mail": {}}},
		{"unknown field", map[string]customer.Column{"Mail": {Field: "shoe_size"}}},
		{"duplicate target", map[string]customer.Column{"Mail": {Field: customer.FieldAddressCity}}},
		{"no identifier", map[string]customer.Column{"user": {Ignore: true}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMemory()
			_, err := customer.Import(context.Background(), st, strings.NewReader("Source_id,"+text[5:]), opts(customer.ImportOptions{Columns: tt.cols}))
			if tt.name == "no identifier" {
				_, err = customer.Import(context.Background(), st, strings.NewReader(text), opts(customer.ImportOptions{Columns: tt.cols}))
			}
			if !errors.Is(err, customer.ErrInvalid) {
				t.Fatalf("error = %v, want ErrInvalid", err)
			}
			if n := len(all(t, st)); n != 0 {
				t.Fatalf("%d customers stored after a mapping error", n)
			}
		})
	}
}

func TestImportUpdateModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	seed := func(t *testing.T) *store.Memory {
		st := store.NewMemory()
		_, err := st.UpsertCustomers(ctx, []customer.Customer{{
			SourceID: "u1", Name: "Ann", Phone: "+48 1", Email: "old@example.com",
			Metadata: customer.Metadata{"keep": "me", "tier": "gold"},
			Consents: customer.Consents{Status: map[string]customer.ConsentStatus{"cnst_1": {Granted: true}}},
		}}, customer.UpsertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	text := "Source_id,Email,Phone,tier\nu1,new@example.com,,silver\n"

	t.Run("merge (default)", func(t *testing.T) {
		st := seed(t)
		before := get(t, st, "u1")
		importInto(t, st, text, customer.ImportOptions{})
		got := get(t, st, "u1")
		if got.ID != before.ID || got.Name != "Ann" || got.Phone != "+48 1" || got.Email != "new@example.com" ||
			got.Metadata["keep"] != "me" || got.Metadata["tier"] != "silver" || !got.Consents.Granted("cnst_1") {
			t.Errorf("merged customer = %+v", got)
		}
		if !got.UpdatedAt.Equal(fixedNow) || got.CreatedAt.Equal(fixedNow) {
			t.Errorf("UpdatedAt %v (want %v), CreatedAt %v (want the original)", got.UpdatedAt, fixedNow, got.CreatedAt)
		}
	})
	t.Run("replace", func(t *testing.T) {
		st := seed(t)
		before := get(t, st, "u1")
		importInto(t, st, text, customer.ImportOptions{Mode: customer.ImportReplace})
		got := get(t, st, "u1")
		want := customer.Customer{
			ID: before.ID, SourceID: "u1", Email: "new@example.com",
			Metadata:  customer.Metadata{"tier": "silver"},
			Consents:  before.Consents,
			CreatedAt: before.CreatedAt, UpdatedAt: fixedNow,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("replaced customer mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("same source_id twice in a file", func(t *testing.T) {
		st := store.NewMemory()
		rep := importInto(t, st, "Source_id,Name,Email\nu1,Ann,\nu1,,ann@example.com\n", customer.ImportOptions{})
		if rep.Done != 2 || len(all(t, st)) != 1 {
			t.Fatalf("report %+v, %d customers", rep, len(all(t, st)))
		}
		if c := get(t, st, "u1"); c.Name != "Ann" || c.Email != "ann@example.com" {
			t.Errorf("customer = %+v", c)
		}
	})
}

// noBatchErrors hides *BatchError, like a store that does not say which
// item failed.
type noBatchErrors struct{ customer.Writer }

func (w noBatchErrors) UpsertCustomers(ctx context.Context, cs []customer.Customer, o customer.UpsertOptions) ([]customer.Customer, error) {
	out, err := w.Writer.UpsertCustomers(ctx, cs, o)
	if err != nil {
		return nil, fmt.Errorf("opaque: %w", errors.Unwrap(err)) // drops the BatchError, keeps ErrConflict
	}
	return out, err
}

func TestImportStoreConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// u2 exists; the file's row 2 tries to give its ID a new source_id.
	text := func(id string) string {
		return "Id,Source_id,Name\n,u1,Ann\n" + id + ",u2-renamed,Bob\n,u3,Cy\n"
	}
	for _, wrap := range []struct {
		name string
		w    func(*store.Memory) customer.Writer
	}{
		{"BatchError", func(m *store.Memory) customer.Writer { return m }},
		{"opaque error", func(m *store.Memory) customer.Writer { return noBatchErrors{m} }},
	} {
		t.Run(wrap.name, func(t *testing.T) {
			st := store.NewMemory()
			seed, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: "u2", Name: "Bob"}}, customer.UpsertOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rep := importInto(t, wrap.w(st), text(seed[0].ID), customer.ImportOptions{})
			f := failures(t, rep)
			if len(f) != 1 || f[0].Row != 2 || f[0].Line != 3 || f[0].Column != "Source_id" || f[0].SourceID != "u2-renamed" ||
				!strings.Contains(f[0].Reason, "cannot change") {
				t.Fatalf("failures = %+v", f)
			}
			if !errors.Is(rep.Failures[0], customer.ErrConflict) {
				t.Errorf("failure does not wrap ErrConflict: %v", rep.Failures[0])
			}
			if rep.Done != 2 || len(all(t, st)) != 3 {
				t.Errorf("done %d, %d stored; want 2 done, 3 stored", rep.Done, len(all(t, st)))
			}
			if c := get(t, st, "u2"); c.ID != seed[0].ID {
				t.Errorf("u2 changed: %+v", c)
			}
		})
	}
}

func TestImportAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("a bad row writes nothing", func(t *testing.T) {
		st := store.NewMemory()
		rep := importInto(t, st, "Source_id,Email\nu1,a@example.com\nu2,bad\nu3,c@example.com\n", customer.ImportOptions{Atomic: true, BatchSize: 1})
		if rep.Done != 0 || rep.Failed != 1 || rep.Rows != 3 || rep.Failures[0].Row != 2 {
			t.Fatalf("report %+v", rep)
		}
		if n := len(all(t, st)); n != 0 {
			t.Fatalf("%d customers stored, want none", n)
		}
	})
	t.Run("all good writes all", func(t *testing.T) {
		st := store.NewMemory()
		rep := importInto(t, st, "Source_id,Email\nu1,a@example.com\nu2,b@example.com\nu3,c@example.com\n", customer.ImportOptions{Atomic: true, BatchSize: 1})
		if rep.Done != 3 || rep.Failed != 0 || len(all(t, st)) != 3 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("a store conflict writes nothing", func(t *testing.T) {
		st := store.NewMemory()
		seed, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: "u2"}}, customer.UpsertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rep := importInto(t, st, "Id,Source_id\n,u1\n"+seed[0].ID+",other\n,u3\n", customer.ImportOptions{Atomic: true})
		if rep.Done != 0 || rep.Failed != 1 || rep.Failures[0].Row != 2 || !errors.Is(rep.Failures[0], customer.ErrConflict) {
			t.Fatalf("report %+v, failures %v", rep, rep.Failures)
		}
		if n := len(all(t, st)); n != 1 {
			t.Fatalf("%d customers stored, want only the seed", n)
		}
	})
	t.Run("a malformed file writes nothing", func(t *testing.T) {
		st := store.NewMemory()
		_, err := customer.Import(ctx, st, strings.NewReader("Source_id,Name\nu1,a\nu2,b,extra\n"), opts(customer.ImportOptions{Atomic: true}))
		if !errors.Is(err, customer.ErrMalformedCSV) {
			t.Fatalf("error = %v, want ErrMalformedCSV", err)
		}
		if n := len(all(t, st)); n != 0 {
			t.Fatalf("%d customers stored, want none", n)
		}
	})
}

func TestImportMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		text     string
		maxField int
		line     int // the csv.ParseError's line, 0 to skip
		written  int // rows before the bad one, written in full
		contains string
	}{
		{"bare quote", "Source_id,Name\nu1,Ann\nu2,Bo\"b\n", 0, 3, 1, "bare \""},
		{"quote then text", "Source_id,Name\nu1,\"Ann\"x\n", 0, 2, 0, "extraneous or missing \""},
		{"unterminated quote", "Source_id,Name\nu1,Ann\nu2,\"Bob\nu3,Cy\n", 0, 0, 1, "quote"},
		{"too many fields", "Source_id,Name\nu1,Ann\nu2,Bob,extra\n", 0, 3, 1, "wrong number of fields (the header has 2 columns)"},
		{"too few fields", "Source_id,Name\nu1\n", 0, 2, 0, "wrong number of fields"},
		{"field too large", "Source_id,Name\nu1,Ann\nu2," + strings.Repeat("x", 100) + "\n", 50, 3, 1, "field too large"},
		{"huge unterminated field", "Source_id,Name\nu1,Ann\nu2,\"" + strings.Repeat("x", 300<<10) + "\n", 1 << 10, 0, 1, "field too large"},
		{"empty file", "", 0, 0, 0, "no header"},
		{"binary", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 0, 0, 0, "not text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.NewMemory()
			rep, err := customer.Import(context.Background(), st, strings.NewReader(tt.text), opts(customer.ImportOptions{MaxFieldBytes: tt.maxField}))
			if !errors.Is(err, customer.ErrMalformedCSV) {
				t.Fatalf("error = %v, want ErrMalformedCSV", err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not mention %q", err, tt.contains)
			}
			var pe *csv.ParseError
			if tt.line != 0 && (!errors.As(err, &pe) || pe.Line != tt.line) {
				t.Errorf("error %v: want a *csv.ParseError on line %d", err, tt.line)
			}
			got := all(t, st)
			if len(got) != tt.written || rep.Done != tt.written {
				t.Fatalf("%d customers stored, report done %d; want %d", len(got), rep.Done, tt.written)
			}
			for _, c := range got {
				if c.SourceID != "u1" || c.Name != "Ann" {
					t.Errorf("stored %+v, want only the complete row u1", c)
				}
			}
		})
	}
	// Header problems that are not CSV syntax: ErrInvalid.
	for _, text := range []string{"Name,Email\nAnn,a@example.com\n", "Source_id,,Name\nu1,x,Ann\n", "Source_id,Email,EMAIL\nu1,a,b\n"} {
		if _, err := customer.Import(context.Background(), store.NewMemory(), strings.NewReader(text), customer.ImportOptions{}); !errors.Is(err, customer.ErrInvalid) {
			t.Errorf("header %q: error = %v, want ErrInvalid", strings.SplitN(text, "\n", 2)[0], err)
		}
	}
}

func TestImportBOMAndLineEnds(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"BOM":             "\uFEFFSource_id,Name\nu1,Ann\n",
		"BOM quoted":      "\uFEFF\"Source_id\",Name\r\nu1,Ann\r\n",
		"CRLF":            "Source_id,Name\r\nu1,Ann\r\n",
		"no final EOL":    "Source_id,Name\nu1,Ann",
		"empty cells":     "Source_id,Name,Email,Phone\nu1,Ann,,\n",
		"blank lines":     "Source_id,Name\n\n\nu1,Ann\n\n",
		"spaces in cells": "Source_id,Name\n u1 ,  Ann  \n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			st := store.NewMemory()
			rep := importInto(t, st, text, customer.ImportOptions{})
			if rep.Done != 1 || rep.Bytes != int64(len(text)) {
				t.Fatalf("report %+v (want 1 done, %d bytes), failures %v", rep, len(text), rep.Failures)
			}
			c := get(t, st, "u1")
			if c.Name != "Ann" || c.Email != "" || c.Phone != "" {
				t.Errorf("customer %+v", c)
			}
		})
	}
}

func TestImportProgress(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("Source_id,Name\n")
	for i := range 10 {
		fmt.Fprintf(&b, "u%d,N%d\n", i, i)
	}
	var (
		mu  sync.Mutex
		got []customer.Progress
	)
	rep := importInto(t, store.NewMemory(), b.String(), customer.ImportOptions{
		BatchSize: 4,
		Progress: func(p customer.Progress) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, p)
		},
	})
	if rep.Done != 10 {
		t.Fatalf("report %+v", rep)
	}
	if len(got) != 3 || got[0].Rows != 4 || got[0].Done != 4 || got[1].Done != 8 {
		t.Fatalf("progress = %+v, want after rows 4, 8 and at the end", got)
	}
	last := got[len(got)-1]
	if last.Rows != 10 || last.Done != 10 || last.Bytes != int64(b.Len()) {
		t.Errorf("last progress = %+v, want 10 rows done, %d bytes", last, b.Len())
	}
	for i := 1; i < len(got); i++ {
		if got[i].Bytes <= got[i-1].Bytes {
			t.Errorf("bytes did not grow: %+v", got)
		}
	}
}

// endless yields CSV rows forever.
type endless struct {
	n   int
	buf []byte
}

func (e *endless) Read(p []byte) (int, error) {
	for len(e.buf) < len(p) {
		if e.n == 0 {
			e.buf = append(e.buf, "Source_id,Name\n"...)
		}
		e.buf = fmt.Appendf(e.buf, "u%d,Name %d\n", e.n, e.n)
		e.n++
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

func TestImportCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := store.NewMemory()
	calls := 0
	rep, err := customer.Import(ctx, st, &endless{}, opts(customer.ImportOptions{
		BatchSize: 100,
		Progress: func(p customer.Progress) {
			calls++
			if p.Done >= 300 {
				cancel()
			}
		},
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	// Rows go on being parsed while a batch is written: up to two batches
	// (one handed over, one being filled) and a cancel check interval.
	if rep.Done != 300 || rep.Rows < 300 || rep.Rows > 300+2*100+64 || rep.Bytes == 0 || rep.Line != rep.Rows+1 {
		t.Errorf("report %+v: want 300 done and rows read soon after", rep)
	}
	if n := len(all(t, st)); n != rep.Done {
		t.Errorf("%d customers stored, report says %d", n, rep.Done)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("stopped after row %d", rep.Rows)) {
		t.Errorf("error %q does not say how far it got", err)
	}

	// Canceled before it starts: nothing read.
	rep, err = customer.Import(ctx, st, &endless{}, customer.ImportOptions{})
	if !errors.Is(err, context.Canceled) || rep.Rows != 0 {
		t.Errorf("pre-canceled: rows %d, error %v", rep.Rows, err)
	}
}

// failingWriter fails every write with a store error.
type failingWriter struct{ calls int }

func (w *failingWriter) UpsertCustomers(context.Context, []customer.Customer, customer.UpsertOptions) ([]customer.Customer, error) {
	w.calls++
	return nil, errors.New("database is down")
}

func TestImportWriterFailure(t *testing.T) {
	t.Parallel()
	w := &failingWriter{}
	rep, err := customer.Import(context.Background(), w, strings.NewReader("Source_id\nu1\nu2\nu3\n"), customer.ImportOptions{BatchSize: 2})
	if err == nil || !strings.Contains(err.Error(), "database is down") || !strings.Contains(err.Error(), "row 1 (line 2)") {
		t.Fatalf("error = %v, want the store's error naming the batch", err)
	}
	if w.calls != 1 || rep.Done != 0 {
		t.Errorf("calls %d, report %+v: want the import to stop at the first failed write", w.calls, rep)
	}
}

// errReader fails after some bytes.
type errReader struct{ r io.Reader }

func (e errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}

func TestImportReadFailure(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	_, err := customer.Import(context.Background(), st, errReader{strings.NewReader("Source_id\nu1\nu2\n")}, customer.ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "connection reset") || errors.Is(err, customer.ErrMalformedCSV) {
		t.Fatalf("error = %v, want the read error (not a malformed file)", err)
	}
}

func TestImportBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]customer.ImportOptions{
		"negative batch": {BatchSize: -1},
		"bad mode":       {Mode: 7},
		"bad schema":     {Schema: &customer.Schema{Properties: map[string]customer.Property{"a": {Type: "int"}}}},
	} {
		if _, err := customer.Import(context.Background(), store.NewMemory(), strings.NewReader("Source_id\nu1\n"), o); !errors.Is(err, customer.ErrInvalid) {
			t.Errorf("%s: error = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := customer.Import(context.Background(), nil, strings.NewReader("Source_id\nu1\n"), customer.ImportOptions{}); !errors.Is(err, customer.ErrInvalid) {
		t.Errorf("nil writer: error = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestImportTimezoneColumn(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	rep := importInto(t, st, "Source_id,tz\nu1,Europe/Warsaw\nu2,Mars/Olympus\nu3,Europe/Warsaw\n", customer.ImportOptions{
		Columns: map[string]customer.Column{"tz": {Field: customer.FieldTimezone}},
	})
	want := []failure{{2, 3, "tz", "u2", `timezone: "Mars/Olympus" is not an IANA time zone name`}}
	if diff := cmp.Diff(want, failures(t, rep)); diff != "" {
		t.Errorf("failures mismatch (-want +got):\n%s", diff)
	}
	if c := get(t, st, "u3"); c.Timezone != "Europe/Warsaw" {
		t.Errorf("timezone = %q", c.Timezone)
	}
}

func TestImportReplaceByID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.NewMemory()
	seed, err := st.UpsertCustomers(ctx, []customer.Customer{{SourceID: "u1", Name: "Ann", Phone: "1"}}, customer.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A row with the Id (and no source_id) updates that customer; replace
	// mode clears the phone, keeps the source_id.
	importInto(t, st, "Id,Source_id,Name\n"+seed[0].ID+",,Ann B\n", customer.ImportOptions{Mode: customer.ImportReplace})
	c := get(t, st, seed[0].ID)
	if c.SourceID != "u1" || c.Name != "Ann B" || c.Phone != "" {
		t.Errorf("customer = %+v", c)
	}
}
