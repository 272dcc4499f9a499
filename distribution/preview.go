package distribution

import (
	"context"
	"fmt"
	"strings"
)

// Rendered is one channel's message as a customer would get it.
type Rendered struct {
	Channel string
	Subject string
	Body    string
	// Skip is why the customer would be skipped on this channel (a
	// missing consent, no email...), or "".
	Skip string
}

// Preview renders every channel of distribution id for the customer with
// customerID (an id or source_id) without publishing a code or sending
// anything: {{voucher.code}} shows a placeholder in the campaign's format
// (such as "WELCOME-XXXX") or PreviewCode. Skip says whether the
// customer would be skipped and why.
func (m *Manager) Preview(ctx context.Context, distributionID, customerID string) ([]Rendered, error) {
	d, err := m.store.GetDistribution(ctx, distributionID)
	if err != nil {
		return nil, err
	}
	c, err := m.store.GetCustomer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	tpl, err := compileChannels(&d)
	if err != nil {
		return nil, err
	}
	data := renderData{c: &c, distName: d.Name}
	if d.Campaign != "" {
		data.code = PreviewCode
		if m.campaignLookup != nil {
			if camp, err := m.campaignLookup.Campaign(ctx, d.Campaign); err == nil {
				data.code, data.campaignName = placeholderCode(camp.Code), camp.Name
			}
		}
	}
	consent := d.Consents.Check(&c)
	out := make([]Rendered, len(d.Channels))
	for i, cm := range d.Channels {
		ch := m.channels[cm.Channel]
		if ch == nil {
			return nil, fmt.Errorf("distribution %s: channels[%d]: %q: %w", d.ID, i, cm.Channel, ErrChannelNotFound)
		}
		out[i].Channel = cm.Channel
		out[i].Subject, out[i].Body = tpl[i].render(&data, escapesHTML(ch))
		out[i].Skip = consent
		if chk, ok := ch.(Checker); ok && consent == "" {
			reason, err := chk.Check(ctx, &c)
			if err != nil {
				reason = "would fail: " + err.Error()
			}
			out[i].Skip = reason
		}
	}
	return out, nil
}

// placeholderCode shows a code's shape with X for the random characters.
func placeholderCode(c CodeConfig) string {
	random := c.Pattern
	if random == "" {
		n := c.Length
		if n == 0 {
			n = DefaultCodeLength
		}
		random = strings.Repeat("#", n)
	}
	return c.Prefix + strings.ReplaceAll(random, "#", "X") + c.Postfix
}
