package tmpl

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/codedrop/codedrop/internal/errs"
	"github.com/google/go-cmp/cmp"
)

// known is the tag set of a distribution's message in these tests.
var known = Allow("customer.name", "customer.email", "customer.source_id", "customer.metadata.*",
	"voucher.code", "campaign.name", "distribution.name")

var values = map[string]string{
	"customer.name":          "Ann <Admin> & \"Co\" 'x'",
	"customer.email":         "ann@example.com",
	"customer.source_id":     "ic_42",
	"customer.metadata.tier": "gold",
	"customer.metadata.none": "",
	"voucher.code":           "WELCOME-AB12",
	"campaign.name":          "Welcome",
	"distribution.name":      "Welcome codes",
}

func lookup(path string) (string, bool) {
	v, ok := values[path]
	return v, ok
}

func TestExecute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   string
		plain string // escape false
		html  string // escape true
		tags  []string
	}{
		{"no tags", "Hello { world }} {x}", "Hello { world }} {x}", "Hello { world }} {x}", nil},
		{"empty", "", "", "", nil},
		{"literal text is not escaped", "<p>Your code: {{voucher.code}}</p>", "<p>Your code: WELCOME-AB12</p>", "<p>Your code: WELCOME-AB12</p>", []string{"voucher.code"}},
		{"values are escaped in HTML", "<b>{{customer.name}}</b>", "<b>Ann <Admin> & \"Co\" 'x'</b>", "<b>Ann &lt;Admin&gt; &amp; &#34;Co&#34; &#39;x&#39;</b>", []string{"customer.name"}},
		{"all tags", "{{customer.name}}|{{customer.email}}|{{customer.source_id}}|{{customer.metadata.tier}}|{{voucher.code}}|{{campaign.name}}|{{distribution.name}}",
			"Ann <Admin> & \"Co\" 'x'|ann@example.com|ic_42|gold|WELCOME-AB12|Welcome|Welcome codes",
			"Ann &lt;Admin&gt; &amp; &#34;Co&#34; &#39;x&#39;|ann@example.com|ic_42|gold|WELCOME-AB12|Welcome|Welcome codes",
			[]string{"customer.name", "customer.email", "customer.source_id", "customer.metadata.tier", "voucher.code", "campaign.name", "distribution.name"}},
		{"spaces inside braces", "{{ voucher.code }} {{\tvoucher.code\n}}", "WELCOME-AB12 WELCOME-AB12", "WELCOME-AB12 WELCOME-AB12", []string{"voucher.code"}},
		{"missing value renders empty", "[{{customer.metadata.city}}]", "[]", "[]", []string{"customer.metadata.city"}},
		{"default when missing", `Hi {{customer.metadata.city | default: "there"}}!`, "Hi there!", "Hi there!", []string{"customer.metadata.city"}},
		{"default when empty", `{{customer.metadata.none|default:'n/a'}}`, "n/a", "n/a", []string{"customer.metadata.none"}},
		{"default unused when set", `{{customer.metadata.tier | default: "basic"}}`, "gold", "gold", []string{"customer.metadata.tier"}},
		{"default escaped in HTML", `{{customer.metadata.x | default: "<you>"}}`, "<you>", "&lt;you&gt;", []string{"customer.metadata.x"}},
		{"default with quotes and braces", `{{customer.metadata.x | default: "say \"hi\" }}"}}`, `say "hi" }}`, "say &#34;hi&#34; }}", []string{"customer.metadata.x"}},
		{"single quotes with double inside", `{{customer.metadata.x | default: 'a "b"'}}`, `a "b"`, "a &#34;b&#34;", []string{"customer.metadata.x"}},
		{"empty default", `{{customer.metadata.x | default: ""}}.`, ".", ".", []string{"customer.metadata.x"}},
		{"lone braces around tags", "{ {{voucher.code}} }", "{ WELCOME-AB12 }", "{ WELCOME-AB12 }", []string{"voucher.code"}},
		{"unicode text", "Grüße, {{customer.name | default: \"Gäste\"}} 🎁", "Grüße, Ann <Admin> & \"Co\" 'x' 🎁", "Grüße, Ann &lt;Admin&gt; &amp; &#34;Co&#34; &#39;x&#39; 🎁", []string{"customer.name"}},
		{"metadata key with dash and digits", "{{customer.metadata.last-order_2}}", "", "", []string{"customer.metadata.last-order_2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp, err := Parse(tt.src, known)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.src, err)
			}
			if got := tp.String(lookup, false); got != tt.plain {
				t.Errorf("String(escape=false) = %q, want %q", got, tt.plain)
			}
			if got := tp.String(lookup, true); got != tt.html {
				t.Errorf("String(escape=true) = %q, want %q", got, tt.html)
			}
			var buf bytes.Buffer
			if err := tp.Execute(&buf, lookup, true); err != nil || buf.String() != tt.html {
				t.Errorf("Execute = %q, %v; want %q", buf.String(), err, tt.html)
			}
			// A writer without WriteString gets the same bytes.
			var plain bytes.Buffer
			if err := tp.Execute(struct{ io.Writer }{&plain}, lookup, true); err != nil || plain.String() != tt.html {
				t.Errorf("Execute to a plain io.Writer = %q, %v; want %q", plain.String(), err, tt.html)
			}
			if diff := cmp.Diff(tt.tags, tp.Tags()); diff != "" {
				t.Errorf("Tags (-want +got):\n%s", diff)
			}
			if tp.Source() != tt.src {
				t.Errorf("Source = %q", tp.Source())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want Error
	}{
		{"unknown tag", "Hi {{customer.nmae}}", Error{Pos: 3, Line: 1, Col: 4, Tag: "customer.nmae", Msg: `unknown tag "customer.nmae"`}},
		{"unknown top-level", "{{order.id}}", Error{Pos: 0, Line: 1, Col: 1, Tag: "order.id", Msg: `unknown tag "order.id"`}},
		{"metadata itself", "{{ customer.metadata }}", Error{Pos: 0, Line: 1, Col: 1, Tag: "customer.metadata", Msg: `unknown tag "customer.metadata"`}},
		{"unclosed", "Hi {{customer.name", Error{Pos: 3, Line: 1, Col: 4, Msg: "unclosed {{ (no matching }})"}},
		{"unclosed after text", "a\nbc {{ voucher.code }", Error{Pos: 5, Line: 2, Col: 4, Msg: "unclosed {{ (no matching }})"}},
		{"unclosed at end", "x {{", Error{Pos: 2, Line: 1, Col: 3, Msg: "unclosed {{ (no matching }})"}},
		{"unclosed in default", `{{customer.name | default: "x"`, Error{Pos: 0, Line: 1, Col: 1, Msg: "unclosed {{ (no matching }})"}},
		{"column counts characters", "äöü {{x}}", Error{Pos: 7, Line: 1, Col: 5, Tag: "x", Msg: `unknown tag "x"`}},
		{"empty tag", "{{ }}", Error{Pos: 0, Line: 1, Col: 1, Msg: "empty tag"}},
		{"bad character", "{{customer name}}", Error{Pos: 11, Line: 1, Col: 12, Tag: "customer name", Msg: `unexpected "n", want }}`}},
		{"bad path start", "{{ $x }}", Error{Pos: 3, Line: 1, Col: 4, Tag: "$x", Msg: `unexpected "$", want a tag path such as customer.name`}},
		{"triple brace", "{{{voucher.code}}}", Error{Pos: 2, Line: 1, Col: 3, Tag: "{voucher.code", Msg: `unexpected "{", want a tag path such as customer.name`}},
		{"empty path part", "{{customer..name}}", Error{Pos: 2, Line: 1, Col: 3, Tag: "customer..name", Msg: `malformed path "customer..name" (empty name at part 2)`}},
		{"trailing dot", "{{voucher.}}", Error{Pos: 2, Line: 1, Col: 3, Tag: "voucher.", Msg: `malformed path "voucher." (empty name at part 2)`}},
		{"unknown filter", "{{voucher.code | upcase}}", Error{Pos: 17, Line: 1, Col: 18, Tag: "voucher.code | upcase", Msg: `unknown filter "upcase" (only default is supported)`}},
		{"escape filter", "{{voucher.code | escape}}", Error{Pos: 17, Line: 1, Col: 18, Tag: "voucher.code | escape", Msg: `unknown filter "escape" (only default is supported)`}},
		{"raw filter", "{{voucher.code | raw}}", Error{Pos: 17, Line: 1, Col: 18, Tag: "voucher.code | raw", Msg: `unknown filter "raw" (only default is supported)`}},
		{"missing filter", "{{voucher.code | }}", Error{Pos: 17, Line: 1, Col: 18, Tag: "voucher.code |", Msg: "missing filter name after |"}},
		{"default without colon", `{{voucher.code | default "x"}}`, Error{Pos: 25, Line: 1, Col: 26, Tag: `voucher.code | default "x"`, Msg: `want : after default, got "\""`}},
		{"default unquoted", `{{voucher.code | default: x}}`, Error{Pos: 26, Line: 1, Col: 27, Tag: `voucher.code | default: x`, Msg: `default wants a quoted string, got "x"`}},
		{"unterminated string", `{{voucher.code | default: "x}}`, Error{Pos: 26, Line: 1, Col: 27, Tag: `voucher.code | default: "x`, Msg: "unterminated string"}},
		{"two filters", `{{voucher.code | default: "a" | default: "b"}}`, Error{Pos: 30, Line: 1, Col: 31, Tag: `voucher.code | default: "a" | default: "b"`, Msg: "only one filter is allowed"}},
		{"junk after default", `{{voucher.code | default: "a" x}}`, Error{Pos: 30, Line: 1, Col: 31, Tag: `voucher.code | default: "a" x`, Msg: `unexpected "x", want }}`}},
		{"second tag bad", "{{voucher.code}} and {{campaign.nam}}", Error{Pos: 21, Line: 1, Col: 22, Tag: "campaign.nam", Msg: `unknown tag "campaign.nam"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.src, known)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Parse(%q) error = %v, want *Error", tt.src, err)
			}
			if diff := cmp.Diff(tt.want, *te); diff != "" {
				t.Errorf("Parse(%q) error (-want +got):\n%s", tt.src, diff)
			}
			if !errors.Is(err, errs.Invalid) {
				t.Errorf("error %v does not wrap errs.Invalid", err)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := Parse("Hello\n  {{customer.nmae}}", known)
	if got, want := err.Error(), `line 2, column 3: unknown tag "customer.nmae" in {{customer.nmae}}`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = Parse("{{x", nil)
	if got, want := err.Error(), "line 1, column 1: unclosed {{ (no matching }})"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseNilKnownAllowsAnyPath(t *testing.T) {
	t.Parallel()
	tp, err := Parse("{{order.id}} {{reward.name}} {{order.id}}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"order.id", "reward.name"}, tp.Tags()); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	tags := tp.Tags()
	tags[0] = "changed"
	if tp.Tags()[0] != "order.id" {
		t.Error("Tags returned the template's own slice")
	}
}

func TestAllow(t *testing.T) {
	t.Parallel()
	allow := Allow("voucher.code", "customer.metadata.*", "order.*")
	for path, want := range map[string]bool{
		"voucher.code":           true,
		"voucher.codes":          false,
		"voucher":                false,
		"customer.metadata.tier": true,
		"customer.metadata.a.b":  true,
		"customer.metadata":      false,
		"customer.metadata.":     false,
		"order.id":               true,
		"customer.name":          false,
	} {
		if got := allow(path); got != want {
			t.Errorf("allow(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestMustParse(t *testing.T) {
	t.Parallel()
	if got := MustParse("{{voucher.code}}", known).String(lookup, false); got != "WELCOME-AB12" {
		t.Errorf("MustParse(...).String = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParse of a bad template did not panic")
		}
	}()
	MustParse("{{nope}}", known)
}

type failWriter struct{ n int }

var errWrite = errors.New("write failed")

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errWrite
	}
	f.n--
	return len(p), nil
}

func TestExecuteWriterError(t *testing.T) {
	t.Parallel()
	tp := MustParse("a{{customer.name}}b{{voucher.code}}", known)
	for n := range 4 {
		for _, escape := range []bool{false, true} {
			if err := tp.Execute(&failWriter{n: n}, lookup, escape); !errors.Is(err, errWrite) {
				t.Errorf("Execute with a writer failing after %d writes (escape %v) = %v, want its error", n, escape, err)
			}
		}
	}
}

func TestExecuteAllocations(t *testing.T) {
	tp := MustParse(benchBody, known)
	var b strings.Builder
	b.Grow(4096)
	allocs := testing.AllocsPerRun(100, func() {
		b.Reset()
		b.Grow(4096)
		_ = tp.Execute(&b, lookup, true)
	})
	// One allocation: the builder's buffer after Reset. Rendering itself
	// allocates nothing.
	if allocs > 1 {
		t.Errorf("Execute into a grown strings.Builder: %v allocations, want at most 1", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = tp.String(lookup, true) }); allocs > 1 {
		t.Errorf("String: %v allocations, want 1 (the result)", allocs)
	}
}

const benchBody = `<p>Hi {{customer.name | default: "there"}},</p>
<p>Thanks for being a {{customer.metadata.tier}} member. Here is your code for {{campaign.name}}:</p>
<p><b>{{voucher.code}}</b></p>
<p>Questions? Reply to this message or write to support. We sent this to {{customer.email}}.</p>`

// BenchmarkExecute renders a typical in-app body with HTML escaping; the
// baseline is the same body assembled by hand with strings.Builder and
// html-escaped values, the least any renderer can do.
func BenchmarkExecute(b *testing.B) {
	tp := MustParse(benchBody, known)
	b.Run("template", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = tp.String(lookup, true)
		}
	})
	b.Run("baseline-handwritten", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var sb strings.Builder
			sb.Grow(len(benchBody) + 64)
			sb.WriteString("<p>Hi ")
			name, _ := lookup("customer.name")
			escapeInto(&sb, name)
			sb.WriteString(",</p>\n<p>Thanks for being a ")
			tier, _ := lookup("customer.metadata.tier")
			escapeInto(&sb, tier)
			sb.WriteString(" member. Here is your code for ")
			camp, _ := lookup("campaign.name")
			escapeInto(&sb, camp)
			sb.WriteString(":</p>\n<p><b>")
			code, _ := lookup("voucher.code")
			escapeInto(&sb, code)
			sb.WriteString("</b></p>\n<p>Questions? Reply to this message or write to support. We sent this to ")
			email, _ := lookup("customer.email")
			escapeInto(&sb, email)
			sb.WriteString(".</p>")
			_ = sb.String()
		}
	})
}

// escapeInto is the baseline's HTML escaping, straight into the builder.
func escapeInto(sb *strings.Builder, v string) {
	last := 0
	for i := 0; i < len(v); i++ {
		if ent := entity(v[i]); ent != "" {
			sb.WriteString(v[last:i])
			sb.WriteString(ent)
			last = i + 1
		}
	}
	sb.WriteString(v[last:])
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := Parse(benchBody, known); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "plain", "{", "}}", "{{", "{{}}", "{{ a }}", "{{a.b|default:\"x\"}}", "{{a | default: 'y\\'z'}}",
		"{{a | raw}}", "{{a|default:\"", "Hi {{customer.name | default: \"there\"}}", "{{a..b}}", "x{{{y}}}",
		"{{a}}{{b}}{{a}}", "\xff{{a}}\n{{b", benchBody,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, kn := range []func(string) bool{nil, known} {
			tp, err := Parse(src, kn)
			if err != nil {
				var te *Error
				if !errors.As(err, &te) || te.Pos < 0 || te.Pos > len(src) || te.Line < 1 || te.Col < 1 || te.Msg == "" {
					t.Fatalf("Parse(%q) error %#v: want *Error with a position inside src", src, err)
				}
				continue
			}
			for _, tag := range tp.Tags() {
				if kn != nil && !kn(tag) {
					t.Fatalf("Parse(%q) accepted unknown tag %q", src, tag)
				}
			}
			look := func(p string) (string, bool) { return "<'" + p + "'&>", len(p)%2 == 0 }
			for _, escape := range []bool{false, true} {
				var b bytes.Buffer
				if err := tp.Execute(&b, look, escape); err != nil {
					t.Fatalf("Execute of accepted %q: %v", src, err)
				}
				if s := tp.String(look, escape); s != b.String() {
					t.Fatalf("String(%q) = %q, Execute wrote %q", src, s, b.String())
				}
				if escape && len(tp.Tags()) > 0 && strings.Count(b.String(), "<'") > strings.Count(src, "<'") {
					t.Fatalf("escaped output of %q contains an unescaped value: %q", src, b.String())
				}
			}
			// Without tags the output is the source itself.
			if len(tp.Tags()) == 0 {
				if got := tp.String(lookup, true); got != src {
					t.Fatalf("template without tags %q rendered %q", src, got)
				}
			}
		}
	})
}
