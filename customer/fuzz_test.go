package customer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/store"
)

// recorder keeps every customer written, in order.
type recorder struct {
	st      *store.Memory
	written []customer.Customer
}

func (r *recorder) UpsertCustomers(ctx context.Context, cs []customer.Customer, o customer.UpsertOptions) ([]customer.Customer, error) {
	out, err := r.st.UpsertCustomers(ctx, cs, o)
	if err == nil {
		for _, c := range cs {
			r.written = append(r.written, c.Clone())
		}
	}
	return out, err
}

// FuzzImport checks that Import never panics, that every customer it
// writes is valid, and that each comes whole from one row of the file:
// every non-empty cell of that row is in it.
func FuzzImport(f *testing.F) {
	f.Add([]byte(template))
	f.Add([]byte("\uFEFFSource_id,Name,tier,tags\r\nu1,\"A, \"\"b\"\"\nc\",3,\"x,y\"\r\nu2,,abc,\r\n"))
	f.Add([]byte("Id,Source_id,Email,Birthdate\n,u1,a@b.co,2020-01-01\n,u2,bad,2020-13-01\n"))
	f.Add([]byte("Source_id,Name\nu1,\"unterminated\n"))
	f.Add([]byte("Source_id,Name\nu1\nu2,b,c\n"))
	f.Add([]byte("source_id,city,CITY\n"))
	f.Add([]byte("Source_id,when,day,flag,geo,obj\nu1,2022-05-18T10:00:00Z,2022-01-01,true,\"1, 2\",\"{\"\"a\"\":1}\"\n"))
	schema := &customer.Schema{Properties: map[string]customer.Property{
		"tier": {Type: customer.TypeNumber, Optional: true, Gte: ptr(0.0)},
		"tags": {Type: customer.TypeString, Array: true, Optional: true},
		"when": {Type: customer.TypeDatetime, Optional: true},
		"day":  {Type: customer.TypeDate, Optional: true},
		"flag": {Type: customer.TypeBoolean, Optional: true},
		"geo":  {Type: customer.TypeGeoPoint, Optional: true},
		"obj":  {Type: customer.TypeObject, Optional: true},
	}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mode := range []customer.ImportMode{customer.ImportMerge, customer.ImportReplace} {
			rec := &recorder{st: store.NewMemory()}
			rep, err := customer.Import(context.Background(), rec, bytes.NewReader(data), customer.ImportOptions{
				Schema: schema, Mode: mode, BatchSize: 3, MaxFieldBytes: 1 << 10, MaxFailures: -1,
			})
			if rep == nil {
				t.Fatal("nil report")
			}
			if rep.Done != len(rec.written) {
				t.Fatalf("report says %d done, %d written", rep.Done, len(rec.written))
			}
			if err == nil && rep.Done+rep.Failed != rep.Rows {
				t.Fatalf("done %d + failed %d != rows %d", rep.Done, rep.Failed, rep.Rows)
			}
			if err != nil && !errors.Is(err, customer.ErrMalformedCSV) && !errors.Is(err, customer.ErrInvalid) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			for _, c := range rec.written {
				if verr := c.Validate(); verr != nil {
					t.Fatalf("wrote an invalid customer %+v: %v", c, verr)
				}
				if verr := schema.Validate(c.Metadata); verr != nil && !onlyRequired(verr) {
					t.Fatalf("wrote metadata that breaks the schema %+v: %v", c.Metadata, verr)
				}
			}
			checkWholeRows(t, schema, data, rep, rec.written)
		}
	})
}

func onlyRequired(err error) bool {
	var me *customer.MetadataError
	return errors.As(err, &me) && me.Rule == customer.RuleRequired
}

// checkWholeRows re-reads the file with encoding/csv and matches the
// written customers, in order, with the rows that did not fail.
func checkWholeRows(t *testing.T, schema *customer.Schema, data []byte, rep *customer.ImportReport, written []customer.Customer) {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\uFEFF"))))
	header, err := r.Read()
	if err != nil {
		return
	}
	failed := map[int]bool{}
	for _, f := range rep.Failures {
		failed[f.Row] = true
	}
	k := 0
	for row := 1; k < len(written); row++ {
		rec, err := r.Read()
		if err == io.EOF || (err != nil && !errors.Is(err, csv.ErrFieldCount)) {
			t.Fatalf("customer %d written but the file has no matching row (%v)", k, err)
		}
		if failed[row] {
			continue
		}
		c := written[k]
		k++
		for i, h := range header {
			if i >= len(rec) {
				break
			}
			cell := strings.TrimSpace(rec[i])
			if cell == "" {
				continue
			}
			if f, ok := customer.HeaderField(h); ok {
				if got := fieldValue(c, f); got != cell {
					t.Fatalf("row %d column %q: customer has %q, row has %q", row, h, got, cell)
				}
				continue
			}
			key := strings.TrimSpace(h)
			if name, _, ok := schema.Property(key); ok {
				key = name
			}
			if _, ok := c.Metadata[key]; !ok {
				t.Fatalf("row %d column %q: metadata missing from %+v", row, h, c.Metadata)
			}
		}
	}
}

func fieldValue(c customer.Customer, f customer.Field) string {
	switch f {
	case customer.FieldID:
		return c.ID
	case customer.FieldSourceID:
		return c.SourceID
	case customer.FieldName:
		return c.Name
	case customer.FieldEmail:
		return c.Email
	case customer.FieldPhone:
		return c.Phone
	case customer.FieldDescription:
		return c.Description
	case customer.FieldBirthdate:
		return c.Birthdate.String()
	case customer.FieldAddressLine1:
		return c.Address.Line1
	case customer.FieldAddressLine2:
		return c.Address.Line2
	case customer.FieldAddressCity:
		return c.Address.City
	case customer.FieldAddressState:
		return c.Address.State
	case customer.FieldAddressPostalCode:
		return c.Address.PostalCode
	case customer.FieldAddressCountry:
		return c.Address.Country
	}
	return ""
}
