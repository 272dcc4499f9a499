package ids

import (
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
