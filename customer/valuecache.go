package customer

import "strings"

// valueCache remembers the parsed, checked values of one CSV column's
// recent cells, keyed by the cell's text. Categorical columns (tiers,
// brands, tags, signup dates) repeat a few values over many rows; reusing
// the boxed value saves parsing, checking and an allocation per cell.
// Only immutable values are cached (never objects), so customers may share
// them. A column whose values rarely repeat turns its cache off after a
// trial, and costs one map lookup per cell until then.
type valueCache struct {
	m             map[string]any
	hits, lookups int
	off           bool
}

const (
	valueCacheSize  = 256  // values kept per column
	valueCacheTrial = 4096 // lookups between hit-rate checks
)

func (vc *valueCache) get(s string) (any, bool) {
	if vc == nil || vc.off {
		return nil, false
	}
	vc.lookups++
	v, ok := vc.m[s]
	if ok {
		vc.hits++
	}
	if vc.lookups == valueCacheTrial {
		if vc.hits*2 < vc.lookups && len(vc.m) >= valueCacheSize {
			vc.off, vc.m = true, nil // mostly misses and full: not worth it
		}
		vc.hits, vc.lookups = 0, 0
	}
	return v, ok
}

// put caches v, the value of cell text s. A string value is copied so
// that the cache does not keep the whole line it was cut from.
func (vc *valueCache) put(s string, v any) {
	if vc == nil || vc.off || len(vc.m) >= valueCacheSize {
		return
	}
	if vc.m == nil {
		vc.m = make(map[string]any, valueCacheSize)
	}
	s = strings.Clone(s)
	if vs, ok := v.(string); ok {
		if vs == s {
			v = s
		} else {
			v = strings.Clone(vs)
		}
	}
	vc.m[s] = v
}

// cacheable reports whether values of type t may be cached and shared.
func cacheable(t PropertyType) bool { return t != TypeObject }
