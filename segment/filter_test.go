package segment

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/codedrop/codedrop/customer"
	"github.com/google/go-cmp/cmp"
)

func TestParseFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     *Filter
	}{
		{"intercom", `{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`,
			&Filter{Junction: And, Conditions: []Condition{{"metadata.source", OpIs, []any{"Intercom"}}}}},
		{"voucherify example, bare scalar and array", `{"junction":"and","birthdate":{"conditions":{"$next_month":[true]}},"address.country":{"conditions":{"$is":"Poland"}},"metadata.club_level":{"conditions":{"$in":["Gold","Silver"]}}}`,
			&Filter{Junction: And, Conditions: []Condition{
				{"birthdate", OpNextMonth, []any{true}},
				{"address.country", OpIs, []any{"Poland"}},
				{"metadata.club_level", OpIn, []any{"Gold", "Silver"}},
			}}},
		{"upper-case junction, numbers, two operators on a field", `{"junction":"OR","metadata.ltv":{"conditions":{"$more_than":[100],"$less_than":1e3}}}`,
			&Filter{Junction: Or, Groups: []*Filter{{Junction: And, Conditions: []Condition{{"metadata.ltv", OpMoreThan, []any{100.0}}, {"metadata.ltv", OpLessThan, []any{1000.0}}}}}}},
		{"field junction or under an or filter stays flat", `{"metadata.ltv":{"junction":"or","conditions":{"$more_than":[100],"$less_than":[10]}},"junction":"or"}`,
			&Filter{Junction: Or, Conditions: []Condition{{"metadata.ltv", OpMoreThan, []any{100.0}}, {"metadata.ltv", OpLessThan, []any{10.0}}}}},
		{"no junction", `{"email":{"conditions":{"$has_value":""}}}`,
			&Filter{Conditions: []Condition{{"email", OpHasValue, []any{""}}}}},
		{"field junction or", `{"junction":"and","email":{"junction":"or","conditions":{"$ends_with":"@a.com","$starts_with":"b"}}}`,
			&Filter{Junction: And, Groups: []*Filter{{Junction: Or, Conditions: []Condition{{"email", OpEndsWith, []any{"@a.com"}}, {"email", OpStartsWith, []any{"b"}}}}}}},
		{"nested groups", `{"junction":"or","groups":[{"junction":"and","name":{"conditions":{"$is":"A"}}},{"name":{"conditions":{"$is":"B"}}}]}`,
			&Filter{Junction: Or, Groups: []*Filter{
				{Junction: And, Conditions: []Condition{{"name", OpIs, []any{"A"}}}},
				{Conditions: []Condition{{"name", OpIs, []any{"B"}}}},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFilter([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFilter mismatch (-want +got):\n%s", diff)
			}
			// It writes back to JSON that parses to a filter that means the same.
			again, err := ParseFilter([]byte(got.String()))
			if err != nil {
				t.Fatalf("reparse %s: %v", got, err)
			}
			if again.String() != got.String() {
				t.Errorf("round trip changed the filter:\n%s\n%s", got, again)
			}
		})
	}
}

func TestParseFilterErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, path, op, msg string
	}{
		{`[]`, "", "", "want a filter object, got an array"},
		{`{"junction":"xor","name":{"conditions":{"$is":"a"}}}`, "", "", `junction: want "and" or "or", got "xor"`},
		{`{"junction":"and"}`, "", "", "the filter has no conditions"},
		{`{"name":{"conditions":{"$equals":"a"}}}`, "name", "$equals", "unknown operator"},
		{`{"name":{"conditions":{"$is":{"a":1}}}}`, "name", "$is", "want a value or an array of values, got an object"},
		{`{"name":{"conditions":{"$in":[["a"]]}}}`, "name", "$in", "want a string, number or boolean, got an array"},
		{`{"name":{"conditions":{"$is":null}}}`, "name", "$is", "want a string, number or boolean, got null"},
		{`{"name":{"$is":"a"}}`, "name", "", `unknown key "$is"`},
		{`{"name":{"conditions":{}}}`, "name", "", "no conditions"},
		{`{"name":"Ann"}`, "name", "", `want {"conditions": {...}}, got the string "Ann"`},
		{`{"name":{"conditions":{"$is":"a"}}`, "", "", "malformed JSON: unexpected EOF"},
		{`{"name":{"conditions":{"$is":"a"}}} {}`, "", "", "unexpected data after the filter object"},
		{`{"groups":[{"junction":"and"}]}`, "groups[0]", "", "the filter has no conditions"},
		{`{"":{"conditions":{"$is":"a"}}}`, "", "", "empty field path"},
	}
	for _, tt := range tests {
		_, err := ParseFilter([]byte(tt.in))
		var fe *FilterError
		if !errors.As(err, &fe) {
			t.Errorf("ParseFilter(%s) error = %v, want a *FilterError", tt.in, err)
			continue
		}
		if fe.Path != tt.path || fe.Operator != tt.op || !strings.Contains(fe.Err.Error(), tt.msg) {
			t.Errorf("ParseFilter(%s) = path %q op %q err %q; want path %q op %q err containing %q",
				tt.in, fe.Path, fe.Operator, fe.Err, tt.path, tt.op, tt.msg)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseFilter(%s) error does not match ErrInvalid", tt.in)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	schema := &customer.Schema{Properties: map[string]customer.Property{
		"ltv":      {Type: customer.TypeNumber},
		"vip":      {Type: customer.TypeBoolean},
		"signup":   {Type: customer.TypeDate},
		"source":   {Type: customer.TypeString},
		"tags":     {Type: customer.TypeString, Array: true},
		"location": {Type: customer.TypeGeoPoint},
		"old":      {Type: customer.TypeNumber, Deleted: true},
	}}
	tests := []struct {
		name, filter, path, op, msg string
		schema                      *customer.Schema
	}{
		{"unknown field", condJSON("emial", "$is", `"a"`), "emial", "", "unknown field (fields are id, source_id", nil},
		{"bare metadata", condJSON("metadata", "$is", `"a"`), "metadata", "", "unknown field", nil},
		{"empty metadata key part", condJSON("metadata.a..b", "$is", `"a"`), "metadata.a..b", "", "empty metadata key segment", nil},
		{"text operator on a number", condJSON("summary.orders.total_count", "$contains", `"1"`), "summary.orders.total_count", "$contains", "the field is a number; $contains applies to text", nil},
		{"number operator on text", condJSON("email", "$more_than", `5`), "email", "$more_than", "the field is a string; $more_than compares numbers", nil},
		{"not a number", condJSON("metadata.ltv", "$more_than", `"lots"`), "metadata.ltv", "$more_than", `want a number, got "lots"`, nil},
		{"two values", condJSON("metadata.ltv", "$more_than", `[1,2]`), "metadata.ltv", "$more_than", "want exactly one value, got 2", nil},
		{"no values", condJSON("name", "$in", `[]`), "name", "$in", "want at least one value", nil},
		{"bad date", condJSON("created_at", "$after", `"yesterday"`), "created_at", "$after", `want a date (YYYY-MM-DD) or an ISO 8601 date-time, got "yesterday"`, nil},
		{"date operator on text", condJSON("name", "$before", `"2020-01-01"`), "name", "$before", "the field is a string; $before applies to dates", nil},
		{"negative days", condJSON("created_at", "$more_than_ago", `-3`), "created_at", "$more_than_ago", "want a whole number of days (0 or more), got -3", nil},
		{"fractional days", condJSON("created_at", "$is_days_ago", `1.5`), "created_at", "$is_days_ago", "want a whole number of days", nil},
		{"count on one value", condJSON("email", "$count", `1`), "email", "$count", "the field holds one value; $count counts the values of an array", nil},
		{"next month not bool", condJSON("birthdate", "$next_month", `"soon"`), "birthdate", "$next_month", `want true or false, got "soon"`, nil},
		{"boolean text operand", condJSON("name", "$contains", `true`), "name", "$contains", "value 1: want text, got true", nil},
		{"schema number: not a number", condJSON("metadata.ltv", "$is", `"abc"`), "metadata.ltv", "$is", `value 1: the field is a number, got "abc"`, schema},
		{"schema number: text operator", condJSON("metadata.ltv", "$starts_with", `"1"`), "metadata.ltv", "$starts_with", "the field is a number", schema},
		{"schema boolean", condJSON("metadata.vip", "$is", `"yes"`), "metadata.vip", "$is", `the field is a boolean, got "yes"`, schema},
		{"schema date", condJSON("metadata.signup", "$is", `"March"`), "metadata.signup", "$is", "the field is a date", schema},
		{"schema string: no dates", condJSON("metadata.source", "$after", `"2020-01-01"`), "metadata.source", "$after", "the field is a string", schema},
		{"schema geopoint", condJSON("metadata.location", "$is", `"x"`), "metadata.location", "$is", "only $has_value and $is_unknown apply", schema},
		{"schema scalar: no count", condJSON("metadata.source", "$count", `1`), "metadata.source", "$count", "holds one value", schema},
		{"schema scalar: no nested keys", condJSON("metadata.source.x", "$is", `"a"`), "metadata.source.x", "", `metadata "source" is a string, not an object with keys`, schema},
		{"defined only", condJSON("metadata.undefined", "$is", `"a"`), "metadata.undefined", "", `metadata key "undefined" is not defined in the schema`,
			&customer.Schema{AllowDefinedOnly: true, Properties: schema.Properties}},
		{"deleted property is undefined", condJSON("metadata.old", "$is", `"a"`), "metadata.old", "", "not defined in the schema",
			&customer.Schema{AllowDefinedOnly: true, Properties: schema.Properties}},
		{"error inside a group", `{"junction":"or","groups":[{"name":{"conditions":{"$is":"a"}}},{"nmae":{"conditions":{"$is":"b"}}}]}`, "nmae", "", "unknown field", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter([]byte(tt.filter))
			if err != nil {
				t.Fatal(err)
			}
			_, err = DefaultEvaluator{Schema: tt.schema}.Compile(Segment{Type: Passive, Filter: f})
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("Compile error = %v, want a *FilterError", err)
			}
			if fe.Path != tt.path || fe.Operator != tt.op || !strings.Contains(fe.Err.Error(), tt.msg) {
				t.Errorf("Compile error = path %q op %q err %q; want path %q op %q err containing %q",
					fe.Path, fe.Operator, fe.Err, tt.path, tt.op, tt.msg)
			}
			want := "segment rule: " + tt.path
			if !strings.HasPrefix(fe.Error(), want) {
				t.Errorf("Error() = %q, want it to start with %q", fe.Error(), want)
			}
		})
	}
}

