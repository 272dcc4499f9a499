package distribution

// TEMPORARY: replaced by branch automatic's limits.go at merge.

import (
	"context"
	"errors"
)

// ErrLimitExceeded reports that a metered cap is reached.
var ErrLimitExceeded = errors.New("distribution: limit exceeded")

// CountInbound counts one inbound call from Intercom against the API limit.
func (m *Manager) CountInbound(ctx context.Context) error { return nil }
