// Package segment defines customer segments: static lists, or rules written
// as Voucherify filter JSON or expr-lang expressions, compiled once into a
// fast [Matcher] by an [Evaluator]; their sync status; and the membership
// changes (customer.segment.entered / customer.segment.left) that drive
// automatic distributions.
package segment
