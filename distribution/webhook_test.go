package distribution_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

// TestWebhookKeepsSegmentsCurrent: contact notifications go through the
// Manager (Manager.WebhookConfig), so an auto-update segment follows them
// and its entered trigger sends; every notification counts against the
// API limit; the store de-duplicates.
func TestWebhookKeepsSegmentsCurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) { c.Limits.API.Max = 4 })
	seg := e.waitSynced(e.segment().ID) // metadata.source is Intercom
	vip := autoSegment(t, e, "VIP", `"VIP" in metadata.intercom_tags`)
	e.activate(distribution.Distribution{Name: "Welcome", Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: seg.ID},
		Channels: inApp("welcome {{customer.name}}")})
	e.activate(distribution.Distribution{Name: "VIP", Trigger: distribution.Trigger{Event: distribution.EventSegmentEntered, SegmentID: vip.ID},
		Channels: inApp("you are VIP, {{customer.name}}")})

	h, err := intercom.NewWebhookHandler(e.m.WebhookConfig("client-secret"))
	if err != nil {
		t.Fatal(err)
	}
	ann := e.srv.AddContact(intercom.Contact{Role: intercom.RoleUser, ExternalID: "u1", Name: "Ann", UpdatedAt: e.clk.Now()})
	tagged := ann
	tagged.Tags = []intercom.Tag{{ID: "t1"}} // inline tags carry ids only; the name was learned from the tag notification
	deliver := func(id, topic string, item any) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, intercomtest.WebhookRequest("/hooks", "client-secret", intercomtest.NotificationAt(id, topic, item, e.clk.Now())))
		return w.Code
	}
	for i, d := range []struct {
		id, topic string
		item      any
		want      int
	}{
		{"n1", "contact.user.created", ann, 200},
		{"n1", "contact.user.created", ann, 200}, // a repeat: counted, not handled again
		{"n2", "contact.user.tag.created", map[string]any{"type": "contact_tag", "tag": map[string]any{"id": "t1", "name": "VIP"},
			"contact": map[string]any{"type": "contact", "id": ann.ID, "external_id": "u1", "role": "user"}}, 200},
		{"n3", "contact.user.updated", tagged, 200},
		{"n4", "contact.user.updated", ann, http.StatusTooManyRequests}, // the fifth call of the day
	} {
		if code := deliver(d.id, d.topic, d.item); code != d.want {
			t.Errorf("delivery %d (%s): status %d, want %d", i, d.id, code, d.want)
		}
	}
	want := []string{"welcome Ann", "you are VIP, Ann"}
	if diff := cmp.Diff(want, e.bodies()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	c, err := e.m.Customer(e.ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Metadata[intercom.MetaIntercomID] != ann.ID || !cmp.Equal(c.Metadata[intercom.MetaIntercomTags], []any{"VIP"}) {
		t.Errorf("customer metadata = %v", c.Metadata)
	}
	u, err := e.m.Usage(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.API.Used != 4 {
		t.Errorf("API usage = %d, want 4 (every delivery up to the cap)", u.API.Used)
	}

	// Deleted in Intercom: the customer goes, and leaves its segments.
	e.clk.Advance(time.Minute)
	e.start(func(c *distribution.Config) { c.Limits.API.Max = 0 })
	h, _ = intercom.NewWebhookHandler(e.m.WebhookConfig("client-secret"))
	if code := deliver("n5", "contact.deleted", map[string]any{"type": "contact", "id": ann.ID}); code != 200 {
		t.Fatalf("deletion: status %d", code)
	}
	if _, err := e.m.Customer(e.ctx, "u1"); err == nil {
		t.Error("the customer of a deleted contact is still there")
	}
	if ids, _ := e.m.SegmentMembers(e.ctx, seg.ID); len(ids) != 0 {
		t.Errorf("segment members after the deletion = %v", ids)
	}
}
