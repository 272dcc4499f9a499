package customer

import (
	"fmt"
	"time"

	"github.com/codedrop/codedrop/internal/errs"
	"github.com/codedrop/codedrop/internal/ids"
)

// Errors that callers branch on with errors.Is. They are the same values in
// every codedrop package.
var (
	ErrNotFound = errs.NotFound
	ErrConflict = errs.Conflict
	ErrInvalid  = errs.Invalid
)

// IDPrefix starts every library-assigned customer id ("cust_...").
const IDPrefix = "cust"

// NewID returns a fresh customer id.
func NewID() string { return ids.New(IDPrefix) }

// Customer is one customer profile.
//
// SourceID is the host's (or Intercom's) user id: unique when set, and it
// cannot change once set. ID is assigned by the library.
type Customer struct {
	ID          string   `json:"id"`
	SourceID    string   `json:"source_id,omitempty"`
	Name        string   `json:"name,omitempty"`
	Email       string   `json:"email,omitempty"`
	Phone       string   `json:"phone,omitempty"`
	Description string   `json:"description,omitempty"`
	Birthdate   Date     `json:"birthdate,omitzero"`
	Address     Address  `json:"address,omitzero"`
	Metadata    Metadata `json:"metadata,omitempty"`
	Consents    Consents `json:"consents,omitzero"`
	Timezone    string   `json:"timezone,omitempty"` // IANA name such as "Europe/Warsaw"; empty when unknown
	// Summary is kept by the library from order and redemption events; an
	// upsert of the profile leaves it as stored.
	Summary   Summary   `json:"summary,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Address is a customer's postal address.
type Address struct {
	Line1      string `json:"line_1,omitempty"`
	Line2      string `json:"line_2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// Metadata holds a customer's custom attributes. Values are typed:
//
//	string               string, image_url, and undefined keys
//	float64              number
//	bool                 boolean
//	Date                 date
//	time.Time            datetime
//	map[string]any       object
//	GeoPoint             geopoint
//	[]any                an array property (elements of the types above)
//	nil                  an explicit null
//
// [Schema.Parse] and [Schema.Validate] produce and check these types.
type Metadata map[string]any

// Clone returns a copy of m whose arrays and objects are copied too, so the
// copy can be changed without touching m.
func (m Metadata) Clone() Metadata {
	if m == nil {
		return nil
	}
	out := make(Metadata, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = cloneValue(e)
		}
		return out
	default:
		return v
	}
}

// GeoPoint is a metadata value of type geopoint.
type GeoPoint struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// Date is a calendar date without a time or time zone, such as a birthdate.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses an ISO 8601 date ("2006-01-02").
func ParseDate(s string) (Date, error) {
	// By hand: time.Parse is several times slower, and CSV imports parse
	// a date or two per row.
	num := func(s string) (int, bool) {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		y, ok1 := num(s[:4])
		m, ok2 := num(s[5:7])
		d, ok3 := num(s[8:])
		if date := (Date{y, time.Month(m), d}); ok1 && ok2 && ok3 && date.valid() {
			return date, nil
		}
	}
	return Date{}, fmt.Errorf("%w: %q is not a date (want YYYY-MM-DD)", ErrInvalid, s)
}

// DateOf returns the date on which t falls in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsZero reports whether d is the zero Date (no date).
func (d Date) IsZero() bool { return d == Date{} }

// String formats d as "2006-01-02", or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// In returns midnight at the start of d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; empty text is the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Consents are a customer's marketing consents.
type Consents struct {
	// Unsubscribed opts the customer out of all marketing, whatever the
	// individual consents say.
	Unsubscribed   bool      `json:"unsubscribed,omitempty"`
	UnsubscribedAt time.Time `json:"unsubscribed_at,omitzero"`
	// Status maps a consent id (such as "cnst_...") to its state.
	Status map[string]ConsentStatus `json:"status,omitempty"`
}

