package intercom_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
)

func TestContactToCustomer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   intercom.Contact
		want customer.Customer
	}{
		{"user", intercom.Contact{ID: "c1", Role: intercom.RoleUser, ExternalID: "u-1", Name: "Ann", Email: "ann@example.com", Phone: "+48 600",
			UnsubscribedFromEmails: true, CustomAttributes: map[string]any{"plan": "pro", "seats": 3.0, "vip": true, "gone": nil, "source": "spoofed"},
			Tags: []intercom.Tag{{ID: "t1", Name: "VIP"}, {ID: "t2"}}},
			customer.Customer{SourceID: "u-1", Name: "Ann", Email: "ann@example.com", Phone: "+48 600", Metadata: customer.Metadata{
				"plan": "pro", "seats": 3.0, "vip": true, "gone": nil,
				intercom.MetaSource: "Intercom", intercom.MetaIntercomID: "c1", intercom.MetaIntercomRole: "user",
				intercom.MetaIntercomTags: []any{"VIP", "t2"}, intercom.MetaUnsubscribedFromEmails: true}}},
		{"lead without external id", intercom.Contact{ID: "c2", Role: intercom.RoleLead, Email: "lead@example.com"},
			customer.Customer{SourceID: "intercom:c2", Email: "lead@example.com", Metadata: customer.Metadata{
				intercom.MetaSource: "Intercom", intercom.MetaIntercomID: "c2", intercom.MetaIntercomRole: "lead",
				intercom.MetaIntercomTags: []any{}, intercom.MetaUnsubscribedFromEmails: false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, intercom.ContactToCustomer(tt.in)); diff != "" {
				t.Errorf("ContactToCustomer (-want +got):\n%s", diff)
			}
		})
	}
}

// memWriter is a CustomerWriter keyed by SourceID.
type memWriter struct {
	bySource map[string]customer.Customer
	batches  []int
	failAt   int
}

func (w *memWriter) UpsertCustomers(ctx context.Context, cs []customer.Customer, opts customer.UpsertOptions) ([]customer.Customer, error) {
	if w.failAt > 0 && len(w.batches)+1 == w.failAt {
		return nil, errors.New("disk full")
	}
	if !opts.Merge {
		return nil, errors.New("want Merge")
	}
	w.batches = append(w.batches, len(cs))
	for _, c := range cs {
		w.bySource[c.SourceID] = customer.Merge(w.bySource[c.SourceID], c)
	}
	return cs, nil
}

