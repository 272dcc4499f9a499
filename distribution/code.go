package distribution

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/codedrop/codedrop/internal/errs"
)

// ErrNoCodesLeft reports that a campaign cannot publish another code: its
// fixed pool is exhausted, or the code space of an auto-update campaign is
// (nearly) used up. A distribution that meets it stops sending and records
// "no codes left" for the remaining recipients.
var ErrNoCodesLeft = errors.New("distribution: no codes left")

// CodeSource publishes codes to customers. A host plugs its own coupon system
// (or Voucherify's publications API) in by implementing it; [Campaigns] is the
// in-memory default.
//
// Implementations must be safe for concurrent use.
type CodeSource interface {
	// Publish assigns one code to req.CustomerID. It is idempotent by
	// req.Key: the same key returns the same Publication (and never
	// consumes a second code), even after a restart for durable sources.
	//
	// Errors: ErrNoCodesLeft (errors.Is) when a pool is exhausted;
	// ErrNotFound for an unknown campaign; ErrInvalid for a request missing
	// Key, CampaignID or CustomerID; ErrConflict when Key was already used
	// for another campaign or customer.
	Publish(ctx context.Context, req PublishRequest) (Publication, error)
}

// PublishRequest asks a [CodeSource] for one code for one customer.
type PublishRequest struct {
	// Key makes Publish idempotent, e.g. distribution id + customer id +
	// trigger key. Required.
	Key string
	// CampaignID is the campaign to take the code from. Required.
	// [Campaigns] also accepts the campaign's unique name.
	CampaignID string
	// CustomerID receives the code. Required.
	CustomerID string
	// DistributionID is the distribution publishing the code (empty for a
	// publication made outside a distribution).
	DistributionID string
	// Channel is the channel the code is sent through; it may be empty for a
	// send through several channels.
	Channel string
	// Metadata is optional and stored with the publication.
	Metadata map[string]any
}

// Publication records that a code was assigned to a customer.
type Publication struct {
	ID             string // "pub_..."
	Key            string // the PublishRequest.Key that created it
	CampaignID     string
	CampaignName   string
	Code           string
	CustomerID     string
	DistributionID string
	Channel        string
	Metadata       map[string]any
	CreatedAt      time.Time
}

// Names of the built-in character sets for [CodeConfig.Charset], as in
// Voucherify's code_config.
const (
	CharsetAlphanumeric = "alphanumeric" // 0-9, a-z, A-Z (62 characters)
	CharsetAlphabetic   = "alphabetic"   // a-z, A-Z (52 characters)
	CharsetLowercase    = "lowercase"    // a-z
	CharsetUppercase    = "uppercase"    // A-Z
	CharsetNumbers      = "numbers"      // 0-9
)

