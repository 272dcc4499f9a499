package postgres

import (
	"encoding/json"
	"math"
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
