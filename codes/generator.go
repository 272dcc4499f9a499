package codes

import (
	"crypto/rand"
	"fmt"
	"io"
	"unicode/utf8"
)

// Generator makes the codes of one [CodeConfig]: random ones, and for a
// small code space every one in turn. It is the one generator of codedrop:
// [Memory] and store/postgres both use it, so both find every free code of
// a small space before they report [ErrNoCodesLeft], and both give up on a
// large one at the same point.
//
// A search for one new code tries the codes of [Generator.Candidates] in
// order: up to 48 random codes, then, when the space holds at most 65,536
// codes, every code of the space once, from a random start. A source that
// checks every candidate therefore uses a small space to its last code. A
// larger space is reported exhausted after 48 random codes in a row are
// taken; with the headroom CreateCampaign keeps (a pool uses at most half
// of its space), that happens by chance with probability below 4e-15.
//
// Create one with [NewGenerator]. A Generator is immutable and safe for
// concurrent use.
type Generator struct {
	cfg      CodeConfig // normalized: Charset and Length or Pattern filled in
	chars    []rune     // the character set
	pattern  []rune     // the random part; slotRune marks a random character
	slots    int        // number of random characters
	capacity uint64     // len(chars)^slots, saturated
	maxBytes int        // upper bound of a code's length in bytes
	field    string     // the field that sizes the space: "code.pattern" or "code.length"
}

const (
	// randomDraws is how many random candidates a search tries before it
	// scans (small spaces) or gives up (large ones). With the creation
	// rule capacity >= 2*count, a draw collides with probability at most
	// 1/2 while a pool is generated, so 48 collisions in a row
	// (p < 4e-15) mean the space is shared with other campaigns or used up.
	randomDraws = 48
	// scanLimit is the largest space that is searched exhaustively when
	// random draws fail, so that small spaces are used to the last code.
	scanLimit = 1 << 16
)

// Config returns the normalized config: Charset and Length (or Pattern)
// filled in with their defaults, Length zero when Pattern is set.
func (g *Generator) Config() CodeConfig { return g.cfg }

// Capacity returns how many distinct codes the generator can make (see
// [CodeConfig.Capacity]).
func (g *Generator) Capacity() uint64 { return g.capacity }

// String describes the code space for error messages, e.g. `pattern
// "WELCOME-####" (4 random characters from a charset of 62)`.
func (g *Generator) String() string {
	sz := len(g.chars)
	if g.field == "code.pattern" {
		return fmt.Sprintf("pattern %q (%d random characters from a charset of %d)", g.cfg.Pattern, g.slots, sz)
	}
	return fmt.Sprintf("length %d (charset of %d characters)", g.cfg.Length, sz)
}

// Candidates starts a search for one new code: the returned sequence
// yields the codes to try, in order (see [Generator]). Random characters
// come from r, read through a buffer; nil means crypto/rand.Reader.
//
// A source whose check is cheap calls [Generator.Find]; a database checks
// the candidates in batches (e.g. code = ANY($1)) and reports
// [Candidates.Exhausted] when none was free.
func (g *Generator) Candidates(r io.Reader) *Candidates {
	c := g.candidates(newRandBytes(r))
	return &c
}

func (g *Generator) candidates(rb *randBytes) Candidates {
	return Candidates{g: g, rnd: rb}
}

// Candidates is one search for a free code of a [Generator]'s space: up
// to 48 random codes, then, for a space of at most 65,536 codes, every code
// of the space once from a random start. A random code may repeat an
// earlier candidate. Make one with [Generator.Candidates]; it is not safe
// for concurrent use.
type Candidates struct {
	g       *Generator
	rnd     *randBytes
	drawn   int    // random candidates returned
	start   uint64 // first code of the scan
	scanned uint64 // scan candidates returned
}

// Next returns up to n further candidates: n of them, fewer at the end of
// the sequence, none after it. It fails only when reading random bytes
// fails.
func (c *Candidates) Next(n int) ([]string, error) {
	var out []string
	for len(out) < n {
		code, ok, err := c.next()
		if err != nil {
			return out, err
		}
		if !ok {
			break
		}
		out = append(out, code)
	}
	return out, nil
}

