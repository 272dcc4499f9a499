package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// lines hands each line written to it to a channel.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	for _, s := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		l <- s
	}
	return len(p), nil
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(lines, 10)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", out) }()
	var url string
	select {
	case line := <-out:
		url = regexp.MustCompile(`http://127\.0\.0\.1:\d+/$`).FindString(line)
		if url == "" {
			t.Fatalf("first line %q has no URL", line)
		}
	case err := <-done:
		t.Fatalf("run = %v before printing the URL", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no URL printed")
	}
	get := func(path string) string {
		t.Helper()
		res, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, res.Status)
		}
		return string(b)
	}
	list := get("")
	for _, want := range []string{"Spring sale", "Welcome codes", "Thanks for ordering", `data-countdown="`, ">10:00<"} {
		if !strings.Contains(list, want) && !(want == ">10:00<" && strings.Contains(list, ">09:59<")) {
			t.Errorf("distributions page lacks %q", want)
		}
	}
	id := regexp.MustCompile(`href="/distributions/(distr_\w+)">Spring sale`).FindStringSubmatch(list)
	if id == nil {
		t.Fatal("no link to Spring sale")
	}
	report := get("distributions/" + id[1])
	for _, want := range []string{"&lt;img src=x onerror=alert(1)&gt;", "customer has no email", "no Intercom contact", "Retry failed"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if usage := get("usage"); !strings.Contains(usage, ">1000<") {
		t.Error("usage page lacks the message cap")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("run = %v, want context.Canceled", err)
	}
}
