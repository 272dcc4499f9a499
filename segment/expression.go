package segment

import (
	"fmt"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// exprEnv is the environment of an expression; its expr tags are the
// variable names documented in the package overview.
type exprEnv struct {
	ID          string            `expr:"id"`
	SourceID    string            `expr:"source_id"`
	Name        string            `expr:"name"`
	Email       string            `expr:"email"`
	Phone       string            `expr:"phone"`
	Description string            `expr:"description"`
	Timezone    string            `expr:"timezone"`
	Birthdate   time.Time         `expr:"birthdate"` // midnight UTC; zero when unknown
	Address     exprAddress       `expr:"address"`
	Metadata    customer.Metadata `expr:"metadata"`
	Consents    exprConsents      `expr:"consents"`
	Summary     exprSummary       `expr:"summary"`
	CreatedAt   time.Time         `expr:"created_at"`
	UpdatedAt   time.Time         `expr:"updated_at"`
	Now         time.Time         `expr:"now"`
}

type exprAddress struct {
	Line1      string `expr:"line_1"`
	Line2      string `expr:"line_2"`
	City       string `expr:"city"`
	State      string `expr:"state"`
	PostalCode string `expr:"postal_code"`
	Country    string `expr:"country"`
}

type exprConsents struct {
	Unsubscribed bool `expr:"unsubscribed"`
	// Status maps a consent id to {Granted, At}.
	Status map[string]customer.ConsentStatus `expr:"status"`
}

type exprSummary struct {
	Orders      exprOrders      `expr:"orders"`
	Redemptions exprRedemptions `expr:"redemptions"`
}

type exprOrders struct {
	TotalAmount     float64   `expr:"total_amount"`
	TotalCount      int       `expr:"total_count"`
	AverageAmount   float64   `expr:"average_amount"`
	LastOrderAmount float64   `expr:"last_order_amount"`
	LastOrderDate   time.Time `expr:"last_order_date"`
}

type exprRedemptions struct {
	TotalSucceeded  int `expr:"total_succeeded"`
	TotalFailed     int `expr:"total_failed"`
	TotalRolledBack int `expr:"total_rolled_back"`
}

func (e *exprEnv) fill(c *customer.Customer, now time.Time) {
	var bd time.Time
	if !c.Birthdate.IsZero() {
		bd = c.Birthdate.In(time.UTC)
	}
	a, o, r := &c.Address, &c.Summary.Orders, &c.Summary.Redemptions
	*e = exprEnv{
		ID: c.ID, SourceID: c.SourceID, Name: c.Name, Email: c.Email, Phone: c.Phone,
		Description: c.Description, Timezone: c.Timezone, Birthdate: bd,
		Address:  exprAddress{a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country},
		Metadata: c.Metadata,
		Consents: exprConsents{Unsubscribed: c.Consents.Unsubscribed, Status: c.Consents.Status},
		Summary: exprSummary{
			Orders:      exprOrders{o.TotalAmount, o.TotalCount, o.AverageAmount, o.LastOrderAmount, o.LastOrderDate},
			Redemptions: exprRedemptions{r.TotalSucceeded, r.TotalFailed, r.TotalRolledBack},
		},
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Now: now,
	}
}

// exprOptions are the options of every expression compile: the typed
// environment, a boolean result, and no wall-clock now() (rules use the
// evaluator's now).
func exprOptions() []expr.Option {
	return []expr.Option{expr.Env(&exprEnv{}), expr.AsBool(), expr.DisableBuiltin("now"), expr.Timezone("UTC")}
}

// exprState is the per-evaluation scratch space, pooled.
type exprState struct {
	env exprEnv
	vm  vm.VM
}

// program is one compiled expression.
type program struct {
	src  string
	prog *vm.Program
	pool *sync.Pool
}

func compileProgram(src string) (*program, error) {
	prog, err := expr.Compile(src, exprOptions()...)
	if err != nil {
		return nil, err
	}
	return &program{src: src, prog: prog, pool: &sync.Pool{New: func() any { return new(exprState) }}}, nil
}

func (p *program) run(c *customer.Customer, now time.Time) (bool, error) {
	st := p.pool.Get().(*exprState)
	st.env.fill(c, now)
	out, err := st.vm.Run(p.prog, &st.env)
	st.env = exprEnv{} // drop references to the customer's maps
	p.pool.Put(st)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("the expression returned %T, not a boolean", out)
	}
	return b, nil
}

// exprMatcher is the Matcher of an expression. A run-time error (such as
// comparing a missing metadata value with a number) counts as no match;
// Explain shows it.
type exprMatcher struct {
	whole   *program
	or      bool       // parts are joined by ||, not &&
	parts   []*program // the operands of the top-level && or || chain, for Explain
	timeDep bool
}

func (m *exprMatcher) Match(c *customer.Customer, now time.Time) bool {
	ok, _ := m.whole.run(c, now)
	return ok
}

func (m *exprMatcher) TimeDependent() bool { return m.timeDep }

func (m *exprMatcher) Explain(c *customer.Customer, now time.Time) Explanation {
	ex := Explanation{Junction: And}
	if m.or {
		ex.Junction = Or
	}
	for _, p := range m.parts {
		ok, err := p.run(c, now)
		r := ConditionResult{Expression: p.src, Matched: ok}
		if err != nil {
			r.Error = err.Error()
		}
		ex.Conditions = append(ex.Conditions, r)
	}
	ok, err := m.whole.run(c, now)
	ex.Matched = ok
	if err != nil && len(m.parts) == 1 {
		ex.Conditions[0].Error = err.Error()
	}
	return ex
}

// CompileExpression compiles an expr-lang expression over the customer
// environment (see the package overview) into a Matcher, with expr's type
// checking; a problem is a *FilterError with Path "expression".
func (ev DefaultEvaluator) CompileExpression(src string) (Matcher, error) {
	whole, err := compileProgram(src)
	if err != nil {
		return nil, &FilterError{Path: "expression", Err: err}
	}
	m := &exprMatcher{whole: whole, parts: []*program{whole}}
	tree, err := parser.Parse(src)
	if err != nil { // cannot happen: it compiled
		return m, nil
	}
	var v nowVisitor
	ast.Walk(&tree.Node, &v)
	m.timeDep = v.found

	// Split a top-level a && b && c (or a || b || c) for Explain.
	var parts []ast.Node
	var split func(n ast.Node, ops ...string) bool
	split = func(n ast.Node, ops ...string) bool {
		b, ok := n.(*ast.BinaryNode)
		if !ok || (b.Operator != ops[0] && b.Operator != ops[1]) {
			parts = append(parts, n)
			return false
		}
		split(b.Left, ops...)
		split(b.Right, ops...)
		return true
	}
	if split(tree.Node, "&&", "and") {
		m.or = false
	} else if parts = nil; split(tree.Node, "||", "or") {
		m.or = true
	} else {
		return m, nil
	}
	progs := make([]*program, 0, len(parts))
	for _, n := range parts {
		p, err := compileProgram(n.String())
		if err != nil {
			m.or = false
			return m, nil // explain as one condition
		}
		progs = append(progs, p)
	}
	m.parts = progs
	return m, nil
}

// nowVisitor finds uses of the variable now.
type nowVisitor struct{ found bool }

func (v *nowVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && id.Value == "now" {
		v.found = true
	}
}
