// Command connect shows Intercom's OAuth connect flow as a host app mounts
// it: a page with a "Connect Intercom" link, the round trip through
// Intercom's consent page, and "Connected to <workspace> as <admin>" from
// GET /me with the new token.
//
//	go run ./examples/connect [-addr 127.0.0.1:8080] [-client-id ID -client-secret SECRET]
//
// Without credentials it runs against intercomtest's OAuth endpoints, which
// approve at once, so the whole flow works offline. With credentials,
// register http://<addr>/callback as a redirect URL of your Intercom app
// (Intercom requires HTTPS outside local development).
package main

import (
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	clientID := flag.String("client-id", "", "Intercom OAuth client id (empty: use the offline fake)")
	clientSecret := flag.String("client-secret", "", "Intercom OAuth client secret")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	cfg := appConfig{ClientID: *clientID, ClientSecret: *clientSecret, APIBaseURL: intercom.USBaseURL, Logger: logger}
	if cfg.ClientID == "" {
		srv := intercomtest.NewServer()
		defer srv.Close()
		cfg.ClientID, cfg.ClientSecret = intercomtest.DefaultClientID, intercomtest.DefaultClientSecret
		cfg.AuthURL, cfg.TokenURL = srv.URL+"/oauth", srv.URL+"/auth/eagle/token"
		cfg.APIBaseURL, cfg.HTTPClient = srv.URL, srv.HTTPClient()
		fmt.Println("No -client-id: using the offline fake Intercom at", srv.URL)
	} else if cfg.ClientSecret == "" {
		log.Fatal("connect: -client-secret is required with -client-id")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	cfg.PublicURL = "http://" + ln.Addr().String()
	a, err := newApp(cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Open %s/ in a browser and click \"Connect Intercom\".\n", cfg.PublicURL)
	log.Fatal(http.Serve(ln, a))
}
