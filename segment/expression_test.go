package segment

import (
	"errors"
	"strings"
	"testing"

	"github.com/codedrop/codedrop/customer"
)

func TestExpressions(t *testing.T) {
	t.Parallel()
	c := testCustomer()
	c.Metadata["len"], c.Metadata["now"], c.Metadata["email"] = 3.0, "x", "m"
	tests := []struct {
		src  string
		want bool
	}{
		{`metadata.ltv > 100 && email endsWith "@acme.com"`, true},
		{`metadata.ltv > 300 && email endsWith "@acme.com"`, false},
		{`metadata.source == "Intercom" || metadata.ltv > 1000`, true},
		{`metadata.club_level in ["Gold", "Silver"]`, true},
		{`"premium" in metadata.tags`, true},
		{`len(metadata.tags) == 2`, true},
		{`address.country == "Poland" and address.city == "Warsaw"`, true},
		{`summary.orders.total_count >= 3 && summary.orders.total_amount > 50000`, true},
		{`summary.redemptions.total_succeeded == 2`, true},
		{`consents.status["cnst_news"].Granted && !consents.unsubscribed`, true},
		{`consents.status["cnst_sms"].Granted`, false},
		{`now - created_at > duration("2400h")`, true}, // 104 days
		{`now - created_at > duration("2600h")`, false},
		{`int(birthdate.Month()) == 4`, true},
		{`now.Sub(summary.orders.last_order_date).Hours() / 24 > 30`, true},
		{`name matches "^Ann"`, true},
		{`source_id contains "@example.com" && id startsWith "cust_"`, true},
		{`(metadata.profile?.tier ?? "free") == "pro"`, true},
		// A missing value: the comparison fails at run time, which is no match...
		{`metadata.missing > 100`, false},
		// ...unless the expression gives a default.
		{`(metadata.missing ?? 0) < 100`, true},
		{`metadata.vip`, true},
		{`metadata.missing`, false}, // nil is not true
		// Keys named like builtins or variables stay metadata keys.
		{`metadata.len == 3 && metadata.now == "x" && metadata.email == "m"`, true},
		{`len(metadata.tags) == 2 && metadata.len == 3`, true},
	}
	for _, tt := range tests {
		m, err := DefaultEvaluator{}.CompileExpression(tt.src)
		if err != nil {
			t.Errorf("CompileExpression(%s): %v", tt.src, err)
			continue
		}
		if got := m.Match(&c, now); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.src, got, tt.want)
		}
		if ex := m.(Explainer).Explain(&c, now); ex.Matched != tt.want {
			t.Errorf("%s: Explain().Matched = %v, want %v", tt.src, ex.Matched, tt.want)
		}
	}
}