func TestSchemaTyping(t *testing.T) {
	t.Parallel()
	schema := &customer.Schema{Properties: map[string]customer.Property{
		"ltv":    {Type: customer.TypeNumber},
		"code":   {Type: customer.TypeString},
		"signup": {Type: customer.TypeDate},
		"seen":   {Type: customer.TypeDatetime},
		"vip":    {Type: customer.TypeBoolean},
		"levels": {Type: customer.TypeNumber, Array: true},
	}}
	ev := DefaultEvaluator{Schema: schema}
	c := customer.Customer{Metadata: customer.Metadata{
		"ltv":    "250",                  // a number property stored as text (wrong type) still compares as a number
		"code":   250.0,                  // a string property holding a number compares as text
		"signup": "2026-03-10",           // a date property stored as text
		"seen":   "2026-03-14T08:00:00Z", // a datetime property stored as text
		"vip":    "true",
		"levels": []any{"1", 2.0},
		"oops":   "not a number",
	}}
	tests := []struct {
		filter string
		want   bool
	}{
		{condJSON("metadata.ltv", "$more_than", `100`), true},
		{condJSON("metadata.ltv", "$is", `"250.00"`), true},
		{condJSON("metadata.code", "$is", `"250"`), true},
		{condJSON("metadata.code", "$starts_with", `"25"`), true},
		{condJSON("metadata.signup", "$is_days_ago", `5`), true},
		{condJSON("metadata.signup", "$after", `"2026-03-09"`), true},
		{condJSON("metadata.seen", "$after", `"2026-03-14T07:59:59Z"`), true},
		{condJSON("metadata.vip", "$is", `true`), true},
		{condJSON("metadata.levels", "$is", `1`), true},
		{condJSON("metadata.levels", "$more_than", `1.5`), true},
		{condJSON("metadata.levels", "$count", `2`), true},
	}
	for _, tt := range tests {
		if got := mustMatch(t, ev, tt.filter, &c); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.filter, got, tt.want)
		}
	}
	// A value of the wrong type that cannot be converted matches no positive test.
	bad := customer.Customer{Metadata: customer.Metadata{"ltv": "lots"}}
	if mustMatch(t, ev, condJSON("metadata.ltv", "$more_than", `1`), &bad) {
		t.Error(`"lots" matched metadata.ltv $more_than 1`)
	}
	if !mustMatch(t, ev, condJSON("metadata.ltv", "$is_not", `1`), &bad) {
		t.Error(`"lots" did not match metadata.ltv $is_not 1`)
	}
}

