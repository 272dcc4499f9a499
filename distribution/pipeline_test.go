package distribution_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/store"
)

// A send never runs another distribution's send inline: the publication
// event it emits is queued. With the publication-triggered distribution's
// channel blocked, HandleEvent still returns (inline, it would block on
// the gate), and the queued send goes out once the gate opens.
func TestPublicationEventIsQueuedNotRunInline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gate := e.startGated()
	e.intercomCustomer("u1", "Ann", "ann@example.com")
	camp := e.campaign(distribution.Campaign{Name: "Thanks", Codes: []string{"T-1"}})
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Campaign: camp.ID, Channels: inApp("code {{voucher.code}}")})
	e.activate(distribution.Distribution{Name: "Published", Trigger: distribution.Trigger{Event: distribution.EventPublication},
		Channels: []distribution.ChannelMessage{{Channel: "gate", Body: "published {{voucher.code}}"}}})

	handled := make(chan error, 1)
	go func() { handled <- e.m.HandleEvent(e.ctx, paidEvent("e1", "u1")) }()
	select {
	case err := <-handled:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("HandleEvent blocked on the publication-triggered send: it ran inline")
	}
	if got := e.bodies(); len(got) != 1 || got[0] != "code T-1" {
		t.Fatalf("messages %v, want only the paid one", got)
	}
	var dlID string
	select {
	case dlID = <-gate.started: // the queued event reached its send
	case <-time.After(10 * time.Second):
		t.Fatal("the publication event was never processed")
	}
	close(gate.release)
	e.idle()
	dl, err := e.m.Delivery(e.ctx, dlID)
	if err != nil || dl.State != distribution.DeliverySent || dl.Code != "T-1" || !strings.HasPrefix(dl.TriggerKey, "publication:") {
		t.Errorf("publication-triggered delivery = %+v, %v; want sent with T-1", dl, err)
	}
}

// conflictStore answers every UpdateDistribution with err.
type conflictStore struct {
	*store.Memory
	err   error
	calls atomic.Int32
}

func (s *conflictStore) UpdateDistribution(ctx context.Context, d distribution.Distribution) (int64, error) {
	s.calls.Add(1)
	return 0, s.err
}

// Compare-and-set loops retry a stale revision a bounded number of times,
// and never retry ErrNameTaken (which also matches ErrConflict).
func TestCompareAndSetLoopsAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls func(n int32) bool
		want      error
	}{
		{"stale revision forever", distribution.ErrConflict, func(n int32) bool { return n > 1 && n <= 16 }, distribution.ErrConflict},
		{"name taken", distribution.ErrNameTaken, func(n int32) bool { return n == 1 }, distribution.ErrNameTaken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := store.NewMemory()
			m, err := distribution.NewManager(distribution.Config{Store: mem, Channels: []distribution.Channel{distributiontestChannel{}}})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1"}, customer.UpsertOptions{})
			d, err := m.CreateDistribution(ctx, distribution.Distribution{Name: "A", Audience: distribution.Audience{CustomerID: c.ID},
				Channels: []distribution.ChannelMessage{{Channel: "test", Body: "hi"}}})
			if err != nil {
				t.Fatal(err)
			}
			cs := &conflictStore{Memory: mem, err: tc.err}
			m2, err := distribution.NewManager(distribution.Config{Store: cs, Channels: []distribution.Channel{distributiontestChannel{}}})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				d.Name = "B"
				_, err := m2.UpdateDistribution(ctx, d)
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("UpdateDistribution spins on a store that keeps answering a conflict")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if n := cs.calls.Load(); !tc.wantCalls(n) {
				t.Errorf("%d store updates", n)
			}
		})
	}
}

// distributiontestChannel is a channel that accepts every message.
type distributiontestChannel struct{}

func (distributiontestChannel) Name() string { return "test" }
func (distributiontestChannel) Send(context.Context, distribution.Message) (distribution.Receipt, error) {
	return distribution.Receipt{ProviderMessageID: "ok"}, nil
}

// countingStore records whether it was called, and with which context.
type countingStore struct {
	*store.Memory
	calls atomic.Int32
	key   any
}

type ctxKey struct{}

func (s *countingStore) ListDistributions(ctx context.Context, statuses ...distribution.Status) ([]distribution.Distribution, error) {
	s.calls.Add(1)
	s.key = ctx.Value(ctxKey{})
	return s.Memory.ListDistributions(ctx, statuses...)
}

