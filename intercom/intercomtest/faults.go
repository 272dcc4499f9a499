package intercomtest

import (
	"net/http"
	"strings"
	"time"
)

// Fault is an injected failure for the next matching API requests.
type Fault struct {
	// Method and Path select the requests (empty matches any); Path is an
	// exact path such as "/messages", or a prefix ending in "/".
	Method, Path string
	// Times is how many matching requests fail. Default 1.
	Times int
	// Status answers with this status and an error.list (a 429 carries the
	// rate-limit headers, with the reset one second ahead).
	Status int
	// Drop closes the connection without answering.
	Drop bool
	// AfterHandling performs the request first (a message is recorded)
	// and then fails it as Status or Drop say: a write that reached
	// Intercom although the client saw an error.
	AfterHandling bool
	// Latency delays the answer (alone, or before the failure).
	Latency time.Duration
}

// Inject queues faults; each applies to its next Times matching requests,
// in the order given.
func (s *Server) Inject(faults ...Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for _, f := range faults {
		if f.Times <= 0 {
			f.Times = 1
		}
		s.faults = append(s.faults, f)
		s.faultN.Add(1)
	}
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
	s.faultN.Store(0)
}

func (f *Fault) matches(r *http.Request) bool {
	if f.Method != "" && f.Method != r.Method {
		return false
	}
	if f.Path == "" {
		return true
	}
	if strings.HasSuffix(f.Path, "/") {
		return strings.HasPrefix(r.URL.Path, f.Path)
	}
	return r.URL.Path == f.Path
}

func (s *Server) takeFault(r *http.Request) (Fault, bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i := range s.faults {
		f := &s.faults[i]
		if !f.matches(r) {
			continue
		}
		out := *f
		f.Times--
		if f.Times == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			s.faultN.Add(-1)
		}
		return out, true
	}
	return Fault{}, false
}

// applyFault carries out f; it reports whether the request is answered.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	if f.Latency > 0 && !sleep(r, f.Latency) {
		return true
	}
	if !f.Drop && f.Status == 0 {
		return false // latency only
	}
	if f.AfterHandling && s.authorized(r) {
		s.mux.ServeHTTP(discard{h: http.Header{}}, r)
	}
	if f.Drop {
		dropConn(w)
		return true
	}
	if f.Status == http.StatusTooManyRequests {
		reset := s.cfg.now().Add(time.Second).Unix()
		h := w.Header()
		h.Set("X-Ratelimit-Limit", "1")
		h.Set("X-Ratelimit-Remaining", "0")
		h.Set("X-Ratelimit-Reset", itoa64(reset))
		writeError(w, f.Status, "rate_limit_exceeded", "Exceeded rate limit (injected)", "")
		return true
	}
	code := "server_error"
	if f.Status < 500 {
		code = "client_error"
	}
	writeError(w, f.Status, code, "injected fault", "")
	return true
}

// discard is a ResponseWriter that throws the answer away.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