func TestJunctions(t *testing.T) {
	t.Parallel()
	c := testCustomer()
	tests := []struct {
		filter string
		want   bool
	}{
		{`{"junction":"and","metadata.source":{"conditions":{"$is":"Intercom"}},"metadata.ltv":{"conditions":{"$more_than":100}}}`, true},
		{`{"junction":"and","metadata.source":{"conditions":{"$is":"Intercom"}},"metadata.ltv":{"conditions":{"$more_than":1000}}}`, false},
		{`{"junction":"or","metadata.source":{"conditions":{"$is":"Web"}},"metadata.ltv":{"conditions":{"$more_than":100}}}`, true},
		{`{"junction":"or","metadata.source":{"conditions":{"$is":"Web"}},"metadata.ltv":{"conditions":{"$more_than":1000}}}`, false},
		// Two operators on one field combine with "and" by default...
		{`{"metadata.ltv":{"conditions":{"$more_than":100,"$less_than":200}}}`, false},
		{`{"metadata.ltv":{"conditions":{"$more_than":100,"$less_than":300}}}`, true},
		// ...also inside an "or" filter.
		{`{"junction":"or","metadata.ltv":{"conditions":{"$more_than":100,"$less_than":200}},"name":{"conditions":{"$is":"nobody"}}}`, false},
		// ...or with the field's own junction.
		{`{"metadata.ltv":{"junction":"or","conditions":{"$more_than":1000,"$less_than":300}}}`, true},
		// Nested groups: (source is Web and ltv > 100) or (country is Poland and vip).
		{`{"junction":"or","groups":[{"junction":"and","metadata.source":{"conditions":{"$is":"Web"}},"metadata.ltv":{"conditions":{"$more_than":100}}},{"address.country":{"conditions":{"$is":"Poland"}},"metadata.vip":{"conditions":{"$is":true}}}]}`, true},
		{`{"junction":"and","name":{"conditions":{"$has_value":""}},"groups":[{"junction":"or","metadata.source":{"conditions":{"$is":"Web"}},"email":{"conditions":{"$ends_with":"@web.com"}}}]}`, false},
	}
	for _, tt := range tests {
		if got := mustMatch(t, DefaultEvaluator{}, tt.filter, &c); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestFilterMarshal(t *testing.T) {
	t.Parallel()
	// A filter built in Go, with a repeated operator on one path under "or".
	f := &Filter{Junction: Or, Conditions: []Condition{
		{"metadata.ltv", OpMoreThan, []any{500.0}},
		{"metadata.ltv", OpLessThan, []any{10.0}},
		{"email", OpEndsWith, []any{"@a.com"}},
		{"email", OpEndsWith, []any{"@b.com"}},
	}}
	data, err := json.Marshal(Segment{Name: "x", Type: Passive, Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	var back Segment
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	for _, email := range []string{"x@a.com", "x@b.com", "x@c.com"} {
		for _, ltv := range []float64{5, 50, 5000} {
			c := customer.Customer{Email: email, Metadata: customer.Metadata{"ltv": ltv}}
			m1, err := DefaultEvaluator{}.CompileFilter(f)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := DefaultEvaluator{}.CompileFilter(back.Filter)
			if err != nil {
				t.Fatal(err)
			}
			if m1.Match(&c, now) != m2.Match(&c, now) {
				t.Errorf("%s, ltv %v: the filter and its JSON %s disagree", email, ltv, data)
			}
		}
	}
}

// FuzzFilter checks that any input either parses or fails with a
// *FilterError, that a parsed filter survives a JSON round trip, and that a
// compiled one can be matched without panicking.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`,
		`{"junction":"and","birthdate":{"conditions":{"$next_month":[true]}},"address.country":{"conditions":{"$is":"Poland"}},"metadata.club_level":{"conditions":{"$in":["Gold","Silver"]}}}`,
		`{"junction":"or","groups":[{"name":{"conditions":{"$is":"A"}}},{"metadata.ltv":{"conditions":{"$more_than":1}}}]}`,
		`{"created_at":{"conditions":{"$after":["2021-12-01T00:00:00.000Z"]}}}`,
		`{"metadata.tags":{"junction":"or","conditions":{"$count":2,"$contains":"x"}}}`,
		`{"x":{"conditions":{"$is":1e999}}}`,
		`{`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	c := testCustomer()
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := ParseFilter(data)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFilter error %v (%T) is not a *FilterError", err, err)
			}
			return
		}
		out, err := json.Marshal(flt)
		if err != nil {
			t.Fatalf("marshal parsed filter: %v", err)
		}
		again, err := ParseFilter(out)
		if err != nil {
			t.Fatalf("reparse %s: %v", out, err)
		}
		if again.String() != string(out) {
			t.Fatalf("round trip is not stable:\n%s\n%s", out, again)
		}
		m, err := DefaultEvaluator{}.CompileFilter(flt)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("CompileFilter error %v is not a *FilterError", err)
			}
			return
		}
		got := m.Match(&c, now)
		if ex := m.(Explainer).Explain(&c, now); ex.Matched != got {
			t.Fatalf("Explain disagrees with Match for %s", data)
		}
	})
}
