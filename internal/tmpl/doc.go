// Package tmpl renders message bodies with merge tags as Voucherify writes
// them:
//
//	Hi {{customer.name | default: "there"}}, your code is {{voucher.code}}.
//
// A template is compiled once with [Parse], which rejects syntax errors and
// tags the caller does not know (the set of tags is the caller's: customer
// fields, the code, the campaign, the distribution, and the event that
// triggered a send). [Template.Execute] then renders it once per recipient
// without re-parsing; values are HTML-escaped on request (email and Intercom
// bodies are HTML), literal text never is.
//
// Errors are [*Error] with the byte offset, line and column:
//
//	t, err := tmpl.Parse(body, tmpl.Allow("customer.name", "customer.metadata.*", "voucher.code"))
//	var te *tmpl.Error
//	if errors.As(err, &te) {
//		log.Printf("body, line %d column %d: %s", te.Line, te.Col, te.Msg)
//	}
package tmpl