// next returns the next candidate; false at the end of the sequence.
func (c *Candidates) next() (string, bool, error) {
	g := c.g
	if c.drawn < randomDraws {
		code, err := g.random(c.rnd)
		if err != nil {
			return "", false, err
		}
		c.drawn++
		return code, true, nil
	}
	if g.capacity > scanLimit || c.scanned == g.capacity {
		return "", false, nil
	}
	if c.scanned == 0 {
		start, err := c.rnd.intn(int(g.capacity))
		if err != nil {
			return "", false, err
		}
		c.start = uint64(start)
	}
	code := g.at((c.start + c.scanned) % g.capacity)
	c.scanned++
	return code, true, nil
}

// Exhausted returns the error a source reports when no candidate of the
// whole sequence was free. It wraps [ErrNoCodesLeft] and says whether the
// space was scanned to the last code ("all 10 codes of the space are
// taken") or only sampled ("48 random codes in a row already exist: the
// space of ... codes is nearly exhausted").
func (c *Candidates) Exhausted() error {
	if c.g.capacity <= scanLimit && c.scanned == c.g.capacity {
		return fmt.Errorf("all %d codes of the space are taken: %w", c.g.capacity, ErrNoCodesLeft)
	}
	return fmt.Errorf("%d random codes in a row already exist: the space of %d codes is nearly exhausted: %w", c.drawn, c.g.capacity, ErrNoCodesLeft)
}

// Find returns the first candidate of a new search (see
// [Generator.Candidates]) for which taken reports false. When every
// candidate is taken it returns [Candidates.Exhausted]'s error, wrapping
// [ErrNoCodesLeft]. r is the random source as for Candidates.
func (g *Generator) Find(r io.Reader, taken func(code string) bool) (string, error) {
	return g.find(newRandBytes(r), taken)
}

func (g *Generator) find(rb *randBytes, taken func(string) bool) (string, error) {
	c := g.candidates(rb)
	for {
		code, ok, err := c.next()
		if err != nil {
			return "", err
		}
		if !ok {
			return "", c.Exhausted()
		}
		if !taken(code) {
			return code, nil
		}
	}
}

// FindN returns n distinct codes for which taken reports false, each
// found by a search of its own (see [Generator.Find]), for a pool of
// codes generated at once. When a search fails it returns the codes found
// so far and the error (wrapping [ErrNoCodesLeft] when the space has no
// free code left).
func (g *Generator) FindN(r io.Reader, n int, taken func(code string) bool) ([]string, error) {
	return g.findN(newRandBytes(r), n, taken)
}

func (g *Generator) findN(rb *randBytes, n int, taken func(string) bool) ([]string, error) {
	out := make([]string, 0, n)
	picked := make(map[string]struct{}, n)
	used := func(code string) bool {
		if _, ok := picked[code]; ok {
			return true
		}
		return taken(code)
	}
	for range n {
		code, err := g.find(rb, used)
		if err != nil {
			return out, err
		}
		picked[code] = struct{}{}
		out = append(out, code)
	}
	return out, nil
}

// random returns a code with random characters drawn from rnd.
func (g *Generator) random(rnd *randBytes) (string, error) {
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
// characters are the digits of i in base len(chars), most significant first.
func (g *Generator) at(i uint64) string {
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

// randBytes draws uniform integers from a buffered io.Reader. It is not safe
// for concurrent use; Memory guards its own with its mutex.
type randBytes struct {
	r   io.Reader
	buf [256]byte
	pos int
}

// newRandBytes buffers r (crypto/rand.Reader when nil).
func newRandBytes(r io.Reader) *randBytes {
	if r == nil {
		r = rand.Reader
	}
	return &randBytes{r: r, pos: len(randBytes{}.buf)}
}

func (rb *randBytes) byte() (byte, error) {
	if rb.pos == len(rb.buf) {
		if _, err := io.ReadFull(rb.r, rb.buf[:]); err != nil {
			return 0, fmt.Errorf("codes: reading random bytes: %w", err)
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
