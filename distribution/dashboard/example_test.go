package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/distribution/dashboard"
	"github.com/codedrop/codedrop/distribution/distributiontest"
	"github.com/codedrop/codedrop/store"
)

// userKey is where a host's own session middleware puts the signed-in
// user.
type userKey struct{}

// Mount the dashboard under /admin/codes/ of a host's mux, behind the
// host's session middleware; Authorize checks what the middleware found.
func Example() {
	ctx := context.Background()
	clock := distributiontest.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	m, err := distribution.NewManager(distribution.Config{Store: store.NewMemory(), Clock: clock,
		Channels: []distribution.Channel{logChannel{}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.UpsertCustomer(ctx, customer.Customer{SourceID: "u1", Name: "Ann"}, customer.UpsertOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	d, err := m.CreateDistribution(ctx, distribution.Distribution{Name: "Welcome <b>codes</b>",
		Audience: distribution.Audience{CustomerID: "u1"},
		Channels: []distribution.ChannelMessage{{Channel: "log", Body: "Welcome!"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := m.Send(ctx, d.ID); err != nil {
		fmt.Println(err)
		return
	}

	h, err := dashboard.New(m, dashboard.Config{
		Authorize: func(r *http.Request) error {
			if r.Context().Value(userKey{}) != "admin" {
				return errors.New("not an admin")
			}
			return nil
		},
		Now: clock.Now, // the Manager's clock, for the countdowns
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	sessions := func(next http.Handler) http.Handler { // the host's middleware
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("session"); err == nil && c.Value == "s3cret" {
				r = r.WithContext(context.WithValue(r.Context(), userKey{}, "admin"))
			}
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/codes/", sessions(http.StripPrefix("/admin/codes", h)))

	for _, cookie := range []string{"", "session=s3cret"} {
		r := httptest.NewRequest(http.MethodGet, "/admin/codes/", nil)
		r.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("X-Frame-Options"))
		if w.Code == http.StatusOK {
			row := regexp.MustCompile(`(?s)<tbody>.*</tbody>`).FindString(w.Body.String())
			fmt.Println(strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(row, " ")), " "))
		}
	}
	// Output:
	// 403 DENY
	// 200 DENY
	// Welcome &lt;b&gt;codes&lt;/b&gt; manual scheduled 10:00 customer Ann (u1) log Edit Cancel
}

// logChannel is a channel that sends nowhere.
type logChannel struct{}

func (logChannel) Name() string { return "log" }

func (logChannel) Send(context.Context, distribution.Message) (distribution.Receipt, error) {
	return distribution.Receipt{}, nil
}
