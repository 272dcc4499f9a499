// Package segment defines customer segments: static lists, or rules written
// as Voucherify filter JSON or expr-lang expressions, compiled once into a
// fast [Matcher] by an [Evaluator]; their sync status; and the membership
// changes (customer.segment.entered / customer.segment.left) that drive
// automatic distributions.
//
// # Segments
//
// A [Segment] is [Static] (a list of at most [MaxStaticCustomers] customer
// ids), [AutoUpdate] (a rule; membership changes are emitted as
// [EventEntered] and [EventLeft]) or [Passive] (a rule; no events). Rule
// segments are Syncing until every customer has been checked against the
// rule, then Synced; while syncing, SyncChecked of SyncTotal customers
// have been checked (stored after every batch, so every replica sees the
// progress).
//
// # Engine
//
// An [Engine] keeps memberships current and persists them through a
// [Store] (store.Memory, store/postgres, or the host's own). Its owner
// (distribution.Manager) calls:
//
//	eng, err := segment.NewEngine(ctx, segment.Config{Store: st, Customers: st})
//	seg, err := eng.Create(ctx, segment.Segment{Name: "Intercom", Type: segment.AutoUpdate,
//		Filter: segment.MustParseFilter(`{"junction":"and","metadata.source":{"conditions":{"$is":["Intercom"]}}}`)})
//	res, err := eng.Sync(ctx, seg.ID, progress)       // checks every customer, in batches
//	err = eng.RefreshSince(ctx, began)                 // rules as in the store (another replica's edits)
//	changes, err := eng.CustomersChanged(ctx, stored) // after each write: one Match per customer and rule segment
//	changes, err = eng.CustomerDeleted(ctx, id)
//	seg, changed, err := eng.Update(ctx, seg)         // new name, rule or type; Sync again when changed
//	res, err = eng.Resync(ctx, progress)              // periodically: rules relative to now
//	ex, err := eng.Explain(ctx, seg.ID, c)            // why is (or isn't) c in the segment?
//
// A [Change] with Emit set is to be published as [Change.EventType].
//
// Optional interfaces of the Store make the Engine cheaper where it has
// the most work: [Versioner] (RefreshSince reads one number, not every
// segment), [MembershipBatcher] (a written batch costs one membership read
// and one write), [SyncBatchWriter] (a sync batch is one write) and, of
// Config.Customers, [CustomerScanner] (a full sync over a large in-memory
// population allocates next to nothing per customer). store.Memory and
// store/postgres implement them all.
//
// When Config.Customers is also a [FilterPusher] (store/postgres is), the
// sync of a Filter segment reads only the customers the store selects
// (in SQL, through its indexes) and re-checks the former members it left
// out, instead of scanning every customer; the members are the same.
//
// # Filter JSON
//
// [ParseFilter] reads filters as Voucherify writes them: a "junction" ("and"
// or "or") and one key per field path holding {"conditions": {"$op":
// value}}, the value a scalar or an array. Fields: id, source_id, name,
// email, phone, description, timezone, birthdate, created_at, updated_at,
// address.{line_1,line_2,city,state,postal_code,country}, metadata.<key>
// (nested: metadata.<key>.<key>), system.metadata.consents.unsubscribed,
// system.metadata.consents.<consent id> (or consents.<consent id>: granted),
// summary.orders.{total_amount,total_count,average_amount,last_order_amount,
// last_order_date} and summary.redemptions.{total_succeeded,total_failed,
// total_rolled_back}.
//
// A value compares as the field's type: built-in fields have theirs,
// metadata takes the type of its [customer.Schema] property (given to
// [DefaultEvaluator]), and metadata without a schema compares by the stored
// value (a string that reads as a number compares as one with the number
// operators). The operators:
//
//	$is, $in              equal to one of the values
//	$is_not, $not_in      equal to none of them (true when there is no value)
//	$has_value            has a value (not missing, null, "" or an empty array)
//	$is_unknown           has none
//	$contains, $starts_with, $ends_with   text tests, case-sensitive; $not_contain
//	$more_than, $less_than, $more_than_equal, $less_than_equal
//	                      numbers; on dates: more/less than N days ago
//	$after, $before       dates and date-times
//	$is_days_ago, $is_days_in_future      the date is exactly N days from today
//	$more_than_ago, $less_than_ago        more / less than N days before now
//	$more_than_future, $less_than_future  more / less than N days after now
//	$count, $count_less, $count_more      number of values of an array
//	$next_month           the date's month (any year) is next month; [false] negates
//
// On an array value, positive tests hold when any element passes, negative
// ones ($is_not, $not_in, $not_contain) when none does. Calendar dates are
// compared as dates; a date-time against a date compares its UTC date;
// date-times compare as instants whatever their offsets. "Now" is the time
// passed to Match (the Engine's clock), and "today" is now's UTC date.
// Several operators on one field combine with the field's "junction"
// (default "and"); the key "groups" holds nested filters (an extension).
//
// # Expressions
//
// [Segment.Expression] is an expr-lang expression (https://expr-lang.org)
// that must be a boolean, type-checked when compiled:
//
//	metadata.ltv > 100 && email endsWith "@acme.com"
//	now - created_at > duration("720h") && summary.orders.total_count == 0
//	"vip" in metadata.tags || consents.status["cnst_news"].Granted
//
// Its variables: id, source_id, name, email, phone, description, timezone
// (strings); birthdate, created_at, updated_at, now (time.Time; a zero time
// when unknown); address.<field>; metadata (map[string]any) and
// metadata.<key> (any); consents.unsubscribed (bool) and consents.status
// (map of consent id to customer.ConsentStatus); summary.orders.<field> and
// summary.redemptions.<field>. The builtin now() is disabled: use now, the
// evaluator's clock. An expression that fails at run time (comparing a
// missing metadata value with a number) does not match; write
// (metadata.ltv ?? 0) > 100 to give a default.
//
// # Errors
//
// A rule that does not compile is a [*FilterError] naming the field path and
// the operator; it matches [ErrInvalid]:
//
//	var fe *segment.FilterError
//	if errors.As(err, &fe) {
//		fmt.Println(fe.Path, fe.Operator, fe.Err)
//	}
//
// [ErrNotFound] and [ErrConflict] are the same values as in the other
// codedrop packages.
package segment
