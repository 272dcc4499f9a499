package distribution

import (
	"fmt"
	"strconv"
	"strings"
)

// lookup resolves the event's template tags.
func (e *Event) lookup(path string) (string, bool) {
	num := func(v float64) (string, bool) { return strconv.FormatFloat(v, 'f', -1, 64), true }
	obj, field, _ := strings.Cut(path, ".")
	switch obj {
	case "segment":
		if e.Segment != nil {
			switch field {
			case "id":
				return e.Segment.ID, true
			case "name":
				return e.Segment.Name, e.Segment.Name != ""
			}
		}
	case "order":
		if o := e.Order; o != nil {
			switch field {
			case "id":
				return o.ID, true
			case "status":
				return o.Status, true
			case "amount":
				return num(o.Amount)
			case "items_count":
				n := 0
				for _, it := range o.Items {
					n += it.Quantity
				}
				return strconv.Itoa(n), true
			case "items":
				parts := make([]string, 0, len(o.Items))
				for _, it := range o.Items {
					name := it.Name
					if name == "" {
						name = it.ProductID
					}
					parts = append(parts, fmt.Sprintf("%d × %s", it.Quantity, name))
				}
				return strings.Join(parts, ", "), len(parts) > 0
			}
		}
	case "gift", "loyalty":
		if b := e.Balance; b != nil {
			switch field {
			case "amount", "points":
				return num(b.Added)
			case "balance":
				return num(b.Balance)
			}
		}
	case "redemption":
		if r := e.Redemption; r != nil {
			switch field {
			case "id":
				return r.ID, true
			case "amount":
				return num(r.Amount)
			}
		}
	case "reward":
		if r := e.Reward; r != nil {
			switch field {
			case "id":
				return r.ID, r.ID != ""
			case "name":
				return r.Name, r.Name != ""
			case "type":
				return r.Type, r.Type != ""
			}
		}
	case "publication":
		if p := e.Publication; p != nil && field == "id" {
			return p.ID, p.ID != ""
		}
	}
	return "", false
}
