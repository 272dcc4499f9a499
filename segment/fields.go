package segment

import (
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
)

// field reads one customer field for a filter condition.
type field struct {
	kind  kind // kAny for metadata the schema does not type
	array bool // the schema says the property holds several values
	// metaKey is the key of a top-level metadata field ("" otherwise), for
	// the fast paths of compiled conditions.
	metaKey string
	// get returns the value and whether the customer has one.
	get func(c *customer.Customer) (value, bool)
}

func strField(f func(c *customer.Customer) string) field {
	return field{kind: kString, get: func(c *customer.Customer) (value, bool) {
		s := f(c)
		return value{k: kString, s: s}, s != ""
	}}
}

func numField(f func(c *customer.Customer) float64) field {
	return field{kind: kNumber, get: func(c *customer.Customer) (value, bool) {
		return value{k: kNumber, n: f(c)}, true
	}}
}

func timeField(f func(c *customer.Customer) time.Time) field {
	return field{kind: kTime, get: func(c *customer.Customer) (value, bool) {
		t := f(c)
		return value{k: kTime, t: t}, !t.IsZero()
	}}
}

// builtinFields are the customer fields a filter may name besides
// metadata and consents.
var builtinFields = map[string]field{
	"id":          strField(func(c *customer.Customer) string { return c.ID }),
	"source_id":   strField(func(c *customer.Customer) string { return c.SourceID }),
	"name":        strField(func(c *customer.Customer) string { return c.Name }),
	"email":       strField(func(c *customer.Customer) string { return c.Email }),
	"phone":       strField(func(c *customer.Customer) string { return c.Phone }),
	"description": strField(func(c *customer.Customer) string { return c.Description }),
	"timezone":    strField(func(c *customer.Customer) string { return c.Timezone }),
	"birthdate": {kind: kDate, get: func(c *customer.Customer) (value, bool) {
		return value{k: kDate, t: c.Birthdate.In(time.UTC)}, !c.Birthdate.IsZero()
	}},
	"created_at":          timeField(func(c *customer.Customer) time.Time { return c.CreatedAt }),
	"updated_at":          timeField(func(c *customer.Customer) time.Time { return c.UpdatedAt }),
	"address.line_1":      strField(func(c *customer.Customer) string { return c.Address.Line1 }),
	"address.line_2":      strField(func(c *customer.Customer) string { return c.Address.Line2 }),
	"address.city":        strField(func(c *customer.Customer) string { return c.Address.City }),
	"address.state":       strField(func(c *customer.Customer) string { return c.Address.State }),
	"address.postal_code": strField(func(c *customer.Customer) string { return c.Address.PostalCode }),
	"address.country":     strField(func(c *customer.Customer) string { return c.Address.Country }),
	"system.metadata.consents.unsubscribed": {kind: kBool, get: func(c *customer.Customer) (value, bool) {
		return value{k: kBool, b: c.Consents.Unsubscribed}, true
	}},
	"summary.orders.total_amount":         numField(func(c *customer.Customer) float64 { return c.Summary.Orders.TotalAmount }),
	"summary.orders.total_count":          numField(func(c *customer.Customer) float64 { return float64(c.Summary.Orders.TotalCount) }),
	"summary.orders.average_amount":       numField(func(c *customer.Customer) float64 { return c.Summary.Orders.AverageAmount }),
	"summary.orders.last_order_amount":    numField(func(c *customer.Customer) float64 { return c.Summary.Orders.LastOrderAmount }),
	"summary.orders.last_order_date":      timeField(func(c *customer.Customer) time.Time { return c.Summary.Orders.LastOrderDate }),
	"summary.redemptions.total_succeeded": numField(func(c *customer.Customer) float64 { return float64(c.Summary.Redemptions.TotalSucceeded) }),
	"summary.redemptions.total_failed":    numField(func(c *customer.Customer) float64 { return float64(c.Summary.Redemptions.TotalFailed) }),
	"summary.redemptions.total_rolled_back": numField(func(c *customer.Customer) float64 {
		return float64(c.Summary.Redemptions.TotalRolledBack)
	}),
}

