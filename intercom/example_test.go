package intercom_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// A client sends an in-app message. Here it talks to intercomtest; in
// production use intercom.Config{Token: tok} (and BaseURL for EU/AU).
func Example() {
	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ID: "c1", ExternalID: "user-42", Name: "Ann"}))
	defer srv.Close()

	client, err := intercom.NewClient(intercom.Config{Token: srv.Token(), BaseURL: srv.URL})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	contact, err := client.FindContactByExternalID(ctx, "user-42")
	if err != nil {
		panic(err)
	}
	_, err = client.SendMessage(ctx, intercom.Message{
		Type:        intercom.InApp,
		Body:        "Hi " + contact.Name + ", your code is WELCOME-7Q2X",
		FromAdminID: srv.AdminID(),
		To:          intercom.Recipient{Role: contact.Role, ID: contact.ID},
	})
	if err != nil {
		panic(err)
	}
	for _, m := range srv.Messages() {
		fmt.Printf("%s to %s: %s\n", m.Type, m.To.ID, m.Body)
	}
	// Output: inapp to c1: Hi Ann, your code is WELCOME-7Q2X
}

// Errors carry Intercom's details; errors.Is classifies them.
func ExampleError() {
	srv := intercomtest.NewServer()
	defer srv.Close()
	client := srv.Client()

	_, err := client.FindContactByExternalID(context.Background(), "nobody")
	var ie *intercom.Error
	if errors.As(err, &ie) {
		fmt.Println(ie.StatusCode, ie.Errors[0].Code, errors.Is(err, intercom.ErrNotFound))
	}
	// Output: 404 not_found true
}

// An email needs a subject; the client says so before sending anything.
func ExampleMessage_Validate() {
	msg := intercom.Message{Type: intercom.Email, Body: "Your code", FromAdminID: "1", To: intercom.Recipient{ID: "c1"}}
	err := msg.Validate()
	fmt.Println(errors.Is(err, intercom.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// codedrop: invalid input: message: Subject is required for an email
}

// ContactToCustomer keeps what the Manager needs to address a message.
func ExampleContactToCustomer() {
	c := intercom.ContactToCustomer(intercom.Contact{ID: "6543", Role: intercom.RoleLead, Email: "lead@example.com"})
	fmt.Println(c.SourceID, c.Metadata[intercom.MetaIntercomID], c.Metadata[intercom.MetaIntercomRole], c.Metadata[intercom.MetaSource])
	// Output: intercom:6543 6543 lead Intercom
}

// A webhook handler verifies Intercom's signature and turns contact
// notifications into customer upserts.
func ExampleNewWebhookHandler() {
	h, err := intercom.NewWebhookHandler(intercom.WebhookConfig{
		Secret: "client-secret",
		OnContact: func(ctx context.Context, ev intercom.ContactEvent) error {
			c := ev.Customer() // upsert it with customer.UpsertOptions{Merge: true}
			fmt.Println(ev.Kind, c.SourceID, c.Name, c.Metadata[intercom.MetaSource])
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	body := intercomtest.Notification("notif_1", "contact.user.updated",
		intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "user-42", Name: "Ann"})
	for _, secret := range []string{"client-secret", "forged"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, intercomtest.WebhookRequest("/webhooks/intercom", secret, body))
		fmt.Println(w.Code)
	}
	// Output:
	// changed user-42 Ann Intercom
	// 200
	// 401
}

// Handlers that share a WebhookStore (store.Memory or store/postgres in a
// host; a MemoryWebhookStore here) handle a notification once, whichever
// replica Intercom delivers it to.
func ExampleWebhookStore() {
	shared := &intercom.MemoryWebhookStore{}
	var replicas []*intercom.WebhookHandler
	for i := range 2 {
		h, err := intercom.NewWebhookHandler(intercom.WebhookConfig{
			Secret: "client-secret",
			Store:  shared,
			OnContact: func(ctx context.Context, ev intercom.ContactEvent) error {
				fmt.Println("replica", i, "handles", ev.Notification.ID)
				return nil
			},
		})
		if err != nil {
			panic(err)
		}
		replicas = append(replicas, h)
	}
	body := intercomtest.Notification("notif_1", "contact.user.updated",
		intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "user-42", Name: "Ann"})
	for _, h := range replicas {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, intercomtest.WebhookRequest("/webhooks/intercom", "client-secret", body))
		fmt.Println(w.Code)
	}
	// Output:
	// replica 0 handles notif_1
	// 200
	// 200
}
