package ids

import (
	"encoding/binary"
	"strings"
	"sync"
	"testing"
)

func TestNewIsUniqueAndPrefixed(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := New("cust")
		if !HasPrefix(id, "cust") {
			t.Fatalf("New(cust) = %q, want cust_ and 26 characters", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	if HasPrefix("seg_x", "cust") {
		t.Fatal("HasPrefix accepted a foreign prefix")
	}
}

// Ids made one after another increase strictly, even many in one
// millisecond (10,000 take well under a second, so most share one).
func TestNewIsMonotonic(t *testing.T) {
	prev := New("x")
	for range 10000 {
		id := New("x")
		if id <= prev {
			t.Fatalf("New = %q after %q, want a larger id", id, prev)
		}
		prev = id
	}
}

func TestNewConcurrentUnique(t *testing.T) {
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				id := New("x")
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate id %q", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = New("cust")
	}
}

// The digits are the 128 bits, most significant first (the first digit
// holds the top 3).
func TestFormatDigits(t *testing.T) {
	for _, tt := range []struct {
		r    Raw
		want string
	}{
		{Raw{}, "x_00000000000000000000000000"},
		{Raw{15: 1}, "x_00000000000000000000000001"},
		{Raw{15: 0x20}, "x_00000000000000000000000010"},
		{Raw{0: 0x80}, "x_40000000000000000000000000"},
		{Raw{0: 0xff, 15: 0xfe}, "x_7z00000000000000000000007y"},
	} {
		if got := Format("x", tt.r); got != tt.want {
			t.Errorf("Format(%x) = %q, want %q", tt.r, got, tt.want)
		}
	}
	// And as New always wrote them: digit i from bit 5*(25-i) up.
	for range 1000 {
		r := NewRaw()
		hi, lo := binary.BigEndian.Uint64(r[:8]), binary.BigEndian.Uint64(r[8:])
		want := []byte("pub_")
		for i := 25; i >= 0; i-- {
			shift := uint(i * 5)
			var v uint64
			switch {
			case shift >= 64:
				v = hi >> (shift - 64)
			case shift == 0:
				v = lo
			default:
				v = lo>>shift | hi<<(64-shift)
			}
			want = append(want, alphabet[v&31])
		}
		if got := Format("pub", r); got != string(want) {
			t.Fatalf("Format(%x) = %q, want %q", r, got, want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for range 1000 {
		id := New("pub")
		r, ok := Parse(id, "pub")
		if !ok || Format("pub", r) != id {
			t.Fatalf("Parse(%q) = %x, %v; Format gives %q", id, r, ok, Format("pub", r))
		}
	}
	var max Raw
	for i := range max {
		max[i] = 0xff
	}
	if r, ok := Parse(Format("x", max), "x"); !ok || r != max {
		t.Fatalf("Parse(Format(all ones)) = %x, %v", r, ok)
	}
	id := New("pub")
	for _, bad := range []string{
		"", "pub", "pub_", id[:len(id)-1], id + "0", "cust" + id[3:], "pu_" + id[4:],
		"pub-" + id[4:],                  // separator
		"pub_8" + id[5:],                 // the first digit holds 3 bits
		"pub_" + id[4:29] + "I",          // not in the alphabet
		"pub_" + id[4:29] + "u",          // not in the alphabet
		strings.ToUpper(id[:4]) + id[4:], // prefix case
	} {
		if r, ok := Parse(bad, "pub"); ok {
			t.Errorf("Parse(%q) = %x, true; want false", bad, r)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	id := New("pub")
	for b.Loop() {
		if _, ok := Parse(id, "pub"); !ok {
			b.Fatal("not parsed")
		}
	}
}
