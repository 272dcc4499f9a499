package postgres

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/codedrop/codedrop/customer"
)

// appendPlainJSON must write what encoding/json writes (one key per map:
// encoding/json sorts keys, jsonb reorders them anyway).
func TestAppendPlainJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	values := []any{
		"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f", "<a href='x'>&amp;</a>",
		"line\u2028sep\u2029para", "zażółć 日本 😀", "bad \xff\xfe utf8", "trunc \xe2\x82",
		0.0, math.Copysign(0, -1), 1.0, -0.5, 12.5, 123456789.125, 1e20, 1e21, 1.5e300, 1e-6, 1e-7, -3.2e-10, math.MaxFloat64, math.SmallestNonzeroFloat64,
		true, false, nil,
		[]any{}, []any(nil), []any{"a", 1.0, true, nil}, []any{"x\ny"},
	}
	for _, v := range values {
		m := customer.Metadata{"k\"ey<": v}
		want, err := json.Marshal(map[string]any(m))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendPlainJSON([]byte("prefix"), m)
		if !plainOnly(m) {
			t.Errorf("plainOnly(%#v) = false", v)
		}
		if !ok {
			t.Errorf("appendPlainJSON(%#v) not ok", v)
			continue
		}
		if string(got) != "prefix"+string(want) {
			t.Errorf("appendPlainJSON(%#v) = %s, want prefix%s", v, got, want)
		}
	}
}

func TestAppendPlainJSONRefusesOtherValues(t *testing.T) {
	t.Parallel()
	for _, v := range []any{
		math.NaN(), math.Inf(1), customer.Date{Year: 2024, Month: 1, Day: 2}, customer.GeoPoint{Lat: 1, Lng: 2},
		map[string]any{"a": "b"}, []any{customer.Date{Year: 2024, Month: 1, Day: 2}}, []any{[]any{"nested"}}, 3,
	} {
		m := customer.Metadata{"a": "fine", "k": v}
		if plainOnly(m) {
			t.Errorf("plainOnly(%#v) = true", v)
		}
		if got, ok := appendPlainJSON([]byte("prefix"), m); ok || string(got) != "prefix" {
			t.Errorf("appendPlainJSON(%#v) = %q, %v; want prefix, false", v, got, ok)
		}
	}
}

// encodeMetadata still reports what encoding/json cannot encode.
func TestEncodeMetadataNaN(t *testing.T) {
	t.Parallel()
	if _, _, err := encodeMetadata(customer.Metadata{"x": math.NaN()}); err == nil {
		t.Error("encodeMetadata(NaN) succeeded")
	}
}

// decodePlainJSON must give what encoding/json gives, or step aside.
func TestDecodePlainJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for i, in := range plainJSONSeeds {
		checkPlainJSON(t, []byte(in))
		if _, ok := decodePlainJSON([]byte(in)); i < plainJSONAccepted && !ok {
			t.Errorf("decodePlainJSON(%q) stepped aside; want it decoded", in)
		}
	}
}

// plainJSONAccepted is how many of plainJSONSeeds (the first) the fast
// decoder must decode itself.
const plainJSONAccepted = 10

var plainJSONSeeds = []string{
	`{}`, ` { } `, `{"a": "b"}`, `{"city": "city3", "plan": "plan1", "source": "Intercom"}`,
	`{"n": 0, "m": -0, "x": 1.5e300, "y": -2.25E-3, "z": 123456789012345678901234567890}`,
	`{"t": true, "f": false, "nil": null}`, `{"arr": ["a", 1, true, null], "empty": []}`,
	`{"esc": "q\" b\\ s\/ \b\f\n\r\t \u0041\u00e9\u20ac \ud83d\ude00 \ud800 \udc00x \ud800\u0041"}`,
	`{"utf8": "zażółć 日本 😀", "bad": "` + "\xff\xfe" + `"}`, `{"a":"b","a":"c"}`, // the first 10 decode

	`{"obj": {"k": 1}}`, `{"nested": [[1]]}`, `{"arrobj": [{}]}`, `{"big": 1e400}`, `{"lead": 01}`, `{"dot": 1.}`,
	`{"exp": 1e}`, `{"plus": +1}`, `{"ctl": "a` + "\x01" + `"}`, `{"bad esc": "\x"}`, `{"bad u": "\u12G4"}`,
	`{"a": 1,}`, `{"a" 1}`, `{"a": 1} x`, `["a"]`, `"s"`, ``, `{`, `{"a": tru}`, `{"a": [1, 2`,
}

func checkPlainJSON(t *testing.T, in []byte) {
	t.Helper()
	got, ok := decodePlainJSON(in)
	if !ok {
		return // encoding/json decides
	}
	var want map[string]any
	if err := json.Unmarshal(in, &want); err != nil {
		t.Fatalf("decodePlainJSON(%q) = %v, but encoding/json fails: %v", in, got, err)
	}
	if !reflect.DeepEqual(map[string]any(got), want) {
		t.Fatalf("decodePlainJSON(%q) = %#v, encoding/json %#v", in, got, want)
	}
	for k, v := range want { // -0 and 0 are DeepEqual: compare bits
		if f, isF := v.(float64); isF && math.Signbit(f) != math.Signbit(got[k].(float64)) {
			t.Fatalf("decodePlainJSON(%q)[%q] sign differs", in, k)
		}
	}
}

func FuzzDecodePlainJSON(f *testing.F) {
	for _, s := range plainJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkPlainJSON(t, in) })
}
