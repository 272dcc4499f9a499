package distribution_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/segment"
)

func TestManualToSegmentSeveralChannels(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.intercomCustomer("u1", "Ann & <Co>", "ann@example.com")
	bob := e.intercomCustomer("u2", "Bob", "bob@example.com")
	e.customer(customer.Customer{SourceID: "web-1", Name: "Not from Intercom"}) // outside the segment
	seg := e.segment()
	camp := e.campaign(distribution.Campaign{Name: "Welcome", Code: distribution.CodeConfig{Pattern: "WELCOME-####", Charset: distribution.CharsetNumbers}})
	d := e.create(distribution.Distribution{
		Name:     "Welcome codes",
		Audience: distribution.Audience{SegmentID: seg.ID},
		Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{
			{Channel: distribution.IntercomInApp, Body: "Hi {{customer.name}}, your code: {{voucher.code}}"},
			{Channel: distribution.IntercomEmail, Subject: "A gift for {{customer.name}}", Body: "<p>{{voucher.code}} from {{campaign.name}}</p>"},
		},
	})
	if d.Status != distribution.StatusDraft || !strings.HasPrefix(d.ID, "distr_") {
		t.Fatalf("created %+v, want a draft with a distr_ id", d)
	}
	done := e.sendNow(d.ID, distribution.StatusDone)

	msgs := e.srv.Messages()
	if len(msgs) != 4 {
		t.Fatalf("Intercom got %d messages, want 4 (2 customers x 2 channels): %+v", len(msgs), msgs)
	}
	codes := map[string]string{} // customer id -> code
	for _, dl := range e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID}) {
		if dl.State != distribution.DeliverySent || dl.ProviderMessageID == "" || dl.Attempts != 1 {
			t.Errorf("delivery %+v: want sent once with a provider id", dl)
		}
		if prev, ok := codes[dl.CustomerID]; ok && prev != dl.Code {
			t.Errorf("customer %s got codes %q and %q; both channels must carry one code", dl.CustomerID, prev, dl.Code)
		}
		codes[dl.CustomerID] = dl.Code
	}
	if len(codes) != 2 || codes[ann.ID] == codes[bob.ID] {
		t.Fatalf("codes = %v, want one distinct code for each of 2 customers", codes)
	}
	byType := map[intercom.MessageType][]intercomtest.Message{}
	for _, msg := range msgs {
		byType[msg.Type] = append(byType[msg.Type], msg)
		if msg.FromAdminID != e.srv.AdminID() {
			t.Errorf("message from %q, want the configured admin", msg.FromAdminID)
		}
	}
	annCode := codes[ann.ID]
	var annInApp, annEmail *intercomtest.Message
	for i := range msgs {
		if strings.Contains(msgs[i].Body, annCode) {
			if msgs[i].Type == intercom.InApp {
				annInApp = &msgs[i]
			} else {
				annEmail = &msgs[i]
			}
		}
	}
	if annInApp == nil || annEmail == nil {
		t.Fatalf("no in-app and email with Ann's code %s in %+v", annCode, msgs)
	}
	if want := "Hi Ann &amp; &lt;Co&gt;, your code: " + annCode; annInApp.Body != want {
		t.Errorf("in-app body = %q, want %q (values escaped)", annInApp.Body, want)
	}
	if want := "A gift for Ann & <Co>"; annEmail.Subject != want {
		t.Errorf("email subject = %q, want %q (not escaped)", annEmail.Subject, want)
	}
	if want := "<p>" + annCode + " from Welcome</p>"; annEmail.Body != want || annEmail.Template != "plain" {
		t.Errorf("email = %q (template %q), want %q (plain)", annEmail.Body, annEmail.Template, want)
	}
	want := distribution.Report{Recipients: 2, Deliveries: 4, Sent: 4}
	got := done.Report
	got.StartedAt, got.FinishedAt = time.Time{}, time.Time{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if done.Report.FinishedAt.IsZero() {
		t.Error("report has no FinishedAt")
	}
}

func TestManualToOneCustomerPlainMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.intercomCustomer("u1", "Ann", "ann@example.com")
	e.intercomCustomer("u2", "Bob", "bob@example.com")
	d := e.create(distribution.Distribution{
		Name:     "Hello",
		Audience: distribution.Audience{CustomerID: "u1"}, // a source_id works too
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "Hello {{customer.name | default: \"there\"}} from {{distribution.name}}"}},
	})
	if d.Audience.CustomerID != c.ID {
		t.Fatalf("audience = %q, want resolved to %q", d.Audience.CustomerID, c.ID)
	}
	e.sendNow(d.ID, distribution.StatusDone)
	msgs := e.srv.Messages()
	if len(msgs) != 1 || msgs[0].Body != "Hello Ann from Hello" {
		t.Fatalf("messages = %+v, want one to Ann", msgs)
	}
}

func TestCountdownWaitsForSegmentSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := gateEvaluator{open: make(chan struct{})}
	e.start(func(c *distribution.Config) { c.Evaluator = gate })
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	seg := e.segment() // its sync blocks until the gate opens
	d := e.create(distribution.Distribution{
		Name: "Waits", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi"}},
	})
	d, err := e.m.Send(e.ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != distribution.StatusScheduled || !d.SendAt.IsZero() {
		t.Fatalf("after Send while syncing: status %s, send_at %v; want scheduled, waiting", d.Status, d.SendAt)
	}
	e.clk.Advance(time.Hour) // the countdown has not started
	if n := e.srv.MessageCount(); n != 0 {
		t.Fatalf("sent %d messages while the segment was syncing", n)
	}
	syncedAt := e.clk.Now()
	close(gate.open)
	d = e.waitArmed(d.ID)
	if want := syncedAt.Add(distribution.DefaultManualDelay); !d.SendAt.Equal(want) {
		t.Fatalf("send_at = %v, want sync end + 10m = %v", d.SendAt, want)
	}
	e.clk.Advance(distribution.DefaultManualDelay - time.Second)
	if d, _ := e.m.Distribution(e.ctx, d.ID); d.Status != distribution.StatusScheduled {
		t.Fatalf("fired early: %s", d.Status)
	}
	e.clk.Advance(time.Second)
	e.waitStatus(d.ID, distribution.StatusDone)
	if n := e.srv.MessageCount(); n != 1 {
		t.Fatalf("sent %d messages, want 1", n)
	}
}

func TestEditAndCancelWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	mk := func(name string) distribution.Distribution {
		return e.create(distribution.Distribution{
			Name: name, Audience: distribution.Audience{CustomerID: "u1"},
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "first"}},
		})
	}

	// Edited inside the window: the new text is what is sent.
	d := mk("edited")
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(5 * time.Minute)
	d, _ = e.m.Distribution(e.ctx, d.ID)
	d.Channels[0].Body = "second"
	if _, err := e.m.UpdateDistribution(e.ctx, d); err != nil {
		t.Fatalf("Update inside the window: %v", err)
	}
	e.clk.Advance(5 * time.Minute)
	e.waitStatus(d.ID, distribution.StatusDone)
	if msgs := e.srv.Messages(); len(msgs) != 1 || msgs[0].Body != "second" {
		t.Fatalf("messages = %+v, want the edited text", msgs)
	}
	d.Channels[0].Body = "third"
	if _, err := e.m.UpdateDistribution(e.ctx, d); !errors.Is(err, distribution.ErrWindowClosed) {
		t.Fatalf("Update after sending = %v, want ErrWindowClosed", err)
	}
	if _, err := e.m.Cancel(e.ctx, d.ID); !errors.Is(err, distribution.ErrWindowClosed) {
		t.Fatalf("Cancel after sending = %v, want ErrWindowClosed", err)
	}

	// Canceled inside the window: nothing is sent.
	c := mk("canceled")
	if _, err := e.m.Send(e.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(9 * time.Minute)
	c, err := e.m.Cancel(e.ctx, c.ID)
	if err != nil || c.Status != distribution.StatusCanceled {
		t.Fatalf("Cancel inside the window = %v, %v", c.Status, err)
	}
	e.clk.Advance(time.Hour)
	if n := e.srv.MessageCount(); n != 1 {
		t.Fatalf("a canceled distribution sent: %d messages", n)
	}
	if _, err := e.m.Send(e.ctx, c.ID); !errors.Is(err, distribution.ErrConflict) {
		t.Fatalf("Send of a canceled distribution = %v, want ErrConflict", err)
	}
}

