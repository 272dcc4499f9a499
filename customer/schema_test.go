package customer

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestSchemaParse(t *testing.T) {
	t.Parallel()
	s := &Schema{Properties: map[string]Property{
		"str":    {Type: TypeString},
		"num":    {Type: TypeNumber},
		"flag":   {Type: TypeBoolean},
		"day":    {Type: TypeDate},
		"when":   {Type: TypeDatetime},
		"obj":    {Type: TypeObject},
		"geo":    {Type: TypeGeoPoint},
		"img":    {Type: TypeImageURL},
		"brands": {Type: TypeString, Array: true},
		"nums":   {Type: TypeNumber, Array: true},
		"days":   {Type: TypeDate, Array: true},
		"geos":   {Type: TypeGeoPoint, Array: true},
		"objs":   {Type: TypeObject, Array: true},
		"gone":   {Type: TypeNumber, Deleted: true},
		"CRM_id": {Type: TypeNumber},
	}}
	tests := []struct {
		key, cell string
		want      any
		rule      Rule // "" for success
	}{
		{"str", "hello, world", "hello, world", ""},
		{"str", "", nil, ""},
		{"str", "null", nil, ""},
		{"num", "12", 12.0, ""},
		{"num", " -3.5e2 ", -350.0, ""},
		{"num", "NaN", nil, RuleType},
		{"num", "Inf", nil, RuleType},
		{"num", "12abc", nil, RuleType},
		{"flag", "true", true, ""},
		{"flag", "FALSE", false, ""},
		{"flag", "NULL", nil, ""},
		{"flag", "yes", nil, RuleType},
		{"day", "2022-07-03", Date{2022, time.July, 3}, ""},
		{"day", "2022-02-30", nil, RuleType},
		{"day", "03/07/2022", nil, RuleType},
		{"when", "2022-05-18T10:00:00.000Z", time.Date(2022, 5, 18, 10, 0, 0, 0, time.UTC), ""},
		{"when", "2022-05-18T12:00:00+02:00", time.Date(2022, 5, 18, 12, 0, 0, 0, time.FixedZone("", 7200)), ""},
		{"when", "2022-05-18T10:00:00", time.Date(2022, 5, 18, 10, 0, 0, 0, time.UTC), ""},
		{"when", "2022-05-18", time.Date(2022, 5, 18, 0, 0, 0, 0, time.UTC), ""},
		{"when", "yesterday", nil, RuleType},
		{"obj", `{"a":1,"b":"x"}`, map[string]any{"a": 1.0, "b": "x"}, ""},
		{"obj", `[1]`, nil, RuleType},
		{"obj", `null`, nil, ""},
		{"geo", "52.23, 21.01", GeoPoint{52.23, 21.01}, ""},
		{"geo", "91, 0", nil, RuleType},
		{"geo", "52.23", nil, RuleType},
		{"img", "https://cdn.example.com/a.png", "https://cdn.example.com/a.png", ""},
		{"img", "not a url", nil, RuleType},
		{"img", "ftp://example.com/a.png", nil, RuleType},
		{"brands", "Nike,Fenty,Reebok", []any{"Nike", "Fenty", "Reebok"}, ""},
		{"brands", " Nike , Fenty,", []any{"Nike", "Fenty"}, ""},
		{"brands", "Nike", []any{"Nike"}, ""},
		{"nums", "123,234", []any{123.0, 234.0}, ""},
		{"nums", "123,x", nil, RuleType},
		{"days", "2022-01-01,2022-01-02", []any{Date{2022, 1, 1}, Date{2022, 1, 2}}, ""},
		{"geos", "1, 2, 3, 4", []any{GeoPoint{1, 2}, GeoPoint{3, 4}}, ""},
		{"geos", "1, 2, 3", nil, RuleType},
		{"objs", `[{"a":1},{"b":2}]`, []any{map[string]any{"a": 1.0}, map[string]any{"b": 2.0}}, ""},
		{"objs", `{"a":1}`, nil, RuleType},
		{"gone", "12", "12", ""},          // deleted: undefined, kept as a string
		{"undefined", "12", "12", ""},     // undefined: string
		{"undefined", "null", "null", ""}, // undefined: verbatim
		{"crm_ID", "7", 7.0, ""},          // case-insensitive fallback
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.cell, func(t *testing.T) {
			got, err := s.Parse(tt.key, tt.cell)
			checkRule(t, err, tt.key, tt.rule)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q, %q) mismatch (-want +got):\n%s", tt.key, tt.cell, diff)
			}
		})
	}
}

func checkRule(t *testing.T, err error, key string, rule Rule) {
	t.Helper()
	if rule == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var me *MetadataError
	if !errors.As(err, &me) {
		t.Fatalf("error = %v, want a *MetadataError with rule %s", err, rule)
	}
	if me.Rule != rule || (key != "" && me.Key != key) {
		t.Fatalf("error = %v (key %q rule %s), want key %q rule %s", err, me.Key, me.Rule, key, rule)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not wrap ErrInvalid", err)
	}
}

func TestSchemaRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Property
		cell string
		rule Rule
	}{
		{"eq ok", Property{Type: TypeString, Eq: []any{"Facebook", "Twitter"}}, "Twitter", ""},
		{"eq bad", Property{Type: TypeString, Eq: []any{"Facebook", "Twitter"}}, "snap", RuleEq},
		{"eq number", Property{Type: TypeNumber, Eq: []any{1.0, 2}}, "2", ""},
		{"eq number bad", Property{Type: TypeNumber, Eq: []any{1.0, 2}}, "3", RuleEq},
		{"eq array element", Property{Type: TypeString, Array: true, Eq: []any{"a", "b"}}, "a,c", RuleEq},
		{"ne", Property{Type: TypeNumber, Ne: []float64{0}}, "0", RuleNe},
		{"ne ok", Property{Type: TypeNumber, Ne: []float64{0}}, "1", ""},
		{"lt", Property{Type: TypeNumber, Lt: ptr(10.0)}, "10", RuleLt},
		{"lt ok", Property{Type: TypeNumber, Lt: ptr(10.0)}, "9.99", ""},
		{"lte", Property{Type: TypeNumber, Lte: ptr(10.0)}, "10.01", RuleLte},
		{"lte ok", Property{Type: TypeNumber, Lte: ptr(10.0)}, "10", ""},
		{"gt", Property{Type: TypeNumber, Gt: ptr(0.0)}, "0", RuleGt},
		{"gt ok", Property{Type: TypeNumber, Gt: ptr(0.0)}, "0.1", ""},
		{"gte", Property{Type: TypeNumber, Gte: ptr(0.0)}, "-1", RuleGte},
		{"gte ok", Property{Type: TypeNumber, Gte: ptr(0.0)}, "0", ""},
		{"gte array", Property{Type: TypeNumber, Array: true, Gte: ptr(0.0)}, "1,-1", RuleGte},
		{"min_length", Property{Type: TypeString, MinLength: ptr(3)}, "ab", RuleMinLength},
		{"min_length ok (runes)", Property{Type: TypeString, MinLength: ptr(3)}, "żółw", ""},
		{"max_length", Property{Type: TypeString, MaxLength: ptr(3)}, "abcd", RuleMaxLength},
		{"max_length ok (runes)", Property{Type: TypeString, MaxLength: ptr(3)}, "żół", ""},
		{"exact_length", Property{Type: TypeString, ExactLength: ptr(2)}, "abc", RuleExactLength},
		{"exact_length ok", Property{Type: TypeString, ExactLength: ptr(2)}, "PL", ""},
		{"type", Property{Type: TypeBoolean}, "1", RuleType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Schema{Properties: map[string]Property{"k": tt.p}}
			v, err := s.Parse("k", tt.cell)
			checkRule(t, err, "k", tt.rule)
			if tt.rule == "" {
				// A parsed value passes Validate as well.
				if err := s.Validate(Metadata{"k": v}); err != nil {
					t.Fatalf("Validate(parsed %v) = %v", v, err)
				}
			}
		})
	}
}

func TestSchemaValidate(t *testing.T) {
	t.Parallel()
	s := &Schema{Properties: map[string]Property{
		"channel": {Type: TypeString, Eq: []any{"Facebook", "Twitter", "Website"}},
		"ltv":     {Type: TypeNumber, Optional: true, Gte: ptr(0.0)},
		"day":     {Type: TypeDate, Optional: true},
		"when":    {Type: TypeDatetime, Optional: true},
		"tags":    {Type: TypeString, Array: true, Optional: true},
		"loc":     {Type: TypeGeoPoint, Optional: true},
		"obj":     {Type: TypeObject, Optional: true},
		"old":     {Type: TypeString, Deleted: true},
	}}
	strict := &Schema{Properties: s.Properties, AllowDefinedOnly: true}
	tests := []struct {
		name   string
		schema *Schema
		m      Metadata
		key    string
		rule   Rule
	}{
		{"ok", s, Metadata{"channel": "Website", "ltv": 3, "day": Date{2020, 1, 2}, "when": time.Now(), "tags": []any{"a"}, "loc": GeoPoint{1, 2}, "obj": map[string]any{}}, "", ""},
		{"undefined kept", s, Metadata{"channel": "Website", "other": 42}, "", ""},
		{"deleted is undefined", s, Metadata{"channel": "Website", "old": 1}, "", ""},
		{"required missing", s, Metadata{"ltv": 1.0}, "channel", RuleRequired},
		{"required null", s, Metadata{"channel": nil}, "channel", RuleRequired},
		{"optional null", s, Metadata{"channel": "Website", "ltv": nil}, "", ""},
		{"eq", s, Metadata{"channel": "snap"}, "channel", RuleEq},
		{"wrong type number", s, Metadata{"channel": "Website", "ltv": "3"}, "ltv", RuleType},
		{"wrong type date", s, Metadata{"channel": "Website", "day": "2020-01-02"}, "day", RuleType},
		{"invalid date", s, Metadata{"channel": "Website", "day": Date{2020, 2, 30}}, "day", RuleType},
		{"wrong type datetime", s, Metadata{"channel": "Website", "when": Date{2020, 1, 2}}, "when", RuleType},
		{"array not array", s, Metadata{"channel": "Website", "tags": "a"}, "tags", RuleType},
		{"array element", s, Metadata{"channel": "Website", "tags": []any{"a", 1.0}}, "tags", RuleType},
		{"geo range", s, Metadata{"channel": "Website", "loc": GeoPoint{100, 0}}, "loc", RuleType},
		{"bound", s, Metadata{"channel": "Website", "ltv": -1.0}, "ltv", RuleGte},
		{"defined only", strict, Metadata{"channel": "Website", "other": "x"}, "other", RuleDefined},
		{"defined only deleted", strict, Metadata{"channel": "Website", "old": "x"}, "old", RuleDefined},
		{"nil schema", nil, Metadata{"x": 1}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRule(t, tt.schema.Validate(tt.m), tt.key, tt.rule)
		})
	}
}