// fieldAliases are other spellings of built-in fields.
var fieldAliases = map[string]string{
	"birthday":              "birthdate", // Voucherify's deprecated name
	"consents.unsubscribed": "system.metadata.consents.unsubscribed",
}

// fieldList names the fields for error messages.
const fieldList = "id, source_id, name, email, phone, description, timezone, birthdate, created_at, updated_at, " +
	"address.{line_1,line_2,city,state,postal_code,country}, metadata.<key>, " +
	"system.metadata.consents.unsubscribed, system.metadata.consents.<consent id>, " +
	"summary.orders.{total_amount,total_count,average_amount,last_order_amount,last_order_date}, " +
	"summary.redemptions.{total_succeeded,total_failed,total_rolled_back}"

var schemaKinds = map[customer.PropertyType]kind{
	customer.TypeString:   kString,
	customer.TypeImageURL: kString,
	customer.TypeNumber:   kNumber,
	customer.TypeBoolean:  kBool,
	customer.TypeDate:     kDate,
	customer.TypeDatetime: kTime,
	customer.TypeObject:   kAny,
	customer.TypeGeoPoint: kOther,
}

// resolve finds the field a path names.
func (ev DefaultEvaluator) resolve(path string) (field, error) {
	if a, ok := fieldAliases[path]; ok {
		path = a
	}
	if f, ok := builtinFields[path]; ok {
		return f, nil
	}
	if key, ok := strings.CutPrefix(path, "metadata."); ok && key != "" {
		return ev.metadataField(path, key)
	}
	for _, prefix := range []string{"system.metadata.consents.", "consents."} {
		if id, ok := strings.CutPrefix(path, prefix); ok && id != "" {
			return field{kind: kBool, get: func(c *customer.Customer) (value, bool) {
				st, ok := c.Consents.Status[id]
				return value{k: kBool, b: st.Granted}, ok
			}}, nil
		}
	}
	return field{}, filterErr(path, "", "unknown field (fields are %s)", fieldList)
}

func (ev DefaultEvaluator) metadataField(path, key string) (field, error) {
	f := field{kind: kAny}
	parts := strings.Split(key, ".")
	for _, p := range parts {
		if p == "" {
			return field{}, filterErr(path, "", "empty metadata key segment")
		}
	}
	if ev.Schema != nil {
		prop, ok := ev.Schema.Properties[key]
		if !ok || prop.Deleted {
			prop, ok = ev.Schema.Properties[parts[0]]
			if ok && !prop.Deleted && len(parts) > 1 && prop.Type != customer.TypeObject {
				return field{}, filterErr(path, "", "metadata %q is a %s, not an object with keys", parts[0], prop.Type)
			}
			ok = ok && !prop.Deleted && len(parts) > 1
			if !ok && ev.Schema.AllowDefinedOnly {
				return field{}, filterErr(path, "", "metadata key %q is not defined in the schema", key)
			}
		} else {
			k, known := schemaKinds[prop.Type]
			if !known {
				return field{}, filterErr(path, "", "metadata %q has unknown schema type %q", key, prop.Type)
			}
			f.kind, f.array = k, prop.Array
		}
	}
	if len(parts) == 1 {
		f.metaKey = key
		f.get = func(c *customer.Customer) (value, bool) { return fromAny(c.Metadata[key]) }
	} else {
		f.get = func(c *customer.Customer) (value, bool) {
			if v, ok := c.Metadata[key]; ok { // a flat key with dots wins
				return fromAny(v)
			}
			var cur any = map[string]any(c.Metadata)
			for _, p := range parts {
				m, ok := cur.(map[string]any)
				if !ok {
					return value{}, false
				}
				cur = m[p]
			}
			return fromAny(cur)
		}
	}
	return f, nil
}