func TestSyncContacts(t *testing.T) {
	t.Parallel()
	var seed []intercom.Contact
	for i := range 7 {
		c := intercom.Contact{Role: intercom.RoleUser, ExternalID: "u" + string(rune('a'+i)), Name: "N" + string(rune('a'+i))}
		if i == 6 {
			c = intercom.Contact{ID: "lead-1", Role: intercom.RoleLead, Email: "l@example.com", Tags: []intercom.Tag{{ID: "t9", Name: "Trial"}}}
		}
		seed = append(seed, c)
	}
	srv := intercomtest.NewServer(intercomtest.Contacts(seed...))
	defer srv.Close()
	c := srv.Client()
	w := &memWriter{bySource: map[string]customer.Customer{}}
	var progress []intercom.SyncProgress
	got, err := c.SyncContacts(context.Background(), w, intercom.SyncOptions{BatchSize: 3, PerPage: 2, Progress: func(p intercom.SyncProgress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	want := intercom.SyncProgress{Contacts: 7, Upserted: 7, Batches: 3}
	if got != want {
		t.Errorf("SyncContacts = %+v, want %+v", got, want)
	}
	if diff := cmp.Diff([]intercom.SyncProgress{{3, 3, 1}, {6, 6, 2}, {7, 7, 3}}, progress); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	if len(w.bySource) != 7 {
		t.Errorf("stored %d customers, want 7", len(w.bySource))
	}
	lead := w.bySource["intercom:lead-1"]
	if diff := cmp.Diff([]any{"Trial"}, lead.Metadata[intercom.MetaIntercomTags]); diff != "" {
		t.Errorf("lead tags resolved to names (-want +got):\n%s", diff)
	}
	if lead.Metadata[intercom.MetaSource] != "Intercom" || lead.Metadata[intercom.MetaIntercomRole] != "lead" {
		t.Errorf("lead metadata = %v", lead.Metadata)
	}

	w2 := &memWriter{bySource: map[string]customer.Customer{}, failAt: 2}
	got, err = c.SyncContacts(context.Background(), w2, intercom.SyncOptions{BatchSize: 3})
	if err == nil || got.Upserted != 3 || got.Batches != 1 {
		t.Errorf("failing writer: SyncContacts = %+v, %v; want an error after one batch of 3", got, err)
	}
}

func TestContactsAndTagsAgainstServer(t *testing.T) {
	t.Parallel()
	srv, c := newServer(t)
	ctx := context.Background()
	if _, err := c.CreateDataAttribute(ctx, intercom.DataAttributeInput{Name: "plan", DataType: "string"}); err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateContact(ctx, intercom.ContactInput{ExternalID: "u-new", Email: "new@example.com", Name: "New", CustomAttributes: map[string]any{"plan": "free"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Role != intercom.RoleUser || created.CustomAttributes["plan"] != "free" {
		t.Errorf("CreateContact = %+v", created)
	}
	if _, err := c.CreateContact(ctx, intercom.ContactInput{ExternalID: "u-new"}); err == nil {
		t.Error("duplicate external_id: want a conflict error")
	}
	if _, err := c.CreateContact(ctx, intercom.ContactInput{ExternalID: "u-x", CustomAttributes: map[string]any{"nope": 1}}); err == nil {
		t.Error("unknown custom attribute: want an error")
	}
	unsub := true
	updated, err := c.UpdateContact(ctx, created.ID, intercom.ContactInput{Name: "Renamed", UnsubscribedFromEmails: &unsub})
	if err != nil || updated.Name != "Renamed" || !updated.UnsubscribedFromEmails || updated.Email != "new@example.com" {
		t.Errorf("UpdateContact = %+v, %v", updated, err)
	}
	tag, err := c.CreateTag(ctx, "VIP")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.CreateTag(ctx, "vip"); again.ID != tag.ID {
		t.Errorf("CreateTag is not idempotent by name: %v vs %v", again, tag)
	}
	if _, err := c.TagContact(ctx, created.ID, tag.ID); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ContactTags(ctx, created.ID)
	if err != nil || len(tags) != 1 || tags[0].Name != "VIP" {
		t.Errorf("ContactTags = %v, %v", tags, err)
	}
	if err := c.UntagContact(ctx, created.ID, tag.ID); err != nil {
		t.Fatal(err)
	}
	if tags, _ := c.ContactTags(ctx, created.ID); len(tags) != 0 {
		t.Errorf("after untag: %v", tags)
	}
	var found []string
	for ct, err := range c.SearchContacts(ctx, intercom.SearchQuery{Field: "email", Operator: "$", Value: "@example.com"}, intercom.SearchOptions{ListOptions: intercom.ListOptions{PerPage: 1}}) {
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, ct.ID)
	}
	if diff := cmp.Diff([]string{ann.ID, lead.ID, created.ID}, found); diff != "" {
		t.Errorf("search (-want +got):\n%s", diff)
	}
	admins, err := c.Admins(ctx)
	if err != nil || len(admins) != 1 || admins[0].ID != srv.AdminID() {
		t.Errorf("Admins = %v, %v", admins, err)
	}
	me, err := c.Me(ctx)
	if err != nil || me.App.Name != intercomtest.DefaultWorkspace || me.ID != srv.AdminID() {
		t.Errorf("Me = %+v, %v", me, err)
	}
}

func TestMirrorSchema(t *testing.T) {
	t.Parallel()
	_, c := newServer(t)
	ctx := context.Background()
	schema := customer.Schema{Properties: map[string]customer.Property{
		"plan":     {Type: customer.TypeString},
		"ltv":      {Type: customer.TypeNumber},
		"vip":      {Type: customer.TypeBoolean},
		"born":     {Type: customer.TypeDate},
		"seen":     {Type: customer.TypeDatetime},
		"colours":  {Type: customer.TypeString, Array: true},
		"obsolete": {Type: customer.TypeString, Deleted: true},
	}}
	created, err := c.MirrorSchema(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range created {
		got[a.Name] = a.DataType
	}
	// intercomtest, like Intercom, reports datetime attributes as date.
	want := map[string]string{"plan": "string", "ltv": "float", "vip": "boolean", "born": "date", "seen": "date", "colours": "string"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	again, err := c.MirrorSchema(ctx, schema)
	if err != nil || len(again) != 0 {
		t.Errorf("second MirrorSchema = %v, %v; want nothing created", again, err)
	}
	attrs, err := c.DataAttributes(ctx, "contact")
	if err != nil || len(attrs) != 6 {
		t.Errorf("DataAttributes = %d, %v; want 6", len(attrs), err)
	}
	if _, err := c.CreateDataAttribute(ctx, intercom.DataAttributeInput{Name: "x", DataType: "options", Options: []string{"a"}}); !errors.Is(err, intercom.ErrInvalid) {
		t.Errorf("one option: err = %v, want ErrInvalid", err)
	}
}
