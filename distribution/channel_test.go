package distribution_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
)

// smsChannel is a host's channel: plain-text bodies, customers without a
// phone are skipped, and it records what it sends.
type smsChannel struct {
	mu   sync.Mutex
	sent []string
}

func (s *smsChannel) Name() string   { return "sms" }
func (s *smsChannel) HTMLBody() bool { return false }

func (s *smsChannel) Check(_ context.Context, c *customer.Customer) (string, error) {
	if c.Phone == "" {
		return "customer has no phone", nil
	}
	return "", nil
}

func (s *smsChannel) Send(_ context.Context, msg distribution.Message) (distribution.Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg.Delivery.State != distribution.DeliverySending || msg.Delivery.ID == "" {
		return distribution.Receipt{}, errors.New("delivery not marked sending before the send")
	}
	s.sent = append(s.sent, msg.Customer.Phone+": "+msg.Body)
	return distribution.Receipt{ProviderMessageID: "sms-" + msg.Delivery.ID}, nil
}

func TestHostChannelAndLateCustomers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sms := &smsChannel{}
	e.start(func(c *distribution.Config) { c.Channels = []distribution.Channel{sms} })
	seg := e.segment()
	e.waitFor("segment synced", func() bool {
		s, _ := e.m.Segment(e.ctx, seg.ID)
		return s.SyncStatus == "synced"
	})
	// Customers written after the segment synced join it through the Manager.
	e.srv.AddContact(intercomContact("u1"))
	e.customer(customer.Customer{SourceID: "u1", Name: "Tom & Jerry", Phone: "+48100", Metadata: customer.Metadata{"source": "Intercom"}})
	e.customer(customer.Customer{SourceID: "u2", Name: "No Phone", Metadata: customer.Metadata{"source": "Intercom"}}) // no Intercom contact either
	d := e.create(distribution.Distribution{Name: "sms", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{
			{Channel: "sms", Body: "Hi {{customer.name}}"},
			{Channel: distribution.IntercomInApp, Body: "Hi {{customer.name}}"},
		}})
	done := e.sendNow(d.ID, distribution.StatusDone)
	if diff := strings.Join(sms.sent, "|"); diff != "+48100: Hi Tom & Jerry" {
		t.Errorf("sms sent %q, want one unescaped plain-text message", diff)
	}
	got := map[string]string{}
	for _, dl := range e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID}) {
		got[dl.CustomerID[:0]+dl.Channel+" "+string(dl.State)] += dl.Reason + ";"
	}
	if done.Report.Sent != 2 || done.Report.Skipped != 1 || done.Report.Failed != 1 {
		t.Fatalf("report = %+v, want 2 sent, 1 skipped (no phone), 1 failed (no Intercom contact); deliveries %v", done.Report, got)
	}
	if got["sms skipped"] != "customer has no phone;" || !strings.HasPrefix(got["intercom_inapp failed"], distribution.ReasonNoContact) {
		t.Errorf("deliveries = %v", got)
	}
	if _, err := distribution.NewManager(distribution.Config{Store: e.st, Channels: []distribution.Channel{sms, &smsChannel{}}}); !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), "Channels[1]") {
		t.Errorf("duplicate channel = %v, want ErrInvalid naming Channels[1]", err)
	}
}

func TestIntercomContactFromSyncedMetadataOrLookupOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A synced contact: its id, role and email opt-out are in metadata, so
	// sending needs no lookup.
	lead := e.srv.AddContact(intercom.Contact{Role: intercom.RoleLead, Name: "Lead", Email: "lead@example.com"})
	synced := e.customer(intercom.ContactToCustomer(lead))
	// A customer from elsewhere: looked up once by external id = source_id.
	e.srv.AddContact(intercom.Contact{ExternalID: "u1", Email: "u1@example.com"})
	other := e.customer(customer.Customer{SourceID: "u1", Email: "u1@example.com"})
	for _, c := range []customer.Customer{synced, other} {
		before := e.srv.Stats().Requests
		d := e.create(distribution.Distribution{Name: "to " + c.ID, Audience: distribution.Audience{CustomerID: c.ID},
			Channels: []distribution.ChannelMessage{
				{Channel: distribution.IntercomInApp, Body: "in-app"},
				{Channel: distribution.IntercomEmail, Subject: "s", Body: "email"},
			}})
		if done := e.sendNow(d.ID, distribution.StatusDone); done.Report.Sent != 2 {
			t.Fatalf("%s: report %+v, want 2 sent", c.SourceID, done.Report)
		}
		lookups := e.srv.Stats().Requests - before - 2 // minus the two sends
		want := int64(0)
		if c.ID == other.ID {
			want = 1
		}
		if lookups != want {
			t.Errorf("%s: %d contact lookups, want %d", c.SourceID, lookups, want)
		}
	}
	msgs := e.srv.Messages()
	if len(msgs) != 4 || msgs[0].To.Role != intercom.RoleLead || msgs[0].To.ID != lead.ID {
		t.Fatalf("messages = %+v, want the first to the lead by its synced id and role", msgs)
	}
}
