package tmpl

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/codedrop/codedrop/internal/errs"
)

// Error reports a syntax error or an unknown tag. It wraps errs.Invalid, so
// errors.Is(err, distribution.ErrInvalid) holds.
type Error struct {
	Pos  int    // byte offset of the offending tag or character in the source
	Line int    // 1-based line of Pos
	Col  int    // 1-based column of Pos, in characters
	Tag  string // the tag's text between the braces, trimmed; empty if not in a tag
	Msg  string // what is wrong
}

// Error returns "line L, column C: msg" and the tag, when there is one.
func (e *Error) Error() string {
	if e.Tag != "" {
		return fmt.Sprintf("line %d, column %d: %s in {{%s}}", e.Line, e.Col, e.Msg, e.Tag)
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// Unwrap returns errs.Invalid.
func (e *Error) Unwrap() error { return errs.Invalid }

// Template is a compiled template. It is immutable and safe for concurrent
// use.
type Template struct {
	src    string
	segs   []segment
	tags   []string
	litLen int // total bytes of literal text
}

// segment is literal text (tag == false) or a merge tag.
type segment struct {
	tag  bool
	text string // literal text, or the tag's path
	def  string // the default of a tag
}

// Parse compiles src. known reports whether a tag path is allowed (e.g.
// "customer.metadata.tier" -> true); nil allows every well-formed path.
//
// Syntax: text with merge tags {{path}} or {{path | default: "text"}}.
// Spaces around the path, the bar and the colon are optional; the default
// is in double or single quotes, where a backslash escapes the next
// character. A path is dot-separated names of letters, digits, '_' and '-'.
// A lone '{' or "}}" outside a tag is literal text; "{{" always starts a tag.
//
// Errors are *Error: an unclosed "{{", a malformed path, an unknown or
// repeated filter, a default without a quoted string, or a path that known
// rejects.
func Parse(src string, known func(path string) bool) (*Template, error) {
	p := parser{src: src, known: known}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return &Template{src: src, segs: p.segs, tags: p.tags, litLen: p.litLen}, nil
}

// MustParse is like Parse but panics on error. It is meant for templates
// fixed in code.
func MustParse(src string, known func(path string) bool) *Template {
	t, err := Parse(src, known)
	if err != nil {
		panic("tmpl: " + err.Error())
	}
	return t
}

// Source returns the text the template was parsed from.
func (t *Template) Source() string { return t.src }

// Tags returns the distinct paths the template uses, in order of first use.
func (t *Template) Tags() []string { return append([]string(nil), t.tags...) }

// Execute writes the template to w, looking tag values up with lookup.
// A tag whose value is missing or empty renders its default, or nothing.
// With escape, values (and defaults) are HTML-escaped (& < > " '), as for
// email and Intercom bodies; literal text is never escaped. The only errors
// are w's.
func (t *Template) Execute(w io.Writer, lookup func(path string) (string, bool), escape bool) error {
	sw, ok := w.(io.StringWriter)
	if !ok {
		sw = stringWriter{w}
	}
	for i := range t.segs {
		s := &t.segs[i]
		var err error
		switch {
		case !s.tag:
			_, err = sw.WriteString(s.text)
		default:
			v, ok := lookup(s.text)
			if !ok || v == "" {
				v = s.def
			}
			if escape {
				err = writeEscaped(sw, v)
			} else {
				_, err = sw.WriteString(v)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// String returns the template rendered as by Execute.
func (t *Template) String(lookup func(path string) (string, bool), escape bool) string {
	var b strings.Builder
	b.Grow(t.litLen + 32*(len(t.segs)-len(t.segs)/2)) // a guess of the values' length
	// The same loop as Execute, on the concrete builder so that it does
	// not escape to the heap: one allocation per call.
	for i := range t.segs {
		s := &t.segs[i]
		if !s.tag {
			b.WriteString(s.text)
			continue
		}
		v, ok := lookup(s.text)
		if !ok || v == "" {
			v = s.def
		}
		if !escape {
			b.WriteString(v)
			continue
		}
		last := 0
		for i := 0; i < len(v); i++ {
			if ent := entity(v[i]); ent != "" {
				b.WriteString(v[last:i])
				b.WriteString(ent)
				last = i + 1
			}
		}
		b.WriteString(v[last:])
	}
	return b.String()
}

// entity returns the HTML entity for c, or "" if c needs no escaping.
func entity(c byte) string {
	switch c {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	case '"':
		return "&#34;"
	case '\'':
		return "&#39;"
	}
	return ""
}

type stringWriter struct{ w io.Writer }

func (s stringWriter) WriteString(v string) (int, error) { return s.w.Write([]byte(v)) }

// writeEscaped writes v with & < > " ' replaced by HTML entities, in chunks,
// without allocating.
func writeEscaped(w io.StringWriter, v string) error {
	last := 0
	for i := 0; i < len(v); i++ {
		ent := entity(v[i])
		if ent == "" {
			continue
		}
		if _, err := w.WriteString(v[last:i]); err != nil {
			return err
		}
		if _, err := w.WriteString(ent); err != nil {
			return err
		}
		last = i + 1
	}
	_, err := w.WriteString(v[last:])
	return err
}

// Allow returns a known function for Parse that accepts the given paths.
// A pattern ending in ".*" accepts every path below its prefix, e.g.
// "customer.metadata.*" accepts "customer.metadata.tier" (not
// "customer.metadata" itself).
func Allow(patterns ...string) func(path string) bool {
	exact := make(map[string]bool, len(patterns))
	var prefixes []string
	for _, p := range patterns {
		if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasSuffix(pre, ".") {
			prefixes = append(prefixes, pre)
			continue
		}
		exact[p] = true
	}
	return func(path string) bool {
		if exact[path] {
			return true
		}
		for _, pre := range prefixes {
			if len(path) > len(pre) && strings.HasPrefix(path, pre) {
				return true
			}
		}
		return false
	}
}

type parser struct {
	src    string
	known  func(string) bool
	segs   []segment
	tags   []string
	litLen int
}

func (p *parser) errAt(pos int, tag, format string, args ...any) *Error {
	line, col := 1, 1
	lineStart := 0
	for i := 0; i < pos && i < len(p.src); i++ {
		if p.src[i] == '\n' {
			line++
			lineStart = i + 1
		}
	}
	col = utf8.RuneCountInString(p.src[lineStart:min(pos, len(p.src))]) + 1
	return &Error{Pos: pos, Line: line, Col: col, Tag: tag, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse() error {
	i := 0
	for i < len(p.src) {
		j := strings.Index(p.src[i:], "{{")
		if j < 0 {
			p.literal(p.src[i:])
			break
		}
		p.literal(p.src[i : i+j])
		start := i + j
		end, err := p.tag(start)
		if err != nil {
			return err
		}
		i = end
	}
	return nil
}

func (p *parser) literal(s string) {
	if s == "" {
		return
	}
	p.litLen += len(s)
	p.segs = append(p.segs, segment{text: s})
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// tag parses the tag starting at start ("{{") and returns the offset after
// its "}}".
func (p *parser) tag(start int) (int, error) {
	src := p.src
	// The tag text for error messages: up to the first "}}" if any.
	text := ""
	if k := strings.Index(src[start+2:], "}}"); k >= 0 {
		text = strings.TrimSpace(src[start+2 : start+2+k])
	}
	unclosed := func() error {
		return p.errAt(start, "", "unclosed {{ (no matching }})")
	}
	i := start + 2
	skip := func() {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
	}
	skip()
	pathStart := i
	for i < len(src) && (isNameByte(src[i]) || src[i] == '.') {
		i++
	}
	path := src[pathStart:i]
	if i >= len(src) {
		return 0, unclosed()
	}
	if path == "" {
		if strings.HasPrefix(src[i:], "}}") {
			return 0, p.errAt(start, text, "empty tag")
		}
		return 0, p.errAt(i, text, "unexpected %q, want a tag path such as customer.name", nextChar(src[i:]))
	}
	for k, name := range strings.Split(path, ".") {
		if name == "" {
			return 0, p.errAt(pathStart, text, "malformed path %q (empty name at part %d)", path, k+1)
		}
	}
	seg := segment{tag: true, text: path}
	skip()
	if i >= len(src) {
		return 0, unclosed()
	}
	if src[i] == '|' {
		i++
		skip()
		fStart := i
		for i < len(src) && isNameByte(src[i]) {
			i++
		}
		filter := src[fStart:i]
		switch {
		case filter == "" && i >= len(src):
			return 0, unclosed()
		case filter == "":
			return 0, p.errAt(fStart, text, "missing filter name after |")
		case filter != "default":
			return 0, p.errAt(fStart, text, "unknown filter %q (only default is supported)", filter)
		}
		skip()
		if i >= len(src) {
			return 0, unclosed()
		}
		if src[i] != ':' {
			return 0, p.errAt(i, text, "want : after default, got %q", nextChar(src[i:]))
		}
		i++
		skip()
		if i >= len(src) {
			return 0, unclosed()
		}
		q := src[i]
		if q != '"' && q != '\'' {
			return 0, p.errAt(i, text, "default wants a quoted string, got %q", nextChar(src[i:]))
		}
		qStart := i
		i++
		var b strings.Builder
		closed := false
		for i < len(src) {
			c := src[i]
			if c == '\\' && i+1 < len(src) {
				b.WriteByte(src[i+1])
				i += 2
				continue
			}
			i++
			if c == q {
				closed = true
				break
			}
			b.WriteByte(c)
		}
		if !closed {
			return 0, p.errAt(qStart, text, "unterminated string")
		}
		seg.def = b.String()
		skip()
		if i >= len(src) {
			return 0, unclosed()
		}
		if src[i] == '|' {
			return 0, p.errAt(i, text, "only one filter is allowed")
		}
	}
	if !strings.HasPrefix(src[i:], "}}") {
		if i+1 >= len(src) {
			return 0, unclosed()
		}
		return 0, p.errAt(i, text, "unexpected %q, want }}", nextChar(src[i:]))
	}
	if p.known != nil && !p.known(path) {
		return 0, p.errAt(start, text, "unknown tag %q", path)
	}
	p.segs = append(p.segs, seg)
	seen := false
	for _, t := range p.tags {
		if t == path {
			seen = true
			break
		}
	}
	if !seen {
		p.tags = append(p.tags, path)
	}
	return i + 2, nil
}

func nextChar(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 && len(s) > 0 {
		return s[:1]
	}
	return string(r)
}