func TestConsents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	news, err := e.m.CreateConsent(e.ctx, distribution.Consent{Name: "Newsletter", Category: "marketing"})
	if err != nil || !strings.HasPrefix(news.ID, "cnst_") {
		t.Fatalf("CreateConsent = %+v, %v", news, err)
	}
	if _, err := e.m.CreateConsent(e.ctx, distribution.Consent{Name: "Newsletter"}); !errors.Is(err, distribution.ErrConflict) {
		t.Fatalf("duplicate consent name = %v, want ErrConflict", err)
	}
	granted := customer.Consents{Status: map[string]customer.ConsentStatus{news.ID: {Granted: true}}}
	add := func(src string, cs customer.Consents) customer.Customer {
		e.srv.AddContact(intercom.Contact{ExternalID: src})
		return e.customer(customer.Customer{SourceID: src, Consents: cs, Metadata: customer.Metadata{"source": "Intercom"}})
	}
	okC := add("granted", granted)
	missing := add("missing", customer.Consents{Status: map[string]customer.ConsentStatus{news.ID: {Granted: false}}})
	unsub := add("unsub", customer.Consents{Unsubscribed: true, Status: granted.Status})
	seg := e.segment()
	msg := []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi"}}

	d := e.create(distribution.Distribution{Name: "required", Audience: distribution.Audience{SegmentID: seg.ID},
		Consents: distribution.ConsentPolicy{Required: []string{news.ID}}, Channels: msg})
	done := e.sendNow(d.ID, distribution.StatusDone)
	got := map[string]string{}
	for _, dl := range e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID}) {
		got[dl.CustomerID] = strings.TrimSpace(string(dl.State) + " " + dl.Reason + " " + dl.ReasonDetail)
	}
	want := map[string]string{
		okC.ID:     "sent",
		missing.ID: "skipped " + distribution.ReasonConsentMissing + " " + news.ID,
		unsub.ID:   "skipped " + distribution.ReasonUnsubscribed,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("required consent (-want +got):\n%s", diff)
	}
	if done.Report.Sent != 1 || done.Report.Skipped != 2 || done.Report.SkipReasons[distribution.ReasonUnsubscribed] != 1 {
		t.Errorf("report = %+v", done.Report)
	}

	d = e.create(distribution.Distribution{Name: "disabled", Audience: distribution.Audience{SegmentID: seg.ID},
		Consents: distribution.ConsentPolicy{Disabled: true}, Channels: msg})
	if done := e.sendNow(d.ID, distribution.StatusDone); done.Report.Sent != 3 {
		t.Errorf("check disabled: report %+v, want all 3 sent", done.Report)
	}

	if _, err := e.m.CreateDistribution(e.ctx, distribution.Distribution{Name: "bad consent", Audience: distribution.Audience{SegmentID: seg.ID},
		Consents: distribution.ConsentPolicy{Required: []string{"cnst_nope"}}, Channels: msg}); !errors.Is(err, distribution.ErrNotFound) || !strings.Contains(err.Error(), "consents.required[0]") {
		t.Errorf("unknown consent = %v, want ErrNotFound naming consents.required[0]", err)
	}
}

