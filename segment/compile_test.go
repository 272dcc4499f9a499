package segment

import (
	"testing"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// now is the evaluation time of the operator tests: Sunday 2026-03-15 12:00 UTC.
var now = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func date(s string) customer.Date {
	d, err := customer.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func instant(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// testCustomer has a value for most fields.
func testCustomer() customer.Customer {
	return customer.Customer{
		ID: "cust_1", SourceID: "ann@example.com", Name: "Ann Smith", Email: "ann@acme.com", Phone: "+48 600 100 200",
		Description: "A good customer", Timezone: "Europe/Warsaw",
		Birthdate: date("1990-04-20"),
		Address:   customer.Address{City: "Warsaw", Country: "Poland", PostalCode: "00-001"},
		Metadata: customer.Metadata{
			"source":     "Intercom",
			"ltv":        250.0,
			"vip":        true,
			"club_level": "Gold",
			"tags":       []any{"subscribed", "premium"},
			"scores":     []any{3.0, 7.0},
			"signup":     date("2026-03-10"),
			"last_login": instant("2026-03-14T08:00:00Z"),
			"renewal":    date("2026-03-20"),
			"as_text":    "120",
			"date_text":  "2026-03-01",
			"empty":      "",
			"null":       nil,
			"profile":    map[string]any{"tier": "pro", "seats": 12.0},
			"dotted.key": "flat",
			"location":   customer.GeoPoint{Lat: 52.2, Lng: 21},
		},
		Consents: customer.Consents{Status: map[string]customer.ConsentStatus{
			"cnst_news": {Granted: true, At: instant("2026-01-01T00:00:00Z")},
			"cnst_sms":  {Granted: false},
		}},
		Summary: customer.Summary{
			Orders:      customer.OrderSummary{TotalAmount: 54000, TotalCount: 3, AverageAmount: 18000, LastOrderAmount: 9000, LastOrderDate: instant("2026-02-13T10:00:00Z")},
			Redemptions: customer.RedemptionSummary{TotalSucceeded: 2, TotalFailed: 1},
		},
		CreatedAt: instant("2025-12-01T09:30:00Z"),
		UpdatedAt: instant("2026-03-15T11:00:00Z"),
	}
}

func condJSON(path, op, value string) string {
	return `{"junction":"and","` + path + `":{"conditions":{"` + op + `":` + value + `}}}`
}

func mustMatch(t *testing.T, ev DefaultEvaluator, filter string, c *customer.Customer) bool {
	t.Helper()
	f, err := ParseFilter([]byte(filter))
	if err != nil {
		t.Fatalf("ParseFilter(%s): %v", filter, err)
	}
	m, err := ev.CompileFilter(f)
	if err != nil {
		t.Fatalf("CompileFilter(%s): %v", filter, err)
	}
	got := m.Match(c, now)
	if ex := m.(Explainer).Explain(c, now); ex.Matched != got {
		t.Errorf("%s: Explain says matched=%v, Match says %v", filter, ex.Matched, got)
	}
	return got
}

func TestOperators(t *testing.T) {
	t.Parallel()
	c := testCustomer()
	tests := []struct {
		path, op, value string
		want            bool
	}{
		// $is / $is_not / $in / $not_in, both value forms.
		{"metadata.source", "$is", `["Intercom"]`, true},
		{"metadata.source", "$is", `"Intercom"`, true},
		{"metadata.source", "$is", `"intercom"`, false},
		{"metadata.source", "$is_not", `"Intercom"`, false},
		{"metadata.source", "$is_not", `["Web"]`, true},
		{"metadata.club_level", "$in", `["Gold","Silver"]`, true},
		{"metadata.club_level", "$in", `["Bronze","Silver"]`, false},
		{"metadata.club_level", "$not_in", `["Gold","Silver"]`, false},
		{"metadata.club_level", "$not_in", `"Bronze"`, true},
		{"address.country", "$is", `"Poland"`, true},
		{"name", "$is", `"Ann Smith"`, true},
		{"id", "$is", `"cust_1"`, true},
		{"source_id", "$is", `"ann@example.com"`, true},
		{"phone", "$is", `"+48 600 100 200"`, true},
		{"description", "$is_not", `"x"`, true},
		// Missing values: positive tests fail, negative ones hold.
		{"metadata.missing", "$is", `"x"`, false},
		{"metadata.missing", "$is_not", `"x"`, true},
		{"metadata.missing", "$not_in", `["x"]`, true},
		{"metadata.null", "$is", `"x"`, false},
		{"metadata.empty", "$not_contain", `"x"`, true},
		{"address.state", "$is", `"x"`, false},
		// Numbers compare as numbers, whatever the JSON type of the value.
		{"metadata.ltv", "$is", `250`, true},
		{"metadata.ltv", "$is", `"250"`, true},
		{"metadata.ltv", "$is", `"250.0"`, true},
		{"metadata.ltv", "$in", `[1, 250]`, true},
		{"metadata.ltv", "$is", `"abc"`, false},
		{"metadata.ltv", "$more_than", `100`, true},
		{"metadata.ltv", "$more_than", `[250]`, false},
		{"metadata.ltv", "$more_than_equal", `250`, true},
		{"metadata.ltv", "$less_than", `"300"`, true},
		{"metadata.ltv", "$less_than", `250`, false},
		{"metadata.ltv", "$less_than_equal", `250`, true},
		{"metadata.as_text", "$more_than", `100`, true}, // a numeric string (no schema) compares as a number
		{"metadata.source", "$more_than", `100`, false},
		{"metadata.missing", "$less_than", `100`, false},
		// Booleans.
		{"metadata.vip", "$is", `[true]`, true},
		{"metadata.vip", "$is", `"true"`, true},
		{"metadata.vip", "$is", `false`, false},
		{"metadata.vip", "$is_not", `false`, true},
		{"system.metadata.consents.unsubscribed", "$is", `false`, true},
		{"consents.unsubscribed", "$is", `true`, false},
		{"system.metadata.consents.cnst_news", "$is", `true`, true},
		{"consents.cnst_sms", "$is", `true`, false},
		{"consents.cnst_sms", "$has_value", `""`, true},
		{"consents.cnst_other", "$is_unknown", `""`, true},
		// Presence.
		{"email", "$has_value", `""`, true},
		{"address.state", "$has_value", `""`, false},
		{"address.state", "$is_unknown", `""`, true},
		{"metadata.empty", "$is_unknown", `[]`, true},
		{"metadata.null", "$has_value", `""`, false},
		{"metadata.profile", "$has_value", `""`, true},
		{"metadata.location", "$has_value", `""`, true},
		{"metadata.missing", "$is_unknown", `""`, true},
		// Text.
		{"email", "$ends_with", `"@acme.com"`, true},
		{"email", "$ends_with", `["@example.com", "@acme.com"]`, true},
		{"email", "$starts_with", `"ann"`, true},
		{"email", "$starts_with", `"bob"`, false},
		{"name", "$contains", `"Smi"`, true},
		{"name", "$contains", `"smi"`, false},
		{"name", "$not_contain", `"Bob"`, true},
		{"name", "$not_contain", `["Bob", "Ann"]`, false},
		{"metadata.ltv", "$contains", `"25"`, false}, // text tests never match numbers
		// Arrays: positive tests hold for any element, negative ones for none.
		{"metadata.tags", "$is", `"premium"`, true},
		{"metadata.tags", "$in", `["gold", "subscribed"]`, true},
		{"metadata.tags", "$is", `"gold"`, false},
		{"metadata.tags", "$is_not", `"premium"`, false},
		{"metadata.tags", "$not_in", `["gold"]`, true},
		{"metadata.tags", "$contains", `"prem"`, true},
		{"metadata.tags", "$not_contain", `"prem"`, false},
		{"metadata.scores", "$more_than", `5`, true},
		{"metadata.scores", "$more_than", `7`, false},
		{"metadata.tags", "$count", `2`, true},
		{"metadata.tags", "$count", `[3]`, false},
		{"metadata.tags", "$count_less", `3`, true},
		{"metadata.tags", "$count_more", `1`, true},
		{"metadata.tags", "$count_more", `2`, false},
		{"metadata.missing", "$count", `0`, true},
		{"metadata.source", "$count", `1`, true},
		// Nested metadata and flat keys with dots.
		{"metadata.profile.tier", "$is", `"pro"`, true},
		{"metadata.profile.seats", "$more_than", `10`, true},
		{"metadata.profile.missing", "$is_unknown", `""`, true},
		{"metadata.source.deeper", "$is_unknown", `""`, true},
		{"metadata.dotted.key", "$is", `"flat"`, true},
		// Dates: $after/$before compare calendar dates for dates, instants for date-times.
		{"birthdate", "$after", `"1990-04-19"`, true},
		{"birthdate", "$after", `"1990-04-20"`, false},
		{"birthdate", "$before", `["1990-04-21"]`, true},
		{"birthdate", "$is", `"1990-04-20"`, true},
		{"birthdate", "$is", `"1990-04-20T15:00:00Z"`, true}, // a date-time names its UTC date
		{"birthday", "$is", `"1990-04-20"`, true},
		{"created_at", "$after", `["2021-12-01T00:00:00.000Z"]`, true},
		{"created_at", "$after", `"2025-12-01T09:30:00Z"`, false},
		{"created_at", "$after", `"2025-12-01T10:00:00+02:00"`, true},   // = 08:00Z: instants, not wall clocks
		{"created_at", "$before", `"2025-12-01T10:30:00+01:00"`, false}, // the same instant
		{"created_at", "$before", `"2025-12-01T11:30:00+01:00"`, true},
		{"created_at", "$after", `"2025-11-30"`, true}, // a date operand: the value's UTC date must be later
		{"created_at", "$after", `"2025-12-01"`, false},
		{"created_at", "$before", `"2025-12-02"`, true},
		{"created_at", "$is", `"2025-12-01"`, true},
		{"created_at", "$is", `"2025-12-01T10:30:00+01:00"`, true},
		{"created_at", "$is", `"2025-12-01T10:30:00Z"`, false},
		{"metadata.date_text", "$before", `"2026-03-02"`, true}, // a date kept as text (no schema) still compares as a date
		{"metadata.source", "$after", `"2020-01-01"`, false},
		// Relative dates (now = 2026-03-15 12:00 UTC).
		{"metadata.signup", "$is_days_ago", `5`, true},
		{"metadata.signup", "$is_days_ago", `4`, false},
		{"metadata.last_login", "$is_days_ago", `1`, true},
		{"metadata.renewal", "$is_days_in_future", `5`, true},
		{"metadata.renewal", "$is_days_in_future", `[6]`, false},
		{"created_at", "$more_than_ago", `30`, true},
		{"created_at", "$more_than_ago", `200`, false},
		{"created_at", "$less_than_ago", `200`, true},
		{"metadata.last_login", "$less_than_ago", `1`, false}, // 28 hours ago is 1.17 days
		{"metadata.last_login", "$less_than_ago", `2`, true},
		{"metadata.last_login", "$more_than_ago", `1`, true},
		{"metadata.signup", "$less_than_ago", `5`, false},
		{"metadata.signup", "$less_than_ago", `6`, true},
		{"metadata.renewal", "$less_than_ago", `30`, false}, // the future is not "ago"
		{"metadata.renewal", "$more_than_future", `4`, true},
		{"metadata.renewal", "$more_than_future", `5`, false},
		{"metadata.renewal", "$less_than_future", `6`, true},
		{"metadata.renewal", "$less_than_future", `5`, false},
		{"metadata.signup", "$less_than_future", `30`, false},
		{"summary.orders.last_order_date", "$more_than", `30`, true}, // on dates: days ago
		{"summary.orders.last_order_date", "$less_than", `31`, true},
		{"summary.orders.last_order_date", "$more_than_equal", `31`, false},
		{"summary.orders.last_order_date", "$less_than_equal", `30`, false},
		{"metadata.date_text", "$more_than_ago", `10`, true},
		{"birthdate", "$next_month", `[true]`, true},
		{"birthdate", "$next_month", `true`, true},
		{"birthdate", "$next_month", `[false]`, false},
		{"metadata.renewal", "$next_month", `[true]`, false},
		{"metadata.missing", "$next_month", `[true]`, false},
		// Summary.
		{"summary.orders.total_amount", "$more_than", `50000`, true},
		{"summary.orders.total_count", "$is", `3`, true},
		{"summary.orders.average_amount", "$less_than", `20000`, true},
		{"summary.orders.last_order_amount", "$more_than_equal", `9000`, true},
		{"summary.redemptions.total_succeeded", "$more_than", `1`, true},
		{"summary.redemptions.total_failed", "$is", `1`, true},
		{"summary.redemptions.total_rolled_back", "$is", `0`, true},
		{"updated_at", "$less_than_ago", `1`, true},
		{"timezone", "$is", `"Europe/Warsaw"`, true},
	}
	for _, tt := range tests {
		filter := condJSON(tt.path, tt.op, tt.value)
		if got := mustMatch(t, DefaultEvaluator{}, filter, &c); got != tt.want {
			t.Errorf("%s %s %s = %v, want %v", tt.path, tt.op, tt.value, got, tt.want)
		}
	}
}
