package clock

import (
	"testing"
	"time"
)

func TestFakeFiresDueTimersOnly(t *testing.T) {
	c := NewFake(time.Time{})
	fired := make(chan int, 3)
	c.AfterFunc(time.Minute, func() { fired <- 1 })
	c.AfterFunc(10*time.Minute, func() { fired <- 2 })
	stopped := c.AfterFunc(2*time.Minute, func() { fired <- 3 })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer = false")
	}
	c.Advance(5 * time.Minute)
	if got := <-fired; got != 1 {
		t.Fatalf("fired %d, want 1", got)
	}
	if c.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1", c.Pending())
	}
	c.Advance(5 * time.Minute)
	if got := <-fired; got != 2 {
		t.Fatalf("fired %d, want 2", got)
	}
	select {
	case got := <-fired:
		t.Fatalf("stopped timer fired: %d", got)
	default:
	}
	if want := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC); !c.Now().Equal(want) {
		t.Fatalf("Now = %v, want %v", c.Now(), want)
	}
}
