package segment

import "encoding/json"

// Filter is a rule in Voucherify's filter JSON format.
// (Placeholder: the segments issue replaces it with the parsed form.)
type Filter struct {
	raw json.RawMessage
}
