package ids

import "testing"

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

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = New("cust")
	}
}
