package distribution

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/internal/tmpl"
)

// PreviewCode stands in for {{voucher.code}} in a preview of a campaign
// whose code format is unknown (a host's own CodeSource).
const PreviewCode = "PREVIEW-CODE"

// Template tags every distribution may use. Tags needing a campaign
// ("voucher.code", "campaign.name") are rejected on a distribution without
// one.
var baseTags = tmpl.Allow(
	"customer.id", "customer.source_id", "customer.name", "customer.email", "customer.phone",
	"customer.metadata.*",
	"voucher.code", "campaign.name",
	"distribution.name",
)

// campaignTags need Distribution.Campaign.
var campaignTags = map[string]bool{"voucher.code": true, "campaign.name": true}

// knownTags returns the tag check for d's templates: the base tags plus
// those of d's trigger's event (such as "order.id" for order events; see
// eventKinds).
func knownTags(d *Distribution) func(string) bool {
	extra := eventKinds[d.Trigger.Event].tags
	return func(path string) bool {
		if baseTags(path) {
			return true
		}
		for _, t := range extra {
			if t == path {
				return true
			}
		}
		return false
	}
}

// compiled is a channel's parsed templates.
type compiled struct {
	subject, body *tmpl.Template
}

// compileChannels parses every channel's templates; errors name the field
// ("channels[1].body: line 1, column 7: unknown tag in {{x}}") and wrap
// ErrInvalid (and *TemplateError for errors.As).
func compileChannels(d *Distribution) ([]compiled, error) {
	known := knownTags(d)
	out := make([]compiled, len(d.Channels))
	for i, ch := range d.Channels {
		for _, f := range []struct {
			name string
			src  string
			dst  **tmpl.Template
		}{{"subject", ch.Subject, &out[i].subject}, {"body", ch.Body, &out[i].body}} {
			t, err := tmpl.Parse(f.src, known)
			if err != nil {
				return nil, templateError(fmt.Sprintf("channels[%d].%s", i, f.name), err)
			}
			if d.Campaign == "" && !eventKinds[d.Trigger.Event].voucher {
				for _, tag := range t.Tags() {
					if campaignTags[tag] {
						return nil, fmt.Errorf("channels[%d].%s: {{%s}} needs a campaign (set campaign): %w", i, f.name, tag, ErrInvalid)
					}
				}
			}
			*f.dst = t
		}
	}
	return out, nil
}

// renderData is what tags resolve to for one recipient.
type renderData struct {
	c            *customer.Customer
	code         string
	campaignName string
	distName     string
	// extra resolves the tags of an automatic delivery's event; nil for
	// manual sends.
	extra func(path string) (string, bool)
}

func (r *renderData) lookup(path string) (string, bool) {
	switch path {
	case "customer.id":
		return r.c.ID, true
	case "customer.source_id":
		return r.c.SourceID, true
	case "customer.name":
		return r.c.Name, true
	case "customer.email":
		return r.c.Email, true
	case "customer.phone":
		return r.c.Phone, true
	case "voucher.code":
		return r.code, true
	case "campaign.name":
		return r.campaignName, true
	case "distribution.name":
		return r.distName, true
	}
	if key, ok := strings.CutPrefix(path, "customer.metadata."); ok {
		v, ok := r.c.Metadata[key]
		if !ok || v == nil {
			return "", false
		}
		return metadataString(v), true
	}
	if r.extra != nil {
		return r.extra(path)
	}
	return "", false
}

// metadataString formats a metadata value for a message.
func metadataString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case customer.Date:
		return v.String()
	case time.Time:
		return v.Format(time.RFC3339)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = metadataString(e)
		}
		return strings.Join(parts, ", ")
	case fmt.Stringer:
		return v.String()
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

// rendered is one channel's message for one recipient.
func (c compiled) render(r *renderData, escapeBody bool) (subject, body string) {
	if c.subject != nil {
		subject = c.subject.String(r.lookup, false)
	}
	return subject, c.body.String(r.lookup, escapeBody)
}

// TemplateError reports a syntax error or an unknown tag in one of a
// distribution's templates, with its position. CreateDistribution,
// UpdateDistribution and every other call that validates templates return
// it (wrapped); read it with errors.As:
//
//	var te *distribution.TemplateError
//	if errors.As(err, &te) {
//		// highlight te.Field at te.Line, te.Col
//	}
//
// It wraps ErrInvalid.
type TemplateError struct {
	// Field names the template: "channels[1].body" or
	// "channels[0].subject".
	Field string
	// Pos is the byte offset of the offending tag or character in the
	// template.
	Pos int
	// Line is the 1-based line of Pos.
	Line int
	// Col is the 1-based column of Pos, counted in characters.
	Col int
	// Tag is the text of the offending tag between its braces, trimmed;
	// empty when the error is not in a tag (an unclosed "{{").
	Tag string
	// Msg says what is wrong: "unknown tag", "unclosed {{"...
	Msg string
}

// Error returns "channels[0].body: line 1, column 4: unknown tag in
// {{customer.nam}}" (without the field when Field is empty, the tag part
// when Tag is).
func (e *TemplateError) Error() string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	fmt.Fprintf(&b, "line %d, column %d: %s", e.Line, e.Col, e.Msg)
	if e.Tag != "" {
		b.WriteString(" in {{" + e.Tag + "}}")
	}
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *TemplateError) Unwrap() error { return ErrInvalid }

// templateError names field in err, a tmpl.Parse error, as a
// *TemplateError when it is one.
func templateError(field string, err error) error {
	var te *tmpl.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", field, err)
	}
	return &TemplateError{Field: field, Pos: te.Pos, Line: te.Line, Col: te.Col, Tag: te.Tag, Msg: te.Msg}
}
