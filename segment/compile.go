package segment

// CompileFilter compiles a filter into a Matcher, checking every field path,
// operator and value; a problem is a *FilterError.
func (ev DefaultEvaluator) CompileFilter(f *Filter) (Matcher, error) {
	return nil, filterErr("", "", "not implemented yet")
}
