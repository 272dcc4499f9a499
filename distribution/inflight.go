package distribution

import "sync"

// inFlight counts the deliveries this Manager moved to sending and whose
// outcome it has not written yet: its own requests that may be in flight.
// Its sweep never takes those as interrupted, whatever InterruptAfter says
// (they are settled by the send that holds them); other replicas apply the
// bound. A delivery two workers race for is counted once per worker.
// The zero value is ready; safe for concurrent use.
type inFlight struct {
	mu sync.Mutex
	n  map[string]int
}

// add counts delivery id as in flight; call it before the move to
// sending, and done once its outcome is written (or the move failed).
func (f *inFlight) add(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[id]++
}

// done ends one add of each of ids.
func (f *inFlight) done(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if f.n[id] <= 1 {
			delete(f.n, id)
		} else {
			f.n[id]--
		}
	}
}

// has reports whether delivery id is in flight here.
func (f *inFlight) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[id] > 0
}
