package distribution

import (
	"time"

	"github.com/codedrop/codedrop/internal/ids"
)

// ConsentIDPrefix starts every consent id ("cnst_...").
const ConsentIDPrefix = "cnst"

// Consent defines a marketing consent (a permission a customer grants or
// revokes, such as "Newsletter"). Customers hold their state per consent
// id in customer.Consents.
type Consent struct {
	ID          string    `json:"id"` // "cnst_..."
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Category    string    `json:"category,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func newConsentID() string { return ids.New(ConsentIDPrefix) }
