package codes

import (
	"fmt"
	"math/bits"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names of the built-in character sets for [CodeConfig.Charset], as in
// Voucherify's code_config.
const (
	CharsetAlphanumeric = "alphanumeric" // 0-9, a-z, A-Z (62 characters)
	CharsetAlphabetic   = "alphabetic"   // a-z, A-Z (52 characters)
	CharsetLowercase    = "lowercase"    // a-z
	CharsetUppercase    = "uppercase"    // A-Z
	CharsetNumbers      = "numbers"      // 0-9
)

// DefaultCodeLength is the number of random characters of a code whose
// CodeConfig sets neither Length nor Pattern.
const DefaultCodeLength = 8

const (
	charsetDigits = "0123456789"
	charsetLower  = "abcdefghijklmnopqrstuvwxyz"
	charsetUpper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

	// maxCharset bounds a custom character set (one random byte picks a
	// character).
	maxCharset = 256
	// maxCodeLen bounds the whole code (prefix, random part and postfix),
	// in characters.
	maxCodeLen = 128
)

var charsets = map[string]string{
	CharsetAlphanumeric: charsetDigits + charsetLower + charsetUpper,
	CharsetAlphabetic:   charsetLower + charsetUpper,
	CharsetLowercase:    charsetLower,
	CharsetUppercase:    charsetUpper,
	CharsetNumbers:      charsetDigits,
}

// CodeConfig describes how a campaign generates codes, like Voucherify's
// code_config. A code is Prefix + random part + Postfix.
//
// Zero values: Charset "" is alphanumeric; with neither Length nor Pattern
// the random part is [DefaultCodeLength] characters.
type CodeConfig struct {
	// Length is the number of random characters (excluding Prefix and
	// Postfix). Ignored when Pattern is set.
	Length int
	// Charset is one of the Charset* names, or any other string: a custom
	// set of distinct characters (at most 256), e.g. "ABCDEFGHJKLMNPQRSTUVWXYZ23456789".
	Charset string
	// Prefix and Postfix are copied literally (a # in them stays a #).
	Prefix, Postfix string
	// Pattern, when set, is the random part: each # is replaced by a random
	// character of Charset, every other character is kept, e.g. "WELCOME-####".
	// It overrides Length.
	Pattern string
}

// Capacity returns how many distinct codes c can produce: the charset size
// to the power of the number of random characters, saturated at
// math.MaxUint64. It fails like [NewGenerator] on an invalid config.
func (c CodeConfig) Capacity() (uint64, error) {
	g, err := NewGenerator(c)
	if err != nil {
		return 0, err
	}
	return g.capacity, nil
}

const slotRune = '#'

// NewGenerator validates cfg and returns its generator. Errors wrap
// [ErrInvalid] and name the field ("code.charset", "code.length",
// "code.pattern", "code.prefix", "code.postfix").
func NewGenerator(cfg CodeConfig) (*Generator, error) {
	g := &Generator{}
	if cfg.Charset == "" {
		cfg.Charset = CharsetAlphanumeric
	}
	set, named := charsets[cfg.Charset]
	if !named {
		set = cfg.Charset
		for name := range charsets {
			if strings.EqualFold(set, name) {
				return nil, fmt.Errorf("code.charset: %q is not a charset name; did you mean %q? (names are lowercase): %w", set, name, ErrInvalid)
			}
		}
		if !utf8.ValidString(set) {
			return nil, fmt.Errorf("code.charset: not valid UTF-8: %w", ErrInvalid)
		}
		seen := make(map[rune]int, len(set))
		i := 0
		for _, r := range set {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				return nil, fmt.Errorf("code.charset: character %d is a space or control character (%q): %w", i+1, r, ErrInvalid)
			}
			if j, dup := seen[r]; dup {
				return nil, fmt.Errorf("code.charset: character %d (%q) repeats character %d: %w", i+1, r, j+1, ErrInvalid)
			}
			seen[r] = i
			i++
		}
		if i < 2 {
			return nil, fmt.Errorf("code.charset: %q is neither a charset name (alphanumeric, alphabetic, lowercase, uppercase, numbers) nor a custom set of at least 2 characters: %w", set, ErrInvalid)
		}
		if i > maxCharset {
			return nil, fmt.Errorf("code.charset: a custom set has %d characters, at most %d allowed: %w", i, maxCharset, ErrInvalid)
		}
	}
	g.chars = []rune(set)
	for _, f := range []struct{ name, v string }{{"code.prefix", cfg.Prefix}, {"code.postfix", cfg.Postfix}, {"code.pattern", cfg.Pattern}} {
		if !utf8.ValidString(f.v) {
			return nil, fmt.Errorf("%s: not valid UTF-8: %w", f.name, ErrInvalid)
		}
		if i := strings.IndexFunc(f.v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
			return nil, fmt.Errorf("%s: %q contains a space or control character at byte %d: %w", f.name, f.v, i, ErrInvalid)
		}
	}
	if cfg.Length < 0 {
		return nil, fmt.Errorf("code.length: %d is negative: %w", cfg.Length, ErrInvalid)
	}
	if cfg.Pattern != "" {
		g.field = "code.pattern"
		g.pattern = []rune(cfg.Pattern)
		cfg.Length = 0 // overridden by Pattern
	} else {
		g.field = "code.length"
		if cfg.Length == 0 {
			cfg.Length = DefaultCodeLength
		}
		if cfg.Length > maxCodeLen {
			return nil, fmt.Errorf("code.length: %d exceeds %d: %w", cfg.Length, maxCodeLen, ErrInvalid)
		}
		g.pattern = []rune(strings.Repeat(string(slotRune), cfg.Length))
	}
	for _, r := range g.pattern {
		if r == slotRune {
			g.slots++
		}
	}
	if g.slots == 0 {
		return nil, fmt.Errorf("code.pattern: %q has no # to replace with a random character: %w", cfg.Pattern, ErrInvalid)
	}
	if n := utf8.RuneCountInString(cfg.Prefix) + len(g.pattern) + utf8.RuneCountInString(cfg.Postfix); n > maxCodeLen {
		return nil, fmt.Errorf("%s: codes would be %d characters long, at most %d allowed (prefix, random part and postfix): %w", g.field, n, maxCodeLen, ErrInvalid)
	}
	g.capacity = powSat(uint64(len(g.chars)), g.slots)
	g.maxBytes = len(cfg.Prefix) + len(cfg.Postfix) + len(string(g.pattern)) + g.slots*(utf8.UTFMax-1)
	g.cfg = cfg
	return g, nil
}

// powSat returns b^e, saturated at math.MaxUint64.
func powSat(b uint64, e int) uint64 {
	r := uint64(1)
	for range e {
		hi, lo := bits.Mul64(r, b)
		if hi != 0 {
			return ^uint64(0)
		}
		r = lo
	}
	return r
}