func TestExpressionWithoutMetadata(t *testing.T) {
	t.Parallel()
	// A customer without metadata: expressions over metadata alone see
	// missing values.
	c := customer.Customer{Email: "a@b.c"}
	for src, want := range map[string]bool{
		`metadata.ltv == nil`:           true,
		`(metadata.ltv ?? 0) < 1`:       true,
		`metadata.source == "Intercom"`: false,
		`email == "a@b.c"`:              true,
	} {
		m, err := DefaultEvaluator{}.CompileExpression(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Match(&c, now); got != want {
			t.Errorf("%s = %v, want %v", src, got, want)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, msg string }{
		{`metadta.ltv > 100`, "unknown name metadta (1:1)"},
		{`email > 5`, "invalid operation: > (mismatched types string and int)"},
		{`metadata.ltv >`, "unexpected token EOF"},
		{`name`, "expected bool, but got string"},
		{`now() > created_at`, "is not callable"}, // the wall clock is not available: use now
		{`address.zip == "1"`, "unknown name address.zip"},
		{`summary.orders.count > 1`, "unknown name summary.orders.count"},
	}
	for _, tt := range tests {
		_, err := DefaultEvaluator{}.Compile(Segment{Type: AutoUpdate, Expression: tt.src})
		var fe *FilterError
		if !errors.As(err, &fe) {
			t.Errorf("Compile(%s) error = %v, want a *FilterError", tt.src, err)
			continue
		}
		if fe.Path != "expression" || !strings.Contains(fe.Error(), tt.msg) {
			t.Errorf("Compile(%s) error = path %q, %q; want path expression and a message containing %q", tt.src, fe.Path, fe.Error(), tt.msg)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Compile(%s) error does not match ErrInvalid", tt.src)
		}
	}
}

func TestExpressionTimeDependent(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]bool{
		`now - created_at > duration("24h")`: true,
		`metadata.ltv > 100`:                 false,
		`metadata.now == 1`:                  false,
	} {
		m, err := DefaultEvaluator{}.CompileExpression(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.(TimeDependent).TimeDependent(); got != want {
			t.Errorf("TimeDependent(%s) = %v, want %v", src, got, want)
		}
	}
	for src, want := range map[string]bool{
		condJSON("created_at", "$more_than_ago", "3"):             true,
		condJSON("birthdate", "$next_month", "true"):              true,
		condJSON("created_at", "$more_than", "3"):                 true, // days ago
		condJSON("metadata.x", "$more_than", "3"):                 true, // without a schema it may hold a date
		condJSON("created_at", "$after", `"2020-01-01"`):          false,
		condJSON("summary.orders.total_count", "$more_than", "3"): false,
		condJSON("metadata.source", "$is", `"x"`):                 false,
	} {
		m, err := DefaultEvaluator{}.CompileFilter(MustParseFilter(src))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.(TimeDependent).TimeDependent(); got != want {
			t.Errorf("TimeDependent(%s) = %v, want %v", src, got, want)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	c := testCustomer()
	c.Metadata["ltv"] = 50.0
	m, err := DefaultEvaluator{}.CompileFilter(MustParseFilter(
		`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}},"metadata.ltv":{"conditions":{"$more_than":[100]}},"metadata.plan":{"conditions":{"$is":"pro"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ex := m.(Explainer).Explain(&c, now)
	ex.SegmentID, ex.CustomerID = "seg_1", c.ID
	want := `customer cust_1 is not in segment seg_1
  all of these must hold:
  yes  metadata.source $is ["Intercom"] (customer: "Intercom")
  no   metadata.ltv $more_than [100] (customer: 50)
  no   metadata.plan $is ["pro"] (customer: no value)
`
	if got := ex.String(); got != want {
		t.Errorf("Explain:\n%s\nwant:\n%s", got, want)
	}

	em, err := DefaultEvaluator{}.CompileExpression(`metadata.source == "Intercom" && metadata.ltv > 100 && metadata.plan > 1`)
	if err != nil {
		t.Fatal(err)
	}
	ex = em.(Explainer).Explain(&c, now)
	if len(ex.Conditions) != 3 || ex.Matched {
		t.Fatalf("expression Explain = %+v, want 3 conditions, not matched", ex)
	}
	if got := ex.Conditions[0]; !got.Matched || got.Expression != `metadata.source == "Intercom"` {
		t.Errorf("condition 0 = %+v", got)
	}
	if got := ex.Conditions[1]; got.Matched || got.Expression != `metadata.ltv > 100` || got.Error != "" {
		t.Errorf("condition 1 = %+v", got)
	}
	if got := ex.Conditions[2]; got.Matched || got.Error == "" {
		t.Errorf("condition 2 (comparing a missing value) = %+v, want an error", got)
	}

	om, err := DefaultEvaluator{}.CompileExpression(`metadata.ltv > 100 or name == "Ann Smith"`)
	if err != nil {
		t.Fatal(err)
	}
	if ex := om.(Explainer).Explain(&c, now); ex.Junction != Or || !ex.Matched || len(ex.Conditions) != 2 || !ex.Conditions[1].Matched {
		t.Errorf("or-expression Explain = %+v", ex)
	}

	sm, err := DefaultEvaluator{}.Compile(Segment{Type: Static, CustomerIDs: []string{"cust_1"}})
	if err != nil {
		t.Fatal(err)
	}
	if ex := sm.(Explainer).Explain(&c, now); !ex.Matched || !strings.Contains(ex.Reason, "on the static list") {
		t.Errorf("static Explain = %+v", ex)
	}
	other := customer.Customer{ID: "cust_2"}
	if ex := sm.(Explainer).Explain(&other, now); ex.Matched {
		t.Errorf("static Explain(cust_2) = %+v, want not matched", ex)
	}
}

// FuzzExpression checks that any source either compiles or fails with a
// *FilterError, and that a compiled expression can be matched and explained
// without panicking, with Explain agreeing with Match.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		`metadata.ltv > 100 && email endsWith "@acme.com"`,
		`metadata.source == "Intercom" || len(metadata.tags) > 1`,
		`now - created_at > duration("720h")`,
		`consents.status["x"].Granted`,
		`summary.orders.total_count in 1..3`,
		`1 / 0 == 1`, `metadata.x[0] == 1`, `let x = 1; x > 0`, `"a" matches "("`, ``, `(`,
	} {
		f.Add(s)
	}
	c := testCustomer()
	f.Fuzz(func(t *testing.T, src string) {
		m, err := DefaultEvaluator{}.CompileExpression(src)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) || fe.Path != "expression" {
				t.Fatalf("CompileExpression(%q) error %v is not an expression *FilterError", src, err)
			}
			return
		}
		got := m.Match(&c, now)
		if ex := m.(Explainer).Explain(&c, now); ex.Matched != got {
			t.Fatalf("Explain disagrees with Match for %q", src)
		}
	})
}