// NewManager does no I/O: the Manager loads what it keeps in memory on its
// first call, with that call's context.
func TestNewManagerDoesNoIO(t *testing.T) {
	t.Parallel()
	st := &countingStore{Memory: store.NewMemory()}
	m, err := distribution.NewManager(distribution.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if n := st.calls.Load(); n != 0 {
		t.Fatalf("NewManager made %d store calls, want none", n)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.ReloadTriggers(canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("first call with a canceled context = %v, want context.Canceled (the load uses the caller's context)", err)
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
	if err := m.ReloadTriggers(ctx); err != nil {
		t.Fatal(err)
	}
	if st.key != "caller" {
		t.Errorf("the load used context value %v, want the caller's", st.key)
	}
}

// Recovery is continuous: a delivery left in sending by a replica that
// died after this Manager started is resolved once it is older than
// InterruptAfter, without a restart, and its distribution finishes.
func TestRecoveryIsContinuous(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *distribution.Config) { c.InterruptAfter = 10 * time.Second })
	c := e.intercomCustomer("u1", "Ann", "ann@example.com")
	d := e.create(distribution.Distribution{Name: "stuck", Audience: distribution.Audience{CustomerID: c.ID}, Channels: inApp("hi")})
	// A dead replica's fan-out: the distribution is sending and its only
	// delivery was moved to sending, then nothing.
	d.Status, d.Report.StartedAt, d.ResolvedAt = distribution.StatusSending, e.clk.Now(), e.clk.Now()
	if _, err := e.st.UpdateDistribution(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	k := distribution.DeliveryKey{DistributionID: d.ID, CustomerID: c.ID, TriggerKey: distribution.ManualTrigger, Channel: distribution.IntercomInApp}
	now := e.clk.Now()
	if _, err := e.st.InsertDeliveries(e.ctx, []distribution.Delivery{{ID: distribution.DeliveryID(k), DistributionID: d.ID,
		CustomerID: c.ID, TriggerKey: k.TriggerKey, Channel: k.Channel, State: distribution.DeliverySending, Attempts: 1,
		CreatedAt: now, UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	e.idle()
	e.clk.Advance(11 * time.Second) // the sweep runs every InterruptAfter
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	got, err := distributiontest.WaitFor(ctx, e.m, d.ID, distribution.StatusDone)
	if err != nil {
		t.Fatal(err)
	}
	if got.Report.Unknown != 1 || got.Report.Sent != 0 {
		t.Errorf("report %+v, want the interrupted delivery unknown", got.Report)
	}
	if len(e.srv.Messages()) != 0 {
		t.Errorf("%d messages: an interrupted send must not be repeated", len(e.srv.Messages()))
	}
}

// WaitFor fails early, saying why, when the distribution ends in another
// final status.
func TestWaitForStopsAtAnotherFinalStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.intercomCustomer("u1", "Ann", "ann@example.com")
	d := e.create(distribution.Distribution{Name: "x", Audience: distribution.Audience{CustomerID: c.ID}, Channels: inApp("hi")})
	if _, err := e.m.Cancel(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	_, err := distributiontest.WaitFor(ctx, e.m, d.ID, distribution.StatusDone)
	if err == nil || !strings.Contains(err.Error(), "canceled") || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor = %v, want an early error naming canceled", err)
	}
}

func TestConsentPolicyCheck(t *testing.T) {
	t.Parallel()
	granted := customer.Consents{Status: map[string]customer.ConsentStatus{"cnst_a": {Granted: true}}}
	for _, tc := range []struct {
		name         string
		p            distribution.ConsentPolicy
		c            customer.Consents
		want, detail string
	}{
		{"nothing required", distribution.ConsentPolicy{}, customer.Consents{}, "", ""},
		{"unsubscribed", distribution.ConsentPolicy{}, customer.Consents{Unsubscribed: true}, distribution.ReasonUnsubscribed, ""},
		{"granted", distribution.ConsentPolicy{Required: []string{"cnst_a"}}, granted, "", ""},
		{"missing", distribution.ConsentPolicy{Required: []string{"cnst_a", "cnst_b"}}, granted, distribution.ReasonConsentMissing, "cnst_b"},
		{"disabled", distribution.ConsentPolicy{Disabled: true}, customer.Consents{Unsubscribed: true}, "", ""},
	} {
		c := customer.Customer{Consents: tc.c}
		if got, detail := tc.p.Check(&c); got != tc.want || detail != tc.detail {
			t.Errorf("%s: Check = %q, %q; want %q, %q", tc.name, got, detail, tc.want, tc.detail)
		}
	}
}

// GiveReward is usable without the inbox app: it publishes once per
// reward, customer and conversation, replies once, and answers a repeat
// with the recorded delivery.
func TestGiveReward(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.customer(customer.Customer{SourceID: "cust-1", Name: "Jo"})
	camp := e.campaign(distribution.Campaign{Name: "Sorry", Codes: []string{"S-1", "S-2"}})
	r := distribution.Reward{ID: "sorry", Name: "Sorry coupon", Campaign: "Sorry", Message: "Hi {{customer.name}}: {{voucher.code}} ({{reward.name}})"}
	req := distribution.RewardRequest{Reward: r, CustomerID: "cust-1", ConversationID: "524"}
	res, err := e.m.GiveReward(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Already || !res.Recorded || res.Delivery.State != distribution.DeliverySent || res.Delivery.Code != "S-1" ||
		res.Delivery.CustomerID != c.ID || res.Delivery.DistributionID != distribution.RewardDistributionID("sorry") ||
		res.Message != "Hi Jo: S-1 (Sorry coupon)" {
		t.Errorf("first call = %+v", res)
	}
	again, err := e.m.GiveReward(e.ctx, req)
	if err != nil || !again.Already || again.Delivery.ID != res.Delivery.ID || again.Delivery.Code != "S-1" {
		t.Errorf("repeat = %+v, %v; want the same delivery, Already", again, err)
	}
	if reps := e.srv.Replies(); len(reps) != 1 || reps[0].ConversationID != "524" || reps[0].Body != "Hi Jo: S-1 (Sorry coupon)" {
		t.Errorf("replies %+v, want one", reps)
	}
	if pubs, _ := e.codes.Publications(e.ctx, camp.ID); len(pubs) != 1 {
		t.Errorf("%d publications, want 1", len(pubs))
	}
	// Bad requests name the field and record nothing.
	bad := req
	bad.Reward.Campaign = "nope"
	if _, err := e.m.GiveReward(e.ctx, bad); !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), "Campaign") {
		t.Errorf("unknown campaign = %v", err)
	}
	bad = req
	bad.ConversationID = ""
	if _, err := e.m.GiveReward(e.ctx, bad); !errors.Is(err, distribution.ErrInvalid) || !strings.Contains(err.Error(), "conversation_id") {
		t.Errorf("no conversation = %v", err)
	}
}

// pacedChannel is a Pacer whose Pace waits for a token, and whose first
// sends are refused for the provider's rate limit.
type pacedChannel struct {
	tokens chan struct{}
	pacing chan string // a Pace began
	refuse atomic.Int32
	sent   atomic.Int32
}

func (c *pacedChannel) Name() string { return "paced" }

func (c *pacedChannel) Pace(ctx context.Context) error {
	select {
	case c.pacing <- "":
	default:
	}
	select {
	case <-c.tokens:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *pacedChannel) Send(ctx context.Context, msg distribution.Message) (distribution.Receipt, error) {
	if c.refuse.Add(-1) >= 0 {
		return distribution.Receipt{}, distribution.RateLimitedError(errors.New("429 rate_limit_exceeded"), time.Second)
	}
	c.sent.Add(1)
	return distribution.Receipt{ProviderMessageID: "p-" + msg.Delivery.ID}, nil
}

// A delivery is in sending only once the channel's rate limit let its
// request through; a refusal for the rate limit moves it back, without
// counting an attempt, and the same worker sends it again after the
// provider's reset (not RetryDelay later).
func TestPacedChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ch := &pacedChannel{tokens: make(chan struct{}, 4), pacing: make(chan string, 1)}
	ch.refuse.Store(1)
	e.start(func(c *distribution.Config) { c.Channels = []distribution.Channel{ch} })
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann"})
	e.activate(distribution.Distribution{Name: "Paid", Trigger: distribution.Trigger{Event: distribution.EventOrderPaid},
		Channels: []distribution.ChannelMessage{{Channel: "paced", Body: "hi"}}})
	done := make(chan error, 1)
	go func() { done <- e.m.HandleEvent(e.ctx, paidEvent("e1", "u1")) }()
	<-ch.pacing // waiting for the rate limit
	if dl := e.only("e1"); dl.State != distribution.DeliveryScheduled {
		t.Fatalf("while waiting for the rate limit the delivery is %s, want scheduled", dl.State)
	}
	ch.tokens <- struct{}{} // the first request goes out, and is refused (429)
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := distributiontest.WaitUntil(ctx, e.m, func() bool {
		return strings.HasPrefix(e.only("e1").Reason, "rate limited")
	}); err != nil {
		t.Fatal(err)
	}
	if dl := e.only("e1"); dl.State != distribution.DeliveryScheduled || dl.Attempts != 0 {
		t.Fatalf("after the refusal: %+v, want scheduled again, no attempt counted", dl)
	}
	e.clk.Advance(time.Second) // the provider's reset, not RetryDelay
	<-ch.pacing                // the same worker paces it again
	ch.tokens <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if dl := e.only("e1"); dl.State != distribution.DeliverySent || dl.Attempts != 1 || ch.sent.Load() != 1 {
		t.Errorf("delivery %+v (%d sends), want sent on its first counted attempt", dl, ch.sent.Load())
	}
}

// Skips group by a stable reason; the specifics (which consent) are the
// delivery's ReasonDetail.
func TestSkipReasonsGroupByStableReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, err := e.m.CreateConsent(e.ctx, distribution.Consent{Name: "News"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.m.CreateConsent(e.ctx, distribution.Consent{Name: "Offers"})
	if err != nil {
		t.Fatal(err)
	}
	granted := func(id string) customer.Consents {
		return customer.Consents{Status: map[string]customer.ConsentStatus{id: {Granted: true}}}
	}
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann", Metadata: customer.Metadata{"source": "Intercom"}, Consents: granted(b.ID)})
	e.customer(customer.Customer{SourceID: "u2", Name: "Bob", Metadata: customer.Metadata{"source": "Intercom"}, Consents: granted(a.ID)})
	seg := e.segment()
	d := e.create(distribution.Distribution{Name: "both", Audience: distribution.Audience{SegmentID: seg.ID},
		Consents: distribution.ConsentPolicy{Required: []string{a.ID, b.ID}}, Channels: inApp("hi")})
	done := e.sendNow(d.ID, distribution.StatusDone)
	if diff := cmp.Diff(map[string]int{distribution.ReasonConsentMissing: 2}, done.Report.SkipReasons); diff != "" {
		t.Errorf("skip reasons (-want +got):\n%s", diff)
	}
	details := map[string]bool{}
	for _, dl := range e.deliveries(distribution.DeliveryFilter{DistributionID: d.ID}) {
		details[dl.ReasonDetail] = true
	}
	if !details[a.ID] || !details[b.ID] {
		t.Errorf("details %v, want both consent ids", details)
	}
}

// A distribution whose every delivery failed ends failed, saying so, not
// a plain done.
func TestAllDeliveriesFailedIsNotDone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ch := distributiontest.NewChannel("flaky")
	ch.FailNext(distribution.PermanentError(errors.New("refused")), distribution.PermanentError(errors.New("refused")))
	e.start(func(c *distribution.Config) { c.Channels = []distribution.Channel{ch} })
	e.customer(customer.Customer{SourceID: "u1", Name: "Ann"})
	d := e.create(distribution.Distribution{Name: "x", Audience: distribution.Audience{CustomerID: "u1"},
		Channels: []distribution.ChannelMessage{{Channel: "flaky", Body: "hi"}}})
	got := e.sendNow(d.ID, distribution.StatusFailed)
	if got.Report.Stopped != distribution.ReasonAllFailed || got.Report.Failed != 1 {
		t.Errorf("report %+v, want stopped %q", got.Report, distribution.ReasonAllFailed)
	}
	if n, err := e.m.RetryFailed(e.ctx, d.ID); err != nil || n != 1 {
		t.Fatalf("RetryFailed = %d, %v", n, err)
	}
	e.waitStatus(d.ID, distribution.StatusFailed) // the second send fails too
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if _, err := distributiontest.WaitFor(ctx, e.m, d.ID, distribution.StatusDone); err == nil {
		t.Fatal("done after a second failure")
	}
}

// Ready is closed once Run has started its workers, not before.
func TestReady(t *testing.T) {
	t.Parallel()
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Ready():
		t.Fatal("Ready before Run")
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not Ready after Run started")
	}
	cancel()
	<-done
}
