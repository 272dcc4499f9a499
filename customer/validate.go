package customer

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldError reports a customer field that fails validation. It wraps
// ErrInvalid.
type FieldError struct {
	// Field is the field's JSON path: "email", "address.city",
	// "metadata.tier", "consents.status".
	Field  string
	Value  any    // the offending value
	Reason string // readable, such as `"ann@" is not an email address`
}

// Error returns "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Validate checks the shape of c's fields and returns the first problem as
// a [*FieldError] (nil when there is none):
//
//   - ID, when set, starts with "cust_";
//   - text fields are valid UTF-8 without control characters (Description
//     may hold line breaks and tabs);
//   - Email, when set, is a bare address (local@domain, no display name);
//   - Birthdate, when set, is a real calendar date;
//   - Timezone, when set, is an IANA zone name known to the system (or to
//     time/tzdata when the program imports it); "Local" is refused;
//   - metadata keys and consent ids are not empty.
//
// Metadata values are checked by [Schema.Validate], which knows their types.
func (c *Customer) Validate() error { return c.validate(knownZone, true) }

// knownZone reports whether name is an IANA zone name time can load.
func knownZone(name string) bool {
	_, err := time.LoadLocation(name)
	return err == nil && name != "Local"
}

// validate is Validate with a pluggable (cacheable) time zone check;
// metadata keys are checked when checkKeys (an import checks its columns
// once instead).
func (c *Customer) validate(zoneOK func(string) bool, checkKeys bool) error {
	if c.ID != "" && (!strings.HasPrefix(c.ID, IDPrefix+"_") || len(c.ID) == len(IDPrefix)+1) {
		return &FieldError{Field: "id", Value: c.ID, Reason: fmt.Sprintf("%q is not a customer id (want %s_...)", c.ID, IDPrefix)}
	}
	texts := [...]struct {
		field     string
		v         string
		multiline bool
	}{
		{"id", c.ID, false},
		{"source_id", c.SourceID, false},
		{"name", c.Name, false},
		{"email", c.Email, false},
		{"phone", c.Phone, false},
		{"description", c.Description, true},
		{"address.line_1", c.Address.Line1, false},
		{"address.line_2", c.Address.Line2, false},
		{"address.city", c.Address.City, false},
		{"address.state", c.Address.State, false},
		{"address.postal_code", c.Address.PostalCode, false},
		{"address.country", c.Address.Country, false},
		{"timezone", c.Timezone, false},
	}
	for _, t := range texts {
		if reason := badText(t.v, t.multiline); reason != "" {
			return &FieldError{Field: t.field, Value: t.v, Reason: reason}
		}
	}
	if c.Email != "" && !isEmail(c.Email) {
		return &FieldError{Field: "email", Value: c.Email, Reason: fmt.Sprintf("%q is not an email address", c.Email)}
	}
	if !c.Birthdate.IsZero() && !c.Birthdate.valid() {
		return &FieldError{Field: "birthdate", Value: c.Birthdate, Reason: fmt.Sprintf("%d-%02d-%02d is not a calendar date", c.Birthdate.Year, c.Birthdate.Month, c.Birthdate.Day)}
	}
	if c.Timezone != "" {
		if !zoneOK(c.Timezone) {
			return &FieldError{Field: "timezone", Value: c.Timezone, Reason: fmt.Sprintf("%q is not an IANA time zone name", c.Timezone)}
		}
	}
	if checkKeys {
		for k := range c.Metadata {
			if strings.TrimSpace(k) == "" {
				return &FieldError{Field: "metadata", Value: k, Reason: "empty metadata key"}
			}
		}
	}
	for k := range c.Consents.Status {
		if strings.TrimSpace(k) == "" {
			return &FieldError{Field: "consents.status", Value: k, Reason: "empty consent id"}
		}
	}
	return nil
}

// badText returns why s is not acceptable text, or "".
func badText(s string, multiline bool) string {
	// Fast path: printable ASCII, eight bytes at a time.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if !printableASCII8(x) {
			break
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f {
			break
		}
	}
	for i < len(s) {
		b := s[i]
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return "invalid UTF-8"
			}
			i += size
			continue
		}
		if b < 0x20 || b == 0x7f {
			if !multiline || (b != '\n' && b != '\r' && b != '\t') {
				return fmt.Sprintf("control character %U", rune(b))
			}
		}
		i++
	}
	return ""
}

// printableASCII8 reports whether the eight bytes of x are all in
// 0x20..0x7e (no control character, DEL or non-ASCII byte).
func printableASCII8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// The classic "has a byte less than n" and "has a zero byte" tricks:
	// exact as yes/no answers, which is all that is needed here.
	below20 := (x - ones*0x20) &^ x
	del := x ^ ones*0x7f // zero bytes where x has 0x7f
	isDel := (del - ones) &^ del
	return (below20|isDel|x)&highs == 0
}

// isEmail reports whether s is a bare address such as ann@example.com: a
// dot-atom local part (RFC 5322, no quoted forms) of at most 64 bytes, and
// a domain of at least two dot-separated labels (letters, digits, hyphens
// or non-ASCII), at most 254 bytes in all.
func isEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > 64 || len(s) > 254 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		ch := local[i]
		if !(isAlnum(ch) || ch >= 0x80 || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", ch) >= 0) {
			return false
		}
	}
	labels := 0
	for rest, more := domain, true; more; {
		var label string
		label, rest, more = strings.Cut(rest, ".")
		labels++
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if ch := label[i]; !(isAlnum(ch) || ch == '-' || ch >= 0x80) {
				return false
			}
		}
	}
	return labels >= 2
}

func isAlnum(ch byte) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9'
}

// valid reports whether d is a real calendar date.
func (d Date) valid() bool {
	if d.Month < time.January || d.Month > time.December || d.Day < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[d.Month-1]
	if d.Month == time.February && d.Year%4 == 0 && (d.Year%100 != 0 || d.Year%400 == 0) {
		days = 29
	}
	return d.Day <= days
}