// ConsentStatus is the state of one consent for one customer.
type ConsentStatus struct {
	Granted bool      `json:"granted"`
	At      time.Time `json:"at"` // when it was last granted or revoked
}

// Granted reports whether consent id is granted (regardless of Unsubscribed).
func (c Consents) Granted(id string) bool { return c.Status[id].Granted }

// Clone returns a deep copy of c.
func (c Consents) Clone() Consents {
	if c.Status != nil {
		st := make(map[string]ConsentStatus, len(c.Status))
		for k, v := range c.Status {
			st[k] = v
		}
		c.Status = st
	}
	return c
}

// Clone returns a deep copy of c (metadata and consents included).
func (c Customer) Clone() Customer {
	c.Metadata = c.Metadata.Clone()
	c.Consents = c.Consents.Clone()
	return c
}

// Merge returns stored updated with the non-empty fields of update:
// non-empty strings, a non-zero Birthdate, each non-empty Address field,
// metadata keys (a nil value deletes the key), and consent entries.
// Unsubscribed becomes true when update says so. ID, SourceID and CreatedAt
// stay those of stored (SourceID is taken from update when stored has none).
func Merge(stored, update Customer) Customer {
	out := stored.Clone()
	setStr := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	if out.SourceID == "" {
		out.SourceID = update.SourceID
	}
	setStr(&out.Name, update.Name)
	setStr(&out.Email, update.Email)
	setStr(&out.Phone, update.Phone)
	setStr(&out.Description, update.Description)
	setStr(&out.Timezone, update.Timezone)
	if !update.Birthdate.IsZero() {
		out.Birthdate = update.Birthdate
	}
	setStr(&out.Address.Line1, update.Address.Line1)
	setStr(&out.Address.Line2, update.Address.Line2)
	setStr(&out.Address.City, update.Address.City)
	setStr(&out.Address.State, update.Address.State)
	setStr(&out.Address.PostalCode, update.Address.PostalCode)
	setStr(&out.Address.Country, update.Address.Country)
	for k, v := range update.Metadata {
		if out.Metadata == nil {
			out.Metadata = Metadata{}
		}
		if v == nil {
			delete(out.Metadata, k)
			continue
		}
		out.Metadata[k] = cloneValue(v)
	}
	if update.Consents.Unsubscribed {
		out.Consents.Unsubscribed = true
		out.Consents.UnsubscribedAt = update.Consents.UnsubscribedAt
	}
	for k, v := range update.Consents.Status {
		if out.Consents.Status == nil {
			out.Consents.Status = map[string]ConsentStatus{}
		}
		out.Consents.Status[k] = v
	}
	if !update.UpdatedAt.IsZero() {
		out.UpdatedAt = update.UpdatedAt
	}
	return out
}

// Summary holds figures the library keeps per customer from events (orders,
// redemptions); segment rules can use them ("summary.orders.total_count").
type Summary struct {
	Orders      OrderSummary      `json:"orders,omitzero"`
	Redemptions RedemptionSummary `json:"redemptions,omitzero"`
}

// OrderSummary aggregates a customer's orders.
type OrderSummary struct {
	TotalAmount     float64   `json:"total_amount"`
	TotalCount      int       `json:"total_count"`
	AverageAmount   float64   `json:"average_amount"`
	LastOrderAmount float64   `json:"last_order_amount"`
	LastOrderDate   time.Time `json:"last_order_date,omitzero"`
}

// RedemptionSummary counts a customer's voucher redemptions.
type RedemptionSummary struct {
	TotalSucceeded  int `json:"total_succeeded"`
	TotalFailed     int `json:"total_failed"`
	TotalRolledBack int `json:"total_rolled_back"`
}

// IsZero reports whether c holds no consent information at all.
func (c Consents) IsZero() bool {
	return !c.Unsubscribed && c.UnsubscribedAt.IsZero() && len(c.Status) == 0
}
