package intercom

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/codedrop/codedrop/customer"
)

// DataAttribute is an Intercom data attribute (a contact or company field).
type DataAttribute struct {
	ID          int64  `json:"id,omitempty"`
	Model       string `json:"model"`
	Name        string `json:"name"`
	FullName    string `json:"full_name,omitempty"`
	Label       string `json:"label,omitempty"`
	Description string `json:"description,omitempty"`
	// DataType is string, integer, float, boolean or date (Intercom
	// reports datetime attributes as date).
	DataType          string   `json:"data_type"`
	Options           []string `json:"-"`
	Custom            bool     `json:"custom"`
	Archived          bool     `json:"archived"`
	APIWritable       bool     `json:"api_writable"`
	MessengerWritable bool     `json:"messenger_writable"`
}

// DataAttributeInput creates a custom data attribute.
type DataAttributeInput struct {
	// Name is the attribute's name (custom_attributes key). Required.
	Name string
	// Model is "contact" (default) or "company".
	Model string
	// DataType is string, integer, float, boolean, datetime, date or
	// options (then Options needs at least two values). Required.
	DataType          string
	Description       string
	Options           []string
	MessengerWritable bool
}

type wireOption struct {
	Value string `json:"value"`
}

type wireDataAttribute struct {
	DataAttribute
	WireOptions []wireOption `json:"options,omitempty"`
}

// DataAttributes lists the data attributes of model ("contact" or
// "company"; empty lists both) (GET /data_attributes).
func (c *Client) DataAttributes(ctx context.Context, model string) ([]DataAttribute, error) {
	var q url.Values
	if model != "" {
		q = url.Values{"model": {model}}
	}
	var out struct {
		Data []wireDataAttribute `json:"data"`
	}
	if err := c.do(ctx, &request{method: http.MethodGet, path: "/data_attributes", query: q, replayable: true}, &out); err != nil {
		return nil, err
	}
	attrs := make([]DataAttribute, len(out.Data))
	for i, w := range out.Data {
		attrs[i] = w.attribute()
	}
	return attrs, nil
}

func (w wireDataAttribute) attribute() DataAttribute {
	a := w.DataAttribute
	for _, o := range w.WireOptions {
		a.Options = append(a.Options, o.Value)
	}
	return a
}

var dataTypes = []string{"string", "integer", "float", "boolean", "datetime", "date", "options"}

// CreateDataAttribute creates a custom data attribute (POST /data_attributes).
// A create that may have reached Intercom fails with ErrAmbiguous; list
// the attributes before repeating it.
func (c *Client) CreateDataAttribute(ctx context.Context, in DataAttributeInput) (DataAttribute, error) {
	if in.Model == "" {
		in.Model = "contact"
	}
	switch {
	case in.Name == "":
		return DataAttribute{}, fmt.Errorf("%w: data attribute: Name is required", ErrInvalid)
	case in.Model != "contact" && in.Model != "company":
		return DataAttribute{}, fmt.Errorf("%w: data attribute %q: Model %q is not contact or company", ErrInvalid, in.Name, in.Model)
	case !slices.Contains(dataTypes, in.DataType):
		return DataAttribute{}, fmt.Errorf("%w: data attribute %q: DataType %q is not one of %v", ErrInvalid, in.Name, in.DataType, dataTypes)
	case in.DataType == "options" && len(in.Options) < 2:
		return DataAttribute{}, fmt.Errorf("%w: data attribute %q: DataType options needs at least two Options", ErrInvalid, in.Name)
	}
	body := struct {
		Name              string       `json:"name"`
		Model             string       `json:"model"`
		DataType          string       `json:"data_type"`
		Description       string       `json:"description,omitempty"`
		Options           []wireOption `json:"options,omitempty"`
		MessengerWritable bool         `json:"messenger_writable,omitempty"`
	}{Name: in.Name, Model: in.Model, DataType: in.DataType, Description: in.Description, MessengerWritable: in.MessengerWritable}
	for _, o := range in.Options {
		body.Options = append(body.Options, wireOption{o})
	}
	req, err := newRequest(http.MethodPost, "/data_attributes", &body)
	if err != nil {
		return DataAttribute{}, err
	}
	var w wireDataAttribute
	if err := c.do(ctx, req, &w); err != nil {
		return DataAttribute{}, err
	}
	return w.attribute(), nil
}

// DataType returns the Intercom data_type that holds values of a customer
// metadata property: string for string, image_url, object, geopoint and
// arrays (sent as text), float for number, boolean, date and datetime.
func DataType(p customer.Property) string {
	if p.Array {
		return "string"
	}
	switch p.Type {
	case customer.TypeNumber:
		return "float"
	case customer.TypeBoolean:
		return "boolean"
	case customer.TypeDate:
		return "date"
	case customer.TypeDatetime:
		return "datetime"
	}
	return "string"
}

// MirrorSchema creates a contact data attribute for every property of
// schema that Intercom does not have yet (deleted properties are skipped),
// so custom attributes can carry the customer metadata. It returns the
// attributes it created, in name order. Running it again creates nothing.
func (c *Client) MirrorSchema(ctx context.Context, schema customer.Schema) ([]DataAttribute, error) {
	existing, err := c.DataAttributes(ctx, "contact")
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(existing))
	for _, a := range existing {
		have[a.Name] = true
	}
	names := make([]string, 0, len(schema.Properties))
	for name, p := range schema.Properties {
		if !p.Deleted && !have[name] {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var created []DataAttribute
	for _, name := range names {
		a, err := c.CreateDataAttribute(ctx, DataAttributeInput{Name: name, Model: "contact", DataType: DataType(schema.Properties[name]),
			Description: "Mirrored from codedrop customer metadata"})
		if err != nil {
			return created, fmt.Errorf("intercom: mirroring metadata property %q: %w", name, err)
		}
		created = append(created, a)
	}
	return created, nil
}