func TestEmailSkips(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv.AddContact(intercom.Contact{ExternalID: "ok", Email: "ok@example.com"})
	e.srv.AddContact(intercom.Contact{ExternalID: "noemail"})
	e.srv.AddContact(intercom.Contact{ExternalID: "optout", Email: "o@example.com", UnsubscribedFromEmails: true})
	meta := customer.Metadata{"source": "Intercom"}
	ok := e.customer(customer.Customer{SourceID: "ok", Email: "ok@example.com", Metadata: meta})
	noEmail := e.customer(customer.Customer{SourceID: "noemail", Metadata: meta})
	optOut := e.customer(customer.Customer{SourceID: "optout", Email: "o@example.com", Metadata: meta})
	seg := e.segment()
	d := e.create(distribution.Distribution{Name: "mail", Audience: distribution.Audience{SegmentID: seg.ID},
		Channels: []distribution.ChannelMessage{
			{Channel: distribution.IntercomEmail, Subject: "s", Body: "b"},
			{Channel: distribution.IntercomInApp, Body: "in-app"},
		}})
	e.sendNow(d.ID, distribution.StatusDone)
	got := map[string]string{}
	for _, dl := range e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID, Channel: distribution.IntercomEmail}) {
		got[dl.CustomerID] = string(dl.State) + " " + dl.Reason
	}
	want := map[string]string{
		ok.ID:      "sent ",
		noEmail.ID: "skipped " + distribution.ReasonNoEmail,
		optOut.ID:  "skipped " + distribution.ReasonEmailUnsubscribe,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("email deliveries (-want +got):\n%s", diff)
	}
	if n := len(e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID, Channel: distribution.IntercomInApp, States: []distribution.DeliveryState{distribution.DeliverySent}})); n != 3 {
		t.Errorf("in-app sent %d, want 3 (email skips do not affect other channels)", n)
	}
}