const (
	charsetDigits = "0123456789"
	charsetLower  = "abcdefghijklmnopqrstuvwxyz"
	charsetUpper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

	// DefaultCodeLength is the number of random characters of a code whose
	// CodeConfig sets neither Length nor Pattern.
	DefaultCodeLength = 8
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
// math.MaxUint64. It fails like CreateCampaign on an invalid config.
func (c CodeConfig) Capacity() (uint64, error) {
	g, err := compileCode(c)
	if err != nil {
		return 0, err
	}
	return g.capacity, nil
}

// codeGen is a compiled CodeConfig.
type codeGen struct {
	cfg      CodeConfig // normalized: Charset and Length or Pattern filled in
	chars    []rune     // the character set
	pattern  []rune     // the random part; slotRune marks a random character
	slots    int        // number of random characters
	capacity uint64     // len(chars)^slots, saturated
	maxBytes int        // charsetUpper bound of a code's length in bytes
	field    string     // the field that sizes the space: "code.pattern" or "code.length"
}

const slotRune = '#'

// compileCode validates cfg and returns its generator. Errors wrap
// errs.Invalid and name the field.
func compileCode(cfg CodeConfig) (*codeGen, error) {
	g := &codeGen{}
	if cfg.Charset == "" {
		cfg.Charset = CharsetAlphanumeric
	}
	set, named := charsets[cfg.Charset]
	if !named {
		set = cfg.Charset
		for name := range charsets {
			if strings.EqualFold(set, name) {
				return nil, fmt.Errorf("code.charset: %q is not a charset name; did you mean %q? (names are lowercase): %w", set, name, errs.Invalid)
			}
		}
		if !utf8.ValidString(set) {
			return nil, fmt.Errorf("code.charset: not valid UTF-8: %w", errs.Invalid)
		}
		seen := make(map[rune]int, len(set))
		i := 0
		for _, r := range set {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				return nil, fmt.Errorf("code.charset: character %d is a space or control character (%q): %w", i+1, r, errs.Invalid)
			}
			if j, dup := seen[r]; dup {
				return nil, fmt.Errorf("code.charset: character %d (%q) repeats character %d: %w", i+1, r, j+1, errs.Invalid)
			}
			seen[r] = i
			i++
		}
		if i < 2 {
			return nil, fmt.Errorf("code.charset: %q is neither a charset name (alphanumeric, alphabetic, lowercase, uppercase, numbers) nor a custom set of at least 2 characters: %w", set, errs.Invalid)
		}
		if i > maxCharset {
			return nil, fmt.Errorf("code.charset: a custom set has %d characters, at most %d allowed: %w", i, maxCharset, errs.Invalid)
		}
	}
	g.chars = []rune(set)
	for _, f := range []struct{ name, v string }{{"code.prefix", cfg.Prefix}, {"code.postfix", cfg.Postfix}, {"code.pattern", cfg.Pattern}} {
		if !utf8.ValidString(f.v) {
			return nil, fmt.Errorf("%s: not valid UTF-8: %w", f.name, errs.Invalid)
		}
		if i := strings.IndexFunc(f.v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
			return nil, fmt.Errorf("%s: %q contains a space or control character at byte %d: %w", f.name, f.v, i, errs.Invalid)
		}
	}
	if cfg.Length < 0 {
		return nil, fmt.Errorf("code.length: %d is negative: %w", cfg.Length, errs.Invalid)
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
			return nil, fmt.Errorf("code.length: %d exceeds %d: %w", cfg.Length, maxCodeLen, errs.Invalid)
		}
		g.pattern = []rune(strings.Repeat(string(slotRune), cfg.Length))
	}
	for _, r := range g.pattern {
		if r == slotRune {
			g.slots++
		}
	}
	if g.slots == 0 {
		return nil, fmt.Errorf("code.pattern: %q has no # to replace with a random character: %w", cfg.Pattern, errs.Invalid)
	}
	if n := utf8.RuneCountInString(cfg.Prefix) + len(g.pattern) + utf8.RuneCountInString(cfg.Postfix); n > maxCodeLen {
		return nil, fmt.Errorf("%s: codes would be %d characters long, at most %d allowed (prefix, random part and postfix): %w", g.field, n, maxCodeLen, errs.Invalid)
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

// random returns a code with random characters drawn from rnd.
func (g *codeGen) random(rnd *randBytes) (string, error) {
	buf := make([]byte, 0, g.maxBytes)
	buf = append(buf, g.cfg.Prefix...)
	n := len(g.chars)
	for _, r := range g.pattern {
		if r != slotRune {
			buf = utf8.AppendRune(buf, r)
			continue
		}
		i, err := rnd.intn(n)
		if err != nil {
			return "", err
		}
		buf = utf8.AppendRune(buf, g.chars[i])
	}
	buf = append(buf, g.cfg.Postfix...)
	return string(buf), nil
}

// at returns the code number i of the space, i < g.capacity: the random
// characters are the charsetDigits of i in base len(chars), most significant first.
func (g *codeGen) at(i uint64) string {
	idx := make([]int, g.slots)
	n := uint64(len(g.chars))
	for k := g.slots - 1; k >= 0; k-- {
		idx[k] = int(i % n)
		i /= n
	}
	buf := make([]byte, 0, g.maxBytes)
	buf = append(buf, g.cfg.Prefix...)
	k := 0
	for _, r := range g.pattern {
		if r != slotRune {
			buf = utf8.AppendRune(buf, r)
			continue
		}
		buf = utf8.AppendRune(buf, g.chars[idx[k]])
		k++
	}
	buf = append(buf, g.cfg.Postfix...)
	return string(buf)
}

const (
	// randomAttempts bounds the random draws for one new code. With the
	// creation rule capacity >= 2*count, a draw collides with probability
	// at most 1/2 while a pool is generated, so 48 collisions in a row
	// (p < 4e-15) mean the space is shared with other campaigns or used up.
	randomAttempts = 48
	// scanLimit is the largest space that is searched exhaustively when
	// random draws fail, so that small spaces are used to the last code.
	scanLimit = 1 << 16
)

// next returns a code of g's space for which taken reports false. It draws at
// most randomAttempts random codes; a space of at most scanLimit codes is
// then scanned from a random start, so the result is exact (it fails only
// when every code is taken). Failure wraps ErrNoCodesLeft.
func (g *codeGen) next(rnd *randBytes, taken func(string) bool) (string, error) {
	for range randomAttempts {
		code, err := g.random(rnd)
		if err != nil {
			return "", err
		}
		if !taken(code) {
			return code, nil
		}
	}
	if g.capacity > scanLimit {
		return "", fmt.Errorf("%d random codes in a row already exist: the space of %d codes is nearly exhausted: %w", randomAttempts, g.capacity, ErrNoCodesLeft)
	}
	start, err := rnd.intn(int(g.capacity))
	if err != nil {
		return "", err
	}
	for k := range g.capacity {
		code := g.at((uint64(start) + k) % g.capacity)
		if !taken(code) {
			return code, nil
		}
	}
	return "", fmt.Errorf("all %d codes of the space are taken: %w", g.capacity, ErrNoCodesLeft)
}

// randBytes draws uniform integers from a buffered io.Reader. It is not safe
// for concurrent use; Campaigns guards it with its mutex.
type randBytes struct {
	r   io.Reader
	buf [256]byte
	pos int
}

func newRandBytes(r io.Reader) *randBytes {
	return &randBytes{r: r, pos: len(randBytes{}.buf)}
}

func (rb *randBytes) byte() (byte, error) {
	if rb.pos == len(rb.buf) {
		if _, err := io.ReadFull(rb.r, rb.buf[:]); err != nil {
			return 0, fmt.Errorf("distribution: reading random bytes: %w", err)
		}
		rb.pos = 0
	}
	b := rb.buf[rb.pos]
	rb.pos++
	return b, nil
}

// intn returns a uniform integer in [0, n), n >= 1, by rejection sampling
// (no modulo bias).
func (rb *randBytes) intn(n int) (int, error) {
	if n <= 1 {
		return 0, nil
	}
	// Number of random bytes needed and the largest multiple of n below 256^k.
	k := 1
	span := uint64(256)
	for span < uint64(n) {
		k++
		span <<= 8
	}
	limit := span - span%uint64(n)
	for {
		var v uint64
		for range k {
			b, err := rb.byte()
			if err != nil {
				return 0, err
			}
			v = v<<8 | uint64(b)
		}
		if v < limit {
			return int(v % uint64(n)), nil
		}
	}
}
