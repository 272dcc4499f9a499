package segment

// CompileExpression compiles an expr-lang expression over the customer
// environment into a Matcher; a problem is a *FilterError with Path
// "expression".
func (ev DefaultEvaluator) CompileExpression(src string) (Matcher, error) {
	return nil, filterErr("expression", "", "not implemented yet")
}
