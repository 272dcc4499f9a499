// Command rewards runs the Rewards Intercom app (Canvas Kit) against a fake
// Intercom (intercomtest): a teammate picks a predefined reward in a
// conversation and the customer gets a unique code as a reply (or, with
// -delivery card, as a Messenger card).
//
//	go run ./examples/rewards             # serve; prints the URLs to register
//	go run ./examples/rewards -demo       # play one teammate flow and exit
//
// It prints the three URLs to register in the Developer Hub (Canvas Kit:
// "For teammates" initialize and submit, "For users" initialize) and
// serves them until interrupted. With -demo it plays what Intercom's inbox
// does for one teammate: open the app in conversation 524 (initialize),
// pick "Sorry coupon" and submit, then prints the teammate's canvases and
// what the customer got.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/rewards"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rewards:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type options struct {
	addr, secret, delivery string
	demo                   bool
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("rewards", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "address to serve the Canvas Kit URLs on")
	fs.StringVar(&o.secret, "secret", "rewards-demo-secret", "the Intercom app's client secret (signs every request)")
	fs.StringVar(&o.delivery, "delivery", "reply", "how codes reach the customer: reply or card")
	fs.BoolVar(&o.demo, "demo", false, "play one teammate flow end to end and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.secret == "":
		return o, errors.New("-secret is required")
	case o.delivery != "reply" && o.delivery != "card":
		return o, fmt.Errorf("-delivery %q: want reply or card", o.delivery)
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	// A fake Intercom workspace with one contact, and the same person as a
	// codedrop customer (external_id = source_id).
	srv := intercomtest.NewServer()
	defer srv.Close()
	contact := srv.AddContact(intercom.Contact{ExternalID: "cust-1", Name: "Jo Doe", Email: "jo@example.com"})

	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Intercom: srv.Client(), AdminID: srv.AdminID()})
	if err != nil {
		return err
	}
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "cust-1", Name: "Jo Doe", Email: "jo@example.com"}, customer.UpsertOptions{}); err != nil {
		return err
	}
	sorry, err := m.CreateCampaign(ctx, codes.Campaign{Name: "Sorry", Codes: []string{"SORRY-0001", "SORRY-0002", "SORRY-0003"}})
	if err != nil {
		return err
	}
	thanks, err := m.CreateCampaign(ctx, codes.Campaign{Name: "Thanks", Codes: []string{"THANKS-0001"}})
	if err != nil {
		return err
	}
	app, err := rewards.New(m, rewards.Config{
		Secret:   o.secret,
		Delivery: distribution.RewardDelivery(o.delivery),
		Rewards: []distribution.Reward{
			{ID: "sorry", Name: "Sorry coupon", Label: "Complaint — high", Campaign: sorry.ID,
				Message: "Sorry for the trouble, {{customer.name}}. Here is 20% off your next order: {{voucher.code}}"},
			{ID: "thanks", Name: "Thank-you gift", Label: "Feedback — low", Campaign: thanks.ID,
				Message: "Thanks for your feedback, {{customer.name}}! Your gift code: {{voucher.code}}"},
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("POST /canvas/initialize", app.InitializeHandler())
	mux.Handle("POST /canvas/submit", app.SubmitHandler())
	mux.Handle("POST /messenger/initialize", app.MessengerInitializeHandler())
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	base := "http://" + ln.Addr().String()
	urls := struct{ init, submit, messenger string }{base + "/canvas/initialize", base + "/canvas/submit", base + "/messenger/initialize"}
	fmt.Fprintln(out, "Register in the Developer Hub (Configure > Canvas Kit):")
	fmt.Fprintln(out, "  For teammates, initialize:", urls.init)
	fmt.Fprintln(out, "  For teammates, submit:    ", urls.submit)
	fmt.Fprintln(out, "  For users, initialize:    ", urls.messenger)

	if !o.demo {
		fmt.Fprintln(out, "Serving; Ctrl-C stops.")
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return err
		}
	}

	// The demo: Intercom's inbox, over HTTP, for one teammate.
	client := &http.Client{Timeout: 30 * time.Second}
	inbox := srv.Inbox(intercomtest.CanvasApp{
		Secret:              o.secret,
		Initialize:          intercomtest.Remote(client, urls.init),
		Submit:              intercomtest.Remote(client, urls.submit),
		MessengerInitialize: intercomtest.Remote(client, urls.messenger),
	}, "524", contact)
	resp, err := inbox.Initialize(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nTeammate opens the app in conversation 524:")
	printCanvas(out, resp)
	resp, err = inbox.Submit(ctx, "send", map[string]any{"reward": "sorry"})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nTeammate picks \"Sorry coupon\" and submits:")
	printCanvas(out, resp)
	fmt.Fprintln(out, "\nThe customer got:")
	for _, r := range srv.Replies() {
		fmt.Fprintf(out, "  reply in conversation %s from admin %s: %s\n", r.ConversationID, r.AdminID, r.Body)
	}
	for _, c := range srv.Cards() {
		fmt.Fprintf(out, "  card in conversation %s:\n", c.ConversationID)
		printCanvas(out, &intercom.CanvasResponse{Canvas: &c.Canvas})
	}
	// A double click publishes nothing new.
	if _, err := inbox.Submit(ctx, "send", map[string]any{"reward": "sorry"}); err != nil {
		return err
	}
	n := 0
	for _, err := range m.Deliveries(ctx, distribution.DeliveryFilter{DistributionID: distribution.RewardDistributionID("sorry")}) {
		if err != nil {
			return err
		}
		n++
	}
	fmt.Fprintf(out, "\nAfter a second click: %d replies, %d cards, %d ledger row(s)\n", len(srv.Replies()), len(srv.Cards()), n)
	return nil
}

// printCanvas prints a canvas as plain text, one component a line.
func printCanvas(out io.Writer, resp *intercom.CanvasResponse) {
	if resp.Canvas != nil && resp.Canvas.Content != nil {
		for _, c := range resp.Canvas.Content.Components {
			switch c := c.(type) {
			case *intercom.TextComponent:
				fmt.Fprintf(out, "  | %s\n", c.Text)
			case *intercom.ButtonComponent:
				fmt.Fprintf(out, "  | [%s]\n", c.Label)
			case *intercom.DropdownComponent:
				var opts []string
				for _, o := range c.Options {
					opts = append(opts, o.Text)
				}
				fmt.Fprintf(out, "  | %s: (%s)\n", c.Label, strings.Join(opts, " / "))
			case *intercom.DividerComponent:
				fmt.Fprintln(out, "  | ----")
			}
		}
	}
	if resp.Event != nil {
		fmt.Fprintf(out, "  event: %s\n", resp.Event.Type)
	}
}