func TestSchemaValidateReportsEveryKey(t *testing.T) {
	s := &Schema{Properties: map[string]Property{"a": {Type: TypeNumber}, "b": {Type: TypeBoolean}}}
	err := s.Validate(Metadata{"a": "x"})
	want := `metadata "a": must be a number (actual value is "x")` + "\n" + `metadata "b": property is required`
	if err == nil || err.Error() != want {
		t.Fatalf("Validate error =\n%v\nwant\n%s", err, want)
	}
}

func TestSchemaJSON(t *testing.T) {
	t.Parallel()
	// Voucherify's /v1/metadata-schemas spelling (camelCase lengths) plus
	// fields we ignore.
	in := `{
		"id": "ms_1", "related_object": "customer", "object": "metadata_schema",
		"allow_defined_only": true,
		"properties": {
			"CRM_created_date": {"type": "datetime", "array": false, "optional": true},
			"acquisition_channel": {"type": "string", "eq": ["Facebook", "Twitter", "Website"], "minLength": 2, "maxLength": 20, "exactLength": null},
			"customer_life_time_value": {"type": "number", "gte": 0, "lt": 1000000, "ne": [13]},
			"code": {"type": "string", "exact_length": 4},
			"payment": {"type": "object", "objectType": "Payment", "optional": true}
		}
	}`
	want := &Schema{
		AllowDefinedOnly: true,
		Properties: map[string]Property{
			"CRM_created_date":         {Type: TypeDatetime, Optional: true},
			"acquisition_channel":      {Type: TypeString, Eq: []any{"Facebook", "Twitter", "Website"}, MinLength: ptr(2), MaxLength: ptr(20)},
			"customer_life_time_value": {Type: TypeNumber, Gte: ptr(0.0), Lt: ptr(1e6), Ne: []float64{13}},
			"code":                     {Type: TypeString, ExactLength: ptr(4)},
			"payment":                  {Type: TypeObject, ObjectType: "Payment", Optional: true},
		},
	}
	got, err := ParseSchema([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ParseSchema mismatch (-want +got):\n%s", diff)
	}
	// Written in snake_case and read back unchanged.
	out, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	ac := back["properties"].(map[string]any)["acquisition_channel"].(map[string]any)
	if ac["min_length"] != 2.0 || ac["minLength"] != nil || back["allow_defined_only"] != true {
		t.Fatalf("written schema not in Voucherify snake_case form: %s", out)
	}
	again, err := ParseSchema(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
	}
	// camelCase allowDefinedOnly is read too.
	s, err := ParseSchema([]byte(`{"allowDefinedOnly": true, "properties": {}}`))
	if err != nil || !s.AllowDefinedOnly {
		t.Fatalf("allowDefinedOnly not read: %+v, %v", s, err)
	}
}

func TestSchemaCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, json string
	}{
		{"unknown type", `{"properties":{"a":{"type":"integer"}}}`},
		{"bounds on string", `{"properties":{"a":{"type":"string","lt":3}}}`},
		{"length on number", `{"properties":{"a":{"type":"number","max_length":3}}}`},
		{"negative length", `{"properties":{"a":{"type":"string","min_length":-1}}}`},
		{"eq bool", `{"properties":{"a":{"type":"string","eq":[true]}}}`},
		{"not json", `{"properties":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSchema([]byte(tt.json))
			if err == nil {
				t.Fatal("ParseSchema accepted a bad schema")
			}
			if tt.name != "not json" && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}
