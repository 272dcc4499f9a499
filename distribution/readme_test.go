package distribution_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/codedrop/codedrop/codes"
	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/segment"
	"github.com/codedrop/codedrop/store"
)

// readmeEmbedding holds the code of the README's "Embedding it" section,
// so that the compiler checks it against the current API; it is never
// called (it would talk to the real Intercom). TestREADMEEmbedding checks
// that the README shows exactly the lines between the markers.
func readmeEmbedding(ctx context.Context, csvFile io.Reader, schema *customer.Schema) error {
	// README begin
	st := store.NewMemory()
	ic, err := intercom.NewClient(intercom.Config{Token: os.Getenv("INTERCOM_ACCESS_TOKEN")})
	m, err := distribution.NewManager(distribution.Config{
		Store:    st,
		Intercom: ic,
		AdminID:  "991267001", // the teammate messages are sent from
	})
	go m.Run(ctx) // workers, timers and retries; returns when ctx ends, after in-flight sends finish

	rep, err := m.ImportCustomers(ctx, csvFile, customer.ImportOptions{Schema: schema})
	seg, err := m.CreateSegment(ctx, segment.Segment{
		Name:   "From Intercom",
		Type:   segment.AutoUpdate,
		Filter: segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`),
	})
	camp, err := m.CreateCampaign(ctx, codes.Campaign{
		Name: "Welcome",
		Code: codes.CodeConfig{Pattern: "WELCOME-####", Charset: codes.CharsetUppercase},
	})
	d, err := m.CreateDistribution(ctx, distribution.Distribution{
		Name:     "Welcome codes",
		Audience: distribution.Audience{SegmentID: seg.ID},
		Campaign: camp.ID,
		Channels: []distribution.ChannelMessage{
			{Channel: distribution.IntercomInApp, Body: `Hi {{customer.name | default: "there"}}, your code: {{voucher.code}}`},
			{Channel: distribution.IntercomEmail, Subject: "A gift", Body: "<p>{{voucher.code}}</p>"},
		},
	})
	d, err = m.Send(ctx, d.ID) // sends 10 minutes after the segment is synced; Cancel or edit until then

	segs, err := m.Segments(ctx) // every segment with its sync status and progress (SyncChecked of SyncTotal)
	seg.Filter = segment.MustParseFilter(`{"junction":"and","metadata.ltv":{"conditions":{"$more_than":[100]}}}`)
	seg, err = m.UpdateSegment(ctx, seg) // same id: re-syncs, fires entered/left, a pending send waits for the re-sync

	// Intercom webhooks keep customers current (upserts, tags, unsubscribes, deletions, in order, once per
	// notification across replicas, each counted against the API limit):
	wh, err := intercom.NewWebhookHandler(m.WebhookConfig(os.Getenv("INTERCOM_CLIENT_SECRET")))
	http.Handle("/webhooks/intercom", wh)
	// README end
	_, _ = rep, segs
	return err
}

var _ = readmeEmbedding

// TestREADMEEmbedding fails when the README's "Embedding it" snippet and
// readmeEmbedding differ, so the README cannot drift from code that
// compiles.
func TestREADMEEmbedding(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Embedding it\n")
	if !ok {
		t.Fatal(`README.md has no "## Embedding it" section`)
	}
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal(`README.md: no go code block in "Embedding it"`)
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal(`README.md: unterminated code block in "Embedding it"`)
	}

	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, code, _ := strings.Cut(string(src), "\t// README begin\n")
	code, _, _ = strings.Cut(code, "\t// README end\n")
	var want []string
	for _, line := range strings.Split(strings.TrimSuffix(code, "\n"), "\n") {
		want = append(want, strings.TrimPrefix(line, "\t"))
	}
	got := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("README.md, line %d of the \"Embedding it\" snippet differs from readmeEmbedding in distribution/readme_test.go:\nREADME: %q\ncode:   %q\n(update both: the code compiles against the current API)", i+1, g, w)
		}
	}
}
