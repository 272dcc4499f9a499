package distribution_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codedrop/codedrop/distribution"
)

// TestTemplateErrorFields: every call that validates templates returns a
// *TemplateError naming the field and the position, with the message text
// of before (the field, then the position).
func TestTemplateErrorFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.customer(e.intercomCustomer("u1", "Ann", "ann@example.com"))
	ok := e.create(distribution.Distribution{Name: "ok", Audience: distribution.Audience{CustomerID: c.ID},
		Channels: []distribution.ChannelMessage{{Channel: distribution.IntercomInApp, Body: "hi"}}})
	bad := []distribution.ChannelMessage{
		{Channel: distribution.IntercomInApp, Body: "fine"},
		{Channel: distribution.IntercomEmail, Subject: "Hi {{customer.name}", Body: "x"},
	}
	want := &distribution.TemplateError{Field: "channels[1].subject", Pos: 3, Line: 1, Col: 4, Msg: "unclosed {{ (no matching }})"}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"create", func() error {
			_, err := e.m.CreateDistribution(e.ctx, distribution.Distribution{Name: "bad", Audience: ok.Audience, Channels: bad})
			return err
		}},
		{"update", func() error {
			d := ok
			d.Channels = bad
			_, err := e.m.UpdateDistribution(e.ctx, d)
			return err
		}},
	} {
		err := tc.call()
		var te *distribution.TemplateError
		if !errors.As(err, &te) {
			t.Fatalf("%s: %v, want a *TemplateError", tc.name, err)
		}
		if !errors.Is(err, distribution.ErrInvalid) {
			t.Errorf("%s: %v does not match ErrInvalid", tc.name, err)
		}
		if diff := cmp.Diff(want, te); diff != "" {
			t.Errorf("%s: TemplateError (-want +got):\n%s", tc.name, diff)
		}
	}
	if got := want.Error(); got != "channels[1].subject: line 1, column 4: unclosed {{ (no matching }})" {
		t.Errorf("Error() = %q", got)
	}
	withTag := &distribution.TemplateError{Line: 2, Col: 5, Tag: "x.y", Msg: "unknown tag"}
	if got := withTag.Error(); got != "line 2, column 5: unknown tag in {{x.y}}" {
		t.Errorf("Error() without a field = %q", got)
	}
}
