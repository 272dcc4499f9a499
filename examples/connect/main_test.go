package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/codedrop/codedrop/intercom/intercomtest"
)

func TestConnectFlow(t *testing.T) {
	srv := intercomtest.NewServer(intercomtest.Workspace("Acme"))
	defer srv.Close()
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	defer ts.Close()
	a, err := newApp(appConfig{
		PublicURL: ts.URL, ClientID: intercomtest.DefaultClientID, ClientSecret: intercomtest.DefaultClientSecret,
		AuthURL: srv.URL + "/oauth", TokenURL: srv.URL + "/auth/eagle/token", APIBaseURL: srv.URL, HTTPClient: srv.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", a)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	read := func(path string) string {
		t.Helper()
		resp, err := browser.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if home := read("/"); !strings.Contains(home, `href="/connect">Connect Intercom`) || strings.Contains(home, "Connected to") {
		t.Fatalf("home page before connecting:\n%s", home)
	}
	want := "Connected to Acme as Ada Admin"
	if got := read("/connect"); !strings.Contains(got, want) {
		t.Errorf("after the round trip:\n%s\nwant %q", got, want)
	}
	if home := read("/"); !strings.Contains(home, want) {
		t.Errorf("home page after connecting:\n%s", home)
	}

	// A callback with a forged state shows an error page and connects nothing.
	resp, err := (&http.Client{}).Get(ts.URL + "/callback?code=x&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "Intercom connection failed") {
		t.Errorf("forged callback = %d %s", resp.StatusCode, b)
	}
}
