package distribution

import (
	"time"

	"github.com/codedrop/codedrop/customer"
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

// Check returns why customer c may not receive a message under p, or ""
// when it may: ReasonUnsubscribed, or ReasonConsentMissing followed by ": "
// and the first required consent id c has not granted. A disabled policy
// lets everyone through.
func (p ConsentPolicy) Check(c *customer.Customer) string {
	if p.Disabled {
		return ""
	}
	if c.Consents.Unsubscribed {
		return ReasonUnsubscribed
	}
	for _, id := range p.Required {
		if !c.Consents.Granted(id) {
			return ReasonConsentMissing + ": " + id
		}
	}
	return ""
}
