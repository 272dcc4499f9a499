package customer

// PropertyType is the type of a metadata property, as Voucherify names it.
type PropertyType string

// The metadata property types.
const (
	TypeString   PropertyType = "string"
	TypeNumber   PropertyType = "number"
	TypeBoolean  PropertyType = "boolean"
	TypeDate     PropertyType = "date"
	TypeDatetime PropertyType = "datetime"
	TypeObject   PropertyType = "object"
	TypeGeoPoint PropertyType = "geopoint"
	TypeImageURL PropertyType = "image_url"
)

// Property defines one metadata key. Constraints that are nil or zero are
// not checked.
type Property struct {
	Type     PropertyType `json:"type"`
	Array    bool         `json:"array,omitempty"`    // multiple values
	Optional bool         `json:"optional,omitempty"` // may be absent
	// Eq lists the allowed values (strings or numbers).
	Eq []any `json:"eq,omitempty"`
	// Ne lists forbidden numbers.
	Ne []float64 `json:"ne,omitempty"`
	// Numeric bounds.
	Lt  *float64 `json:"lt,omitempty"`
	Lte *float64 `json:"lte,omitempty"`
	Gt  *float64 `json:"gt,omitempty"`
	Gte *float64 `json:"gte,omitempty"`
	// Length bounds for strings (in characters).
	MinLength   *int `json:"min_length,omitempty"`
	MaxLength   *int `json:"max_length,omitempty"`
	ExactLength *int `json:"exact_length,omitempty"`
	// Deleted marks a removed definition (kept for Voucherify compatibility;
	// a deleted property is treated as undefined).
	Deleted bool `json:"deleted,omitempty"`
}

// Schema is a customer metadata schema: typed property definitions and
// whether undefined keys are allowed. The zero Schema accepts any metadata,
// keeping undefined keys as strings.
type Schema struct {
	Properties map[string]Property `json:"properties"`
	// AllowDefinedOnly rejects metadata keys the schema does not define.
	AllowDefinedOnly bool `json:"allow_defined_only,omitempty"`
}