func TestManualPoolExhaustion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, src := range []string{"a", "b", "c", "d", "e"} {
		e.intercomCustomer(src, src, "")
	}
	seg := e.segment()
	camp := e.campaign(distribution.Campaign{Name: "Two codes", Codes: []string{"ONE", "TWO"}})
	d := e.create(distribution.Distribution{Name: "pool", Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "{{voucher.code}}"}}})
	done := e.sendNow(d.ID, distribution.StatusFailed)
	if done.Report.Sent != 2 || done.Report.Skipped != 3 || done.Report.SkipReasons[distribution.ReasonNoCodesLeft] != 3 || done.Report.Stopped != distribution.ReasonNoCodesLeft {
		t.Fatalf("report = %+v, want 2 sent, 3 skipped for no codes left, stopped", done.Report)
	}
	var bodies []string
	for _, m := range e.srv.Messages() {
		bodies = append(bodies, m.Body)
	}
	if diff := cmp.Diff([]string{"ONE", "TWO"}, bodies, cmpSorted); diff != "" {
		t.Errorf("codes sent (-want +got):\n%s", diff)
	}

	// A pattern too small for its pool is refused when the campaign is made;
	// an auto-update campaign runs out when its space does.
	_, err := e.m.CreateCampaign(e.ctx, distribution.Campaign{Name: "tiny", Code: distribution.CodeConfig{Pattern: "#", Charset: distribution.CharsetNumbers}, Count: 8})
	if !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), "code.pattern") {
		t.Errorf("pool larger than its pattern = %v, want ErrInvalid naming code.pattern", err)
	}
	tiny := e.campaign(distribution.Campaign{Name: "tiny auto", Type: distribution.CampaignAutoUpdate, Code: distribution.CodeConfig{Pattern: "#", Charset: "AB"}})
	d = e.create(distribution.Distribution{Name: "tiny", Audience: distribution.Audience{SegmentID: seg.ID}, Campaign: tiny.ID,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "{{voucher.code}}"}}})
	done = e.sendNow(d.ID, distribution.StatusFailed)
	if done.Report.Sent != 2 || done.Report.SkipReasons[distribution.ReasonNoCodesLeft] != 3 {
		t.Fatalf("tiny pattern: report = %+v, want 2 sent, 3 no codes left", done.Report)
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestTemplateValidationAndPreview(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.intercomCustomer("u1", "Ann <3", "ann@example.com")
	c.Metadata["tier"] = "Gold"
	e.customer(c)
	camp := e.campaign(distribution.Campaign{Name: "Spring", Code: distribution.CodeConfig{Prefix: "SPRING-", Pattern: "##-##"}})
	base := distribution.Distribution{Name: "t", Audience: distribution.Audience{CustomerID: c.ID}}
	for _, tc := range []struct {
		name     string
		campaign string
		ch       distribution.ChannelMessage
		want     string
	}{
		{"unknown tag", camp.ID, distribution.ChannelMessage{Channel: distribution.IntercomInApp, Body: "Hi {{customer.nam}}"}, "channels[0].body: line 1, column 4"},
		{"syntax error", camp.ID, distribution.ChannelMessage{Channel: distribution.IntercomInApp, Body: "Hi {{customer.name"}, "channels[0].body"},
		{"subject tag", camp.ID, distribution.ChannelMessage{Channel: distribution.IntercomEmail, Subject: "{{order.id}}", Body: "x"}, "channels[0].subject"},
		{"code without campaign", "", distribution.ChannelMessage{Channel: distribution.IntercomInApp, Body: "{{voucher.code}}"}, "needs a campaign"},
		{"email without subject", camp.ID, distribution.ChannelMessage{Channel: distribution.IntercomEmail, Body: "x"}, "channels[0].subject: required"},
		{"unknown channel", camp.ID, distribution.ChannelMessage{Channel: "sms", Body: "x"}, "channels[0].channel"},
	} {
		d := base
		d.Campaign, d.Channels = tc.campaign, []distribution.ChannelMessage{tc.ch}
		_, err := e.m.CreateDistribution(e.ctx, d)
		if !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrInvalid containing %q", tc.name, err, tc.want)
		}
	}
	_, err := e.m.CreateDistribution(e.ctx, distribution.Distribution{Name: "pos", Audience: base.Audience,
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "ab\n  {{x.y}}"}}})
	var te *distribution.TemplateError
	if !errors.As(err, &te) || te.Line != 2 || te.Col != 3 {
		t.Errorf("errors.As(*TemplateError) = %+v from %v, want line 2 column 3", te, err)
	}

	d := base
	d.Campaign = camp.ID
	d.Channels = []distribution.ChannelMessage{
		{Channel: distribution.IntercomInApp, Body: "{{customer.name}} ({{customer.metadata.tier}}): {{voucher.code}}"},
		{Channel: distribution.IntercomEmail, Subject: "For {{customer.name}}", Body: "{{campaign.name}}"},
	}
	d = e.create(d)
	// Editing is validated the same way and leaves the stored one unchanged.
	bad := d
	bad.Channels = []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "{{nope}}"}}
	if _, err := e.m.UpdateDistribution(e.ctx, bad); !errors.Is(err, distribution.ErrInvalid) {
		t.Fatalf("Update with an unknown tag = %v, want ErrInvalid", err)
	}
	got, err := e.m.Preview(e.ctx, d.ID, "u1")
	if err != nil {
		t.Fatal(err)
	}
	want := []distribution.Rendered{
		{Channel: distribution.IntercomInApp, Body: "Ann &lt;3 (Gold): SPRING-XX-XX"},
		{Channel: distribution.IntercomEmail, Subject: "For Ann <3", Body: "Spring"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("preview (-want +got):\n%s", diff)
	}
	if n := e.srv.MessageCount(); n != 0 {
		t.Errorf("preview sent %d messages", n)
	}
	if pubs, _ := e.codes.Publications(e.ctx, camp.ID); len(pubs) != 0 {
		t.Errorf("preview published %d codes", len(pubs))
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		cfg  distribution.Config
		want string
	}{
		{distribution.Config{}, "Config.Store"},
		{distribution.Config{Store: e.st, Intercom: e.srv.Client()}, "Config.AdminID"},
		{distribution.Config{Store: e.st, ManualDelay: -time.Second}, "Config.ManualDelay"},
		{distribution.Config{Store: e.st, Concurrency: -1}, "Config.Concurrency"},
		{distribution.Config{Store: e.st, EventLease: -time.Second}, "Config.EventLease"},
		{distribution.Config{Store: e.st, Channels: []distribution.Channel{nil}}, "Config.Channels[0]"},
	} {
		if _, err := distribution.NewManager(tc.cfg); !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewManager error %v, want ErrInvalid naming %s", err, tc.want)
		}
	}
}

