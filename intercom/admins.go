package intercom

import (
	"context"
	"net/http"
)

// Admin is an Intercom teammate (messages are sent from one).
type Admin struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	// HasInboxSeat reports whether the admin has a paid inbox seat.
	HasInboxSeat bool `json:"has_inbox_seat"`
	// AwayModeEnabled reports whether the admin is away.
	AwayModeEnabled bool `json:"away_mode_enabled"`
}

// App is the Intercom workspace a token belongs to.
type App struct {
	IDCode   string `json:"id_code"`
	Name     string `json:"name"`
	Region   string `json:"region"`
	Timezone string `json:"timezone"`
}

// Me is the admin a token acts for and its workspace (GET /me).
type Me struct {
	Admin
	EmailVerified bool `json:"email_verified"`
	App           App  `json:"app"`
}

// Me returns the admin and workspace the client's token belongs to. Do not
// trust Email for sign-in unless EmailVerified.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var m Me
	err := c.do(ctx, &request{method: http.MethodGet, path: "/me", replayable: true}, &m)
	return m, err
}

// Admins lists the workspace's admins (GET /admins).
func (c *Client) Admins(ctx context.Context) ([]Admin, error) {
	var out struct {
		Admins []Admin `json:"admins"`
	}
	if err := c.do(ctx, &request{method: http.MethodGet, path: "/admins", replayable: true}, &out); err != nil {
		return nil, err
	}
	return out.Admins, nil
}
