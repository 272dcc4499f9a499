package segment

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// exprVar is one variable of the expression environment.
type exprVar struct {
	typ types.Type
	get func(c *customer.Customer, now time.Time) any
}

// exprVars are the variables an expression may use, by their dotted path;
// the package overview lists them. Expressions are compiled over a flat
// map: a member chain such as summary.orders.total_count or
// metadata.source is rewritten into one variable, so a run reads plain map
// entries instead of walking structs by reflection.
var exprVars = map[string]exprVar{
	"id":          {types.String, func(c *customer.Customer, _ time.Time) any { return c.ID }},
	"source_id":   {types.String, func(c *customer.Customer, _ time.Time) any { return c.SourceID }},
	"name":        {types.String, func(c *customer.Customer, _ time.Time) any { return c.Name }},
	"email":       {types.String, func(c *customer.Customer, _ time.Time) any { return c.Email }},
	"phone":       {types.String, func(c *customer.Customer, _ time.Time) any { return c.Phone }},
	"description": {types.String, func(c *customer.Customer, _ time.Time) any { return c.Description }},
	"timezone":    {types.String, func(c *customer.Customer, _ time.Time) any { return c.Timezone }},
	"birthdate": {types.TypeOf(time.Time{}), func(c *customer.Customer, _ time.Time) any {
		if c.Birthdate.IsZero() {
			return time.Time{}
		}
		return c.Birthdate.In(time.UTC)
	}},
	"created_at":          {types.TypeOf(time.Time{}), func(c *customer.Customer, _ time.Time) any { return c.CreatedAt }},
	"updated_at":          {types.TypeOf(time.Time{}), func(c *customer.Customer, _ time.Time) any { return c.UpdatedAt }},
	"now":                 {types.TypeOf(time.Time{}), func(_ *customer.Customer, now time.Time) any { return now }},
	"address.line_1":      {types.String, func(c *customer.Customer, _ time.Time) any { return c.Address.Line1 }},
	"address.line_2":      {types.String, func(c *customer.Customer, _ time.Time) any { return c.Address.Line2 }},
	"address.city":        {types.String, func(c *customer.Customer, _ time.Time) any { return c.Address.City }},
	"address.state":       {types.String, func(c *customer.Customer, _ time.Time) any { return c.Address.State }},
	"address.postal_code": {types.String, func(c *customer.Customer, _ time.Time) any { return c.Address.PostalCode }},
	"address.country":     {types.String, func(c *customer.Customer, _ time.Time) any { return c.Address.Country }},
	"metadata": {types.TypeOf(map[string]any{}), func(c *customer.Customer, _ time.Time) any {
		return map[string]any(c.Metadata) // not customer.Metadata: no methods to call
	}},
	"consents.unsubscribed": {types.Bool, func(c *customer.Customer, _ time.Time) any { return c.Consents.Unsubscribed }},
	"consents.status": {types.TypeOf(map[string]customer.ConsentStatus{}), func(c *customer.Customer, _ time.Time) any {
		return c.Consents.Status
	}},
	"summary.orders.total_amount":      {types.Float64, func(c *customer.Customer, _ time.Time) any { return c.Summary.Orders.TotalAmount }},
	"summary.orders.total_count":       {types.Int, func(c *customer.Customer, _ time.Time) any { return c.Summary.Orders.TotalCount }},
	"summary.orders.average_amount":    {types.Float64, func(c *customer.Customer, _ time.Time) any { return c.Summary.Orders.AverageAmount }},
	"summary.orders.last_order_amount": {types.Float64, func(c *customer.Customer, _ time.Time) any { return c.Summary.Orders.LastOrderAmount }},
	"summary.orders.last_order_date": {types.TypeOf(time.Time{}), func(c *customer.Customer, _ time.Time) any {
		return c.Summary.Orders.LastOrderDate
	}},
	"summary.redemptions.total_succeeded": {types.Int, func(c *customer.Customer, _ time.Time) any {
		return c.Summary.Redemptions.TotalSucceeded
	}},
	"summary.redemptions.total_failed": {types.Int, func(c *customer.Customer, _ time.Time) any {
		return c.Summary.Redemptions.TotalFailed
	}},
	"summary.redemptions.total_rolled_back": {types.Int, func(c *customer.Customer, _ time.Time) any {
		return c.Summary.Redemptions.TotalRolledBack
	}},
}

// exprPrefixes are the leading parts of exprVars' dotted paths.
var exprPrefixes = map[string]bool{"address": true, "consents": true, "summary": true, "summary.orders": true, "summary.redemptions": true}

