package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/store/postgres"
)

// TestTriggersAcrossReplicaProcesses: replica A (this process) changes
// an automatic distribution; replicas B and C (processes of their own,
// their trigger index loaded before the change) handle the events, as a
// host's endpoints would: synchronously (HandleEvent) or through the
// intake (EnqueueEvent, processed by whichever replica's Run). An
// activation, an update, a pause and a cancel on A govern B and C at
// once; events B and C handle while A pauses send only if they started
// before the pause returned; no event is lost.
func TestTriggersAcrossReplicaProcesses(t *testing.T) {
	t.Parallel()
	const customers = 20
	ctx := context.Background()
	schema := newSchema(t)
	pool := openPool(t, testDSN(t), schema, 6)
	srv := newIntercom(t, customers)
	st := postgres.New(pool)
	seedCustomers(t, st, customers)
	a := newReplica(t, pool, srv, replicaOpts{noRun: true})
	d, err := a.m.CreateDistribution(ctx, distribution.Distribution{Name: "paid", Mode: distribution.Automatic,
		Trigger:  distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "paid {{order.id}}"}}})
	if err != nil {
		t.Fatal(err)
	}
	b := startChild(t, schema, srv, helperConfig{ReplicaID: "B", Control: true})
	c := startChild(t, schema, srv, helperConfig{ReplicaID: "C", Control: true})

	var (
		mu     sync.Mutex
		events []string
		seq    int
	)
	// send hands a new event to r (path "handle" or "enqueue") and
	// returns its id (the order id, which the message body shows).
	send := func(r *child, path string) (string, error) {
		mu.Lock()
		seq++
		n := seq
		id := fmt.Sprintf("e%03d", n)
		events = append(events, id)
		mu.Unlock()
		ev := distribution.Event{ID: id, Type: distribution.EventOrderPaid, CustomerID: intercom.SourceID(contact(n % customers)),
			Order: &distribution.Order{ID: id, Amount: 10}}
		return id, r.call(ctx, path, ev)
	}
	mustSend := func(r *child, path string) string {
		t.Helper()
		id, err := send(r, path)
		if err != nil {
			t.Fatalf("%s %s: %v", path, id, err)
		}
		return id
	}
	processed := func(ids ...string) {
		t.Helper()
		waitFor(t, fmt.Sprint("events ", ids, " to be processed"), func() bool {
			for _, id := range ids {
				e, err := st.GetEvent(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if e.ProcessedAt.IsZero() {
					return false
				}
			}
			return true
		})
	}
	bodies := func() map[string]int {
		out := map[string]int{}
		for _, m := range srv.Messages() {
			out[m.Body]++
		}
		return out
	}
	deliveries := func(id string) int {
		k := 0
		for _, err := range st.Deliveries(ctx, distribution.DeliveryFilter{TriggerKey: id}) {
			if err != nil {
				t.Fatal(err)
			}
			k++
		}
		return k
	}
	expect := func(what string, want map[string]int, ids ...string) {
		t.Helper()
		got := bodies()
		for _, id := range ids {
			for _, prefix := range []string{"paid ", "updated "} {
				if g, w := got[prefix+id], want[prefix+id]; g != w {
					t.Errorf("%s: %d messages %q, want %d", what, g, prefix+id, w)
				}
			}
			if want["paid "+id]+want["updated "+id] == 0 && deliveries(id) != 0 {
				t.Errorf("%s: event %s has deliveries", what, id)
			}
		}
	}

	// Before the activation: processed, nothing sent.
	e0 := mustSend(b, "handle")
	expect("draft", nil, e0)

	// Activate on A, then events on B and C.
	if _, err := a.m.Activate(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e1 := mustSend(b, "handle")
	e2 := mustSend(c, "enqueue")
	processed(e2)
	expect("activated on A", map[string]int{"paid " + e1: 1, "paid " + e2: 1}, e1, e2)

	// Update on A: B and C send the new content.
	upd := d
	upd.Channels = []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "updated {{order.id}}"}}
	if d, err = a.m.UpdateDistribution(ctx, upd); err != nil {
		t.Fatal(err)
	}
	e3 := mustSend(c, "handle")
	e4 := mustSend(b, "enqueue")
	processed(e4)
	expect("updated on A", map[string]int{"updated " + e3: 1, "updated " + e4: 1}, e3, e4)

	// Pause on A, then events on B and C: nothing sent.
	if _, err := a.m.Pause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e5 := mustSend(b, "handle")
	e6 := mustSend(c, "enqueue")
	processed(e6)
	expect("paused on A", nil, e5, e6)

	// Activated again; then paused on A while B and C handle a stream of
	// events.
	if _, err := a.m.Activate(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	type handled struct {
		id         string
		start, end time.Time
		err        error
	}
	var (
		hmu  sync.Mutex
		hs   []handled
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for _, r := range []*child{b, c} {
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					id, err := send(r, "handle")
					hmu.Lock()
					hs = append(hs, handled{id, start, time.Now(), err})
					hmu.Unlock()
				}
			})
		}
	}
	count := func() int { hmu.Lock(); defer hmu.Unlock(); return len(hs) }
	waitFor(t, "events before the pause", func() bool { return count() >= 20 })
	pauseStart := time.Now()
	if _, err := a.m.Pause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	pauseEnd := time.Now()
	after := count()
	waitFor(t, "events after the pause", func() bool { return count() >= after+20 })
	close(stop)
	wg.Wait()
	got := bodies()
	var before, during, later int
	for _, h := range hs {
		if h.err != nil {
			t.Errorf("HandleEvent %s: %v", h.id, h.err)
			continue
		}
		k := got["updated "+h.id]
		switch {
		case h.end.Before(pauseStart):
			before++
			if k != 1 {
				t.Errorf("event %s, handled before the pause: %d messages, want 1", h.id, k)
			}
		case h.start.After(pauseEnd):
			later++
			if k != 0 || deliveries(h.id) != 0 {
				t.Errorf("event %s, handled after Pause returned: %d messages, %d deliveries; want none", h.id, k, deliveries(h.id))
			}
		default:
			during++
			if k > 1 {
				t.Errorf("event %s: %d messages", h.id, k)
			}
		}
	}

	// Cancel on A: nothing sent by B or C.
	if _, err := a.m.Activate(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.Cancel(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e7 := mustSend(c, "handle")
	e8 := mustSend(b, "enqueue")
	processed(e8)
	expect("canceled on A", nil, e7, e8)

	// No event lost; no message twice.
	mu.Lock()
	all := append([]string(nil), events...)
	mu.Unlock()
	processed(all...)
	for body, k := range bodies() {
		if k != 1 || !strings.HasPrefix(body, "paid ") && !strings.HasPrefix(body, "updated ") {
			t.Errorf("message %q sent %d times", body, k)
		}
	}
	t.Logf("%d events, all processed; while A paused: %d handled before (each sent once), %d overlapping, %d after Pause returned (none sent)",
		len(all), before, during, later)
}
