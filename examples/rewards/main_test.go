package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codedrop/codedrop/intercom"
)

func TestDemoReply(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-demo"}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"For teammates, initialize: http://127.0.0.1:",
		"| Reward: (Sorry coupon — Complaint — high / Thank-you gift — Feedback — low)",
		"| Code: **SORRY-0001**",
		"event: completed",
		"reply in conversation 524 from admin 991267001: Sorry for the trouble, Jo Doe. Here is 20% off your next order: SORRY-0001",
		"After a second click: 1 replies, 0 cards, 1 ledger row(s)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestDemoCard(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-demo", "-delivery", "card"}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"Added to the conversation as a card.", "card in conversation 524:", "After a second click: 0 replies, 1 cards, 1 ledger row(s)"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-delivery", "fax"}, {"-secret", ""}, {"extra"}, {"-nope"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Serving: the printed URLs answer signed requests and refuse others.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-secret", "s3cret"}, out) }()
	re := regexp.MustCompile(`For teammates, initialize: (\S+)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	post := func(sig string) int {
		body := []byte(`{"workspace_id":"w","conversation":{"id":"1"},"contact":{"id":"x","external_id":"cust-1"}}`)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if sig != "" {
			req.Header.Set(intercom.CanvasSignatureHeader, sig)
		} else {
			req.Header.Set(intercom.CanvasSignatureHeader, intercom.SignCanvas("s3cret", body))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(strings.Repeat("0", 64)); got != 401 {
		t.Errorf("bad signature: %d", got)
	}
	if got := post(""); got != 200 {
		t.Errorf("signed: %d", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
