// Package dashboard is a web UI for a distribution.Manager that a host
// mounts in its own admin: an http.Handler rendered on the server with
// html/template, its script and styles embedded, readable without
// JavaScript (the script only keeps countdowns, statuses and sync
// progress live by polling two small JSON endpoints, /api/live and
// /api/segments).
//
// # Pages
//
//   - Distributions (/): name, mode, status, audience and channels of
//     each; a live countdown (mm:ss) for scheduled ones; Edit and Cancel
//     while the edit window is open. An action posted after the window
//     closed is refused with the library's message
//     (distribution.ErrWindowClosed), with status 409.
//   - One distribution (/distributions/{id}): the report (sent, skipped,
//     failed, unknown, canceled, still to process, and the reasons) as
//     bar charts, the deliveries filtered by state and paged, Retry failed,
//     and Activate / Pause for an automatic one.
//   - Automatic (/automatic): the automatic distributions with their
//     trigger, Activate and Pause.
//   - Segments (/segments): type, rule, sync status with the progress of a
//     running sync, member count, and the distributions that use each.
//   - Usage (/usage): outbound messages against the webhook limit and
//     calls from Intercom against the API limit (Manager.Usage).
//
// # Mounting
//
// Mount the Handler under any path prefix, either stripping it:
//
//	h, err := dashboard.New(m, dashboard.Config{Authorize: requireAdmin, Now: clock.Now})
//	mux.Handle("/admin/codes/", http.StripPrefix("/admin/codes", h))
//
// or handing the prefix over for the Handler to strip:
//
//	h, err := dashboard.New(m, dashboard.Config{Authorize: requireAdmin, Prefix: "/admin/codes"})
//	mux.Handle("/admin/codes/", h)
//
// Either way its links and redirects stay under the prefix.
//
// # Security
//
// Deny by default: a Config without Authorize refuses every request
// (ErrNoAuthorizer, 403), unless it sets InsecureLocalNoAuth, which serves
// loopback clients only (and only under a loopback Host name, against DNS
// rebinding) and is meant for examples and a developer's machine.
// Authorize is a func(*http.Request) error: nil allows, an error refuses
// (403) and is logged. A host that authenticates in middleware wraps the
// Handler and checks, in Authorize, what its middleware stored in the
// request, so a missing wrapper can never open the dashboard:
//
//	h, _ := dashboard.New(m, dashboard.Config{Authorize: func(r *http.Request) error {
//		if u, ok := r.Context().Value(userKey{}).(*User); ok && u.Admin {
//			return nil
//		}
//		return errors.New("not an admin")
//	}})
//	mux.Handle("/admin/codes/", sessions(http.StripPrefix("/admin/codes", h)))
//
// Every state-changing request is a POST (other methods get 405) and
// passes http.CrossOriginProtection: a browser's request from another
// origin (Sec-Fetch-Site, or Origin against Host) is refused with 403
// before any action runs. Browsers that send neither header are pre-2020
// ones; non-browser clients are authorized by Authorize like everyone
// else, so no CSRF token is needed on top. Config.TrustedOrigins adds
// origins for proxies that rewrite Host.
//
// Every response carries a Content-Security-Policy that allows only the
// dashboard's own script, styles and endpoint (no inline script or style,
// frame-ancestors 'none'), X-Content-Type-Options: nosniff,
// X-Frame-Options: DENY and Cache-Control: no-store. Every value on a page
// goes through html/template's contextual escaping, and the script writes
// only text (textContent): a customer named <img src=x onerror=alert(1)>
// shows as that text.
package dashboard
