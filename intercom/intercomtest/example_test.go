package intercomtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// A host test seeds contacts, sends through srv.Client() and asserts on
// srv.Messages().
func ExampleNewServer() {
	srv := intercomtest.NewServer(
		intercomtest.Contacts(intercom.Contact{ID: "c1", ExternalID: "u1"}),
		intercomtest.RateLimit(100, 10*time.Second),
	)
	defer srv.Close()
	client := srv.Client()

	_, err := client.SendMessage(context.Background(), intercom.Message{
		Type: intercom.Email, Subject: "A gift", Body: "CODE-1", Template: intercom.TemplatePersonal,
		FromAdminID: srv.AdminID(), To: intercom.Recipient{Role: intercom.RoleUser, ID: "c1"},
	})
	fmt.Println(err)
	m := srv.Messages()[0]
	fmt.Println(m.Type, m.Subject, m.Template, m.FromAdminID, m.To.ID)
	// Output:
	// <nil>
	// email A gift personal 991267001 c1
}

// Faults make the next matching requests fail; a send that may have
// reached Intercom is reported as ambiguous, not retried.
func ExampleServer_Inject() {
	srv := intercomtest.NewServer(intercomtest.Contacts(intercom.Contact{ID: "c1"}))
	defer srv.Close()
	srv.Inject(intercomtest.Fault{Method: "POST", Path: "/messages", Status: 503, AfterHandling: true})

	_, err := srv.Client().SendMessage(context.Background(), intercom.Message{
		Type: intercom.InApp, Body: "CODE-2", FromAdminID: srv.AdminID(), To: intercom.Recipient{ID: "c1"},
	})
	fmt.Println(errors.Is(err, intercom.ErrAmbiguous), srv.MessageCount())
	// Output: true 1
}