// flattener rewrites member chains over the environment (metadata.ltv,
// summary.orders.total_count) into single variables and records the
// variables an expression uses.
type flattener struct {
	used     map[string]bool
	metaOnly bool // flatten metadata.<key> to <key> (see program.metaOnly)
}

func (f *flattener) Visit(n *ast.Node) {
	switch node := (*n).(type) {
	case *ast.IdentifierNode:
		f.use(node.Value)
	case *ast.MemberNode:
		id, ok := node.Node.(*ast.IdentifierNode)
		prop, isStr := node.Property.(*ast.StringNode)
		if !ok || !isStr || node.Method {
			return
		}
		path := id.Value + "." + prop.Value
		if _, known := exprVars[path]; !known && id.Value != "metadata" && !exprPrefixes[path] && !exprPrefixes[id.Value] {
			return
		}
		name := path
		if f.metaOnly {
			name = prop.Value
		}
		flat := &ast.IdentifierNode{Value: name}
		flat.SetLocation(node.Location())
		ast.Patch(n, flat)
		f.use(path)
	}
}

func (f *flattener) use(name string) {
	if _, ok := exprVars[name]; ok || strings.HasPrefix(name, "metadata.") {
		f.used[name] = true
	}
}

// identVisitor records the environment variables a tree reads.
type identVisitor struct{ *flattener }

func (v identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		v.use(id.Value)
	}
}

// exprRef is a variable one program reads.
type exprRef struct {
	name string
	get  func(c *customer.Customer, now time.Time) any
}

// exprState is the per-evaluation scratch space, pooled.
type exprState struct {
	env map[string]any
	vm  vm.VM
}

// program is one compiled expression.
type program struct {
	src  string
	prog *vm.Program
	refs []exprRef // the variables to set before a run
	// metaOnly: the expression reads only metadata keys, flattened to their
	// bare names, and runs over the customer's metadata map.
	metaOnly bool
	pool     *sync.Pool
}

func compileProgram(src string) (*program, error) {
	// Find the variables the expression reads, with member chains flattened.
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, err
	}
	ast.Walk(&tree.Node, &flattener{used: map[string]bool{}})
	names := &flattener{used: map[string]bool{}}
	ast.Walk(&tree.Node, identVisitor{names})

	// An expression that reads only metadata keys runs with the customer's
	// metadata map itself as its environment: nothing is copied per run.
	metaOnly := len(names.used) > 0
	for name := range names.used {
		key, isMeta := strings.CutPrefix(name, "metadata.")
		_, builtin := builtin.Index[key]
		metaOnly = metaOnly && isMeta && !builtin && key != "$env"
	}
	env := types.Map{}
	if metaOnly {
		for name := range names.used {
			env[strings.TrimPrefix(name, "metadata.")] = types.Any
		}
	} else {
		for name, v := range exprVars {
			env[name] = v.typ
		}
		for name := range names.used {
			if strings.HasPrefix(name, "metadata.") {
				env[name] = types.Any
			}
		}
	}
	prog, err := expr.Compile(src, expr.Env(env), expr.Patch(&flattener{used: map[string]bool{}, metaOnly: metaOnly}),
		expr.AsBool(), expr.DisableBuiltin("now"), expr.Timezone("UTC"))
	if err != nil {
		return nil, err
	}
	p := &program{src: src, prog: prog, metaOnly: metaOnly}
	if !metaOnly {
		for name := range names.used {
			p.refs = append(p.refs, exprRef{name: name, get: refGetter(name)})
		}
	}
	n := len(p.refs)
	p.pool = &sync.Pool{New: func() any { return &exprState{env: make(map[string]any, n)} }}
	return p, nil
}

func refGetter(name string) func(c *customer.Customer, now time.Time) any {
	if v, ok := exprVars[name]; ok {
		return v.get
	}
	key := strings.TrimPrefix(name, "metadata.")
	return func(c *customer.Customer, _ time.Time) any { return c.Metadata[key] }
}

func (p *program) run(c *customer.Customer, now time.Time) (bool, error) {
	st := p.pool.Get().(*exprState)
	env := st.env
	if p.metaOnly {
		env = c.Metadata
	} else {
		for _, r := range p.refs {
			env[r.name] = r.get(c, now)
		}
	}
	out, err := st.vm.Run(p.prog, env)
	p.pool.Put(st) // its env keeps the last customer's values until the next run: harmless, and cheaper than clearing

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
