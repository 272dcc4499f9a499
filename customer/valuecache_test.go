package customer

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestParseCachedSameAsParse parses each cell twice with a cache (a miss,
// then a hit) and once without: the values and errors must agree, and a
// bad cell must fail every time (errors are never cached).
func TestParseCachedSameAsParse(t *testing.T) {
	props := map[string]Property{
		"s":   {Type: TypeString, MaxLength: ptr(5)},
		"url": {Type: TypeImageURL},
		"n":   {Type: TypeNumber, Gte: ptr(0.0)},
		"b":   {Type: TypeBoolean},
		"d":   {Type: TypeDate},
		"dt":  {Type: TypeDatetime},
		"g":   {Type: TypeGeoPoint},
		"o":   {Type: TypeObject},
		"as":  {Type: TypeString, Array: true, Eq: []any{"a", "b"}},
		"an":  {Type: TypeNumber, Array: true, Lt: ptr(10.0)},
		"ag":  {Type: TypeGeoPoint, Array: true},
		"ao":  {Type: TypeObject, Array: true},
	}
	cells := map[string][]string{
		"s":   {"abc", "toolong", " x ", "a\xffb"},
		"url": {"https://example.com/a.png", "ftp://x"},
		"n":   {"12.5", "-1", "x"},
		"b":   {"true", "FALSE", "yes"},
		"d":   {"2022-02-28", "2022-02-30"},
		"dt":  {"2022-05-18T10:00:00Z", "2022-05-18", "nope"},
		"g":   {"52.2, 21.0", "200, 0"},
		"o":   {`{"k": 1}`, `[1]`},
		"as":  {"a,b", "a, c", "b,,a,", "a,\xff"},
		"an":  {"1,2", "1,20", "x"},
		"ag":  {"1,2,3,4", "1,2,3"},
		"ao":  {`[{"k":1}]`, `{}`},
	}
	for key, p := range props {
		vc := &valueCache{}
		for _, cell := range cells[key] {
			want, wantErr := p.parse(key, cell)
			for round := range 2 {
				got, err := p.parseCached(key, cell, vc)
				if fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Errorf("%s %q round %d: error %v, want %v", key, cell, round, err, wantErr)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s %q round %d: value (-want +got):\n%s", key, cell, round, diff)
				}
			}
		}
	}
}

// TestValueCacheSharesOnlyImmutableValues checks that repeated object
// cells give distinct maps (a shared map could be changed through one
// customer), while repeated scalar cells reuse one value.
func TestValueCacheSharesOnlyImmutableValues(t *testing.T) {
	obj := Property{Type: TypeObject}
	vc := &valueCache{}
	a, _ := obj.parseCached("o", `{"k": 1}`, vc)
	b, _ := obj.parseCached("o", `{"k": 1}`, vc)
	a.(map[string]any)["k"] = 2.0
	if b.(map[string]any)["k"] != 1.0 {
		t.Fatal("two object cells share one map")
	}
	dt := Property{Type: TypeDatetime}
	vc = &valueCache{}
	x, _ := dt.parseCached("dt", "2022-05-18T10:00:00Z", vc)
	y, _ := dt.parseCached("dt", "2022-05-18T10:00:00Z", vc)
	if x != y || vc.hits != 1 {
		t.Fatalf("repeated datetime cell: %v, %v, %d hits; want one cached value", x, y, vc.hits)
	}
	if _, ok := x.(time.Time); !ok {
		t.Fatalf("datetime value is %T", x)
	}
}

// TestValueCacheTurnsOff checks the trial: a full cache that mostly
// misses turns off (and frees its map); one that mostly hits stays on.
func TestValueCacheTurnsOff(t *testing.T) {
	p := Property{Type: TypeNumber}
	unique, repeated := &valueCache{}, &valueCache{}
	for i := range 2 * valueCacheTrial {
		if _, err := p.parseCached("n", fmt.Sprint(i), unique); err != nil {
			t.Fatal(err)
		}
		if _, err := p.parseCached("n", fmt.Sprint(i%10), repeated); err != nil {
			t.Fatal(err)
		}
	}
	if !unique.off || unique.m != nil {
		t.Errorf("cache of unique values: off=%v, %d entries; want off and freed", unique.off, len(unique.m))
	}
	if repeated.off || len(repeated.m) != 10 {
		t.Errorf("cache of 10 repeated values: off=%v, %d entries; want on with 10", repeated.off, len(repeated.m))
	}
}
