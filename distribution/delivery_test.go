package distribution_test

import (
	"strings"
	"testing"

	"github.com/codedrop/codedrop/distribution"
)

// Delivery ids are stored (and found again after a restart): they never
// change for a key, however DeliveryID computes them.
func TestDeliveryIDStable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		k    distribution.DeliveryKey
		want string
	}{
		{distribution.DeliveryKey{DistributionID: "distr_0", TriggerKey: "manual", Channel: "x"}, "dlv_07dacb4h8ccjcwx0bq6kayg05r"},
		{distribution.DeliveryKey{DistributionID: "distr_1", CustomerID: strings.Repeat("c", 100), TriggerKey: "manual", Channel: "x"}, "dlv_c6cp5jw5f880x64565nxp04sq0"},
		{distribution.DeliveryKey{DistributionID: "distr_4", CustomerID: strings.Repeat("c", 400), TriggerKey: "manual", Channel: "x"}, "dlv_8bhz2gc426xmgxbsgzkwd8e4m8"}, // past the stack buffer
	} {
		if got := distribution.DeliveryID(tt.k); got != tt.want {
			t.Errorf("DeliveryID(%+v) = %q, want %q", tt.k, got, tt.want)
		}
	}
}
