package customer

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // time zone names resolve without system tzdata
	"unicode/utf8"
)

func TestCustomerValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		c     Customer
		field string // "" when valid
	}{
		{"empty", Customer{}, ""},
		{"full", Customer{ID: "cust_abc", SourceID: "u1", Name: "Ann", Email: "ann.smith+tag@mail.example.co.uk", Timezone: "Europe/Warsaw",
			Birthdate: Date{2000, time.February, 29}, Description: "line\nline\ttab", Metadata: Metadata{"k": 1.0},
			Consents: Consents{Status: map[string]ConsentStatus{"cnst_1": {Granted: true}}}}, ""},
		{"UTC zone", Customer{Timezone: "UTC"}, ""},
		{"unicode email", Customer{Email: "zażółć@przykład.pl"}, ""},
		{"id prefix", Customer{ID: "seg_abc"}, "id"},
		{"id prefix only", Customer{ID: "cust_"}, "id"},
		{"email no at", Customer{Email: "ann.example.com"}, "email"},
		{"email no domain", Customer{Email: "ann@"}, "email"},
		{"email no local", Customer{Email: "@example.com"}, "email"},
		{"email bare host", Customer{Email: "ann@localhost"}, "email"},
		{"email display name", Customer{Email: "Ann <ann@example.com>"}, "email"},
		{"email space", Customer{Email: "ann smith@example.com"}, "email"},
		{"email double dot", Customer{Email: "ann..s@example.com"}, "email"},
		{"email bad label", Customer{Email: "ann@-example.com"}, "email"},
		{"birthdate", Customer{Birthdate: Date{2001, time.February, 29}}, "birthdate"},
		{"birthdate month", Customer{Birthdate: Date{2001, 13, 1}}, "birthdate"},
		{"timezone", Customer{Timezone: "Mars/Olympus"}, "timezone"},
		{"timezone Local", Customer{Timezone: "Local"}, "timezone"},
		{"name control", Customer{Name: "Ann\x00"}, "name"},
		{"name newline", Customer{Name: "Ann\nSmith"}, "name"},
		{"city invalid utf8", Customer{Address: Address{City: "\xff"}}, "address.city"},
		{"empty metadata key", Customer{Metadata: Metadata{" ": 1.0}}, "metadata"},
		{"empty consent id", Customer{Consents: Consents{Status: map[string]ConsentStatus{"": {}}}}, "consents.status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want a *FieldError for %s wrapping ErrInvalid", err, tt.field)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]Date{
		"2022-07-03": {2022, time.July, 3},
		"2000-02-29": {2000, time.February, 29},
		"0001-01-01": {1, time.January, 1},
	} {
		if got, err := ParseDate(s); err != nil || got != want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "2022-7-03", "2022-07-3", "2022/07/03", "1900-02-29", "2022-00-10", "2022-12-32", "+022-07-03", "2022-07-03T00:00:00Z", "２０２２-07-03"} {
		if _, err := ParseDate(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseDate(%q) error = %v, want ErrInvalid", s, err)
		}
	}
}

// TestBadTextFastPath puts every byte value at every position of texts
// long enough for the eight-byte fast path, and compares with a plain
// byte-by-byte check.
func TestBadTextFastPath(t *testing.T) {
	slow := func(s string, multiline bool) bool { // true when acceptable
		if !utf8.ValidString(s) {
			return false
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f {
				if !multiline || (r != '\n' && r != '\r' && r != '\t') {
					return false
				}
			}
		}
		return true
	}
	base := []byte("abcdefghijklmnopqrstuvwxyz ~!") // 29 bytes: three words and a tail
	for pos := range base {
		for b := range 256 {
			s := []byte(string(base))
			s[pos] = byte(b)
			for _, multiline := range []bool{false, true} {
				if got, want := badText(string(s), multiline) == "", slow(string(s), multiline); got != want {
					t.Fatalf("badText(%q, %v) ok = %v, want %v", s, multiline, got, want)
				}
			}
		}
	}
	// Valid multi-byte UTF-8 across a word boundary.
	if r := badText("abcdefgżółćabcdefgh", false); r != "" {
		t.Errorf("badText(Polish text) = %q, want ok", r)
	}
}