var _ = segment.Synced

func TestUpdateAudienceRestartsCountdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "")
	e.intercomCustomer("u2", "Bob", "")
	d := e.create(distribution.Distribution{Name: "moving", Audience: distribution.Audience{CustomerID: "u1"},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi {{customer.name}}"}}})
	if _, err := e.m.Send(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(8 * time.Minute)
	d, _ = e.m.Distribution(e.ctx, d.ID)
	d.Audience = distribution.Audience{CustomerID: "u2"}
	d, err := e.m.UpdateDistribution(e.ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clk.Now().Add(distribution.DefaultManualDelay); !d.SendAt.Equal(want) {
		t.Fatalf("send_at after a new audience = %v, want %v (countdown restarted)", d.SendAt, want)
	}
	e.clk.Advance(2 * time.Minute) // the old send time passes
	if n := e.srv.MessageCount(); n != 0 {
		t.Fatalf("sent %d at the old send time", n)
	}
	e.clk.Advance(8 * time.Minute)
	e.waitStatus(d.ID, distribution.StatusDone)
	if msgs := e.srv.Messages(); len(msgs) != 1 || msgs[0].Body != "hi Bob" {
		t.Fatalf("messages = %+v, want one to Bob", msgs)
	}
}

func TestNamesAndConsentsInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "")
	c, err := e.m.CreateConsent(e.ctx, distribution.Consent{Name: "News"})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string) (distribution.Distribution, error) {
		return e.m.CreateDistribution(e.ctx, distribution.Distribution{Name: name, Audience: distribution.Audience{CustomerID: "u1"},
			Consents: distribution.ConsentPolicy{Required: []string{c.ID}},
			Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "x"}}})
	}
	a, err := mk("A")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mk("A"); !errors.Is(err, distribution.ErrNameTaken) {
		t.Fatalf("duplicate name = %v, want ErrNameTaken", err)
	}
	if _, err := mk(" "); !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), "name: required") {
		t.Fatalf("empty name = %v, want ErrInvalid naming name", err)
	}
	if err := e.m.DeleteConsent(e.ctx, c.ID); !errors.Is(err, distribution.ErrConflict) {
		t.Fatalf("deleting a consent in use = %v, want ErrConflict", err)
	}
	if _, err := e.m.Cancel(e.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DeleteConsent(e.ctx, c.ID); err != nil {
		t.Fatalf("deleting a consent no longer in use: %v", err)
	}
}

func TestTimeRelativeSegmentsResync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.intercomCustomer("u1", "Ann", "")
	seg, err := e.m.CreateSegment(e.ctx, segment.Segment{Name: "older than 2 days", Type: segment.Passive,
		Expression: `now - created_at > duration("48h")`})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("sync", func() bool { s, _ := e.m.Segment(e.ctx, seg.ID); return s.SyncStatus == segment.Synced })
	if ms, _ := e.m.SegmentMembers(e.ctx, seg.ID); len(ms) != 0 {
		t.Fatalf("members at creation = %v, want none", ms)
	}
	e.waitFor("Run to arm its hourly resync", func() bool { return e.clk.Pending() > 0 })
	e.clk.Advance(49 * time.Hour) // the hourly resync runs
	e.waitFor("the customer to age into the segment", func() bool {
		ms, _ := e.m.SegmentMembers(e.ctx, seg.ID)
		return len(ms) == 1
	})
}
