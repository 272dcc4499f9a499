package hashidx

import (
	"hash/maphash"
	"strconv"
	"testing"
)

func TestIndex(t *testing.T) {
	seed := maphash.MakeSeed()
	var keys []string
	hashOf := func(pos uint32) uint64 { return maphash.String(seed, keys[pos]) }
	var x Index
	if _, ok := x.Find(1, func(uint32) bool { return true }); ok {
		t.Fatal("the empty index found a position")
	}
	const n = 10000
	for i := range n {
		k := strconv.Itoa(i)
		keys = append(keys, k)
		x.Add(hashOf(uint32(i)), uint32(i), hashOf)
	}
	if x.Len() != n {
		t.Fatalf("Len = %d, want %d", x.Len(), n)
	}
	for i := range n + 100 {
		k := strconv.Itoa(i)
		pos, ok := x.Find(maphash.String(seed, k), func(pos uint32) bool { return keys[pos] == k })
		if ok != (i < n) || ok && pos != uint32(i) {
			t.Fatalf("Find(%q) = %d, %v", k, pos, ok)
		}
	}
}

// Colliding hashes are told apart by eq.
func TestIndexCollisions(t *testing.T) {
	var x Index
	keys := []string{"a", "b", "c"}
	same := func(uint32) uint64 { return 7 }
	for i := range keys {
		x.Add(7, uint32(i), same)
	}
	for i, k := range keys {
		if pos, ok := x.Find(7, func(pos uint32) bool { return keys[pos] == k }); !ok || pos != uint32(i) {
			t.Fatalf("Find(%q) = %d, %v; want %d", k, pos, ok, i)
		}
	}
	if _, ok := x.Find(7, func(pos uint32) bool { return keys[pos] == "d" }); ok {
		t.Fatal("found a key never added")
	}
}
