package intercom

import "testing"

func TestRoute(t *testing.T) {
	t.Parallel()
	tests := []struct{ path, want string }{
		{"/messages", "/messages"},
		{"/me", "/me"},
		{"/contacts", "/contacts"},
		{"/contacts/search", "/contacts/search"},
		{"/contacts/6543abc", "/contacts/{id}"},
		{"/contacts/find_by_external_id/ann@example.com", "/contacts/find_by_external_id/{external_id}"},
		{"/contacts/6543abc/tags", "/contacts/{id}/tags"},
		{"/contacts/6543abc/tags/17", "/contacts/{id}/tags/{tag_id}"},
		{"/conversations/123/reply", "/conversations/{id}/reply"},
		// Unknown shapes give no template, never the raw path.
		{"/contacts/6543abc/notes", ""},
		{"/contacts/6543abc/tags/17/x", ""},
		{"/conversations/123", ""},
		{"/conversations/a/b/reply", ""},
		{"/companies/1", ""},
		{"", ""},
	}
	known := map[string]bool{"": true}
	for _, r := range routes {
		known[r] = true
	}
	for _, tt := range tests {
		got := route(tt.path)
		if got != tt.want {
			t.Errorf("route(%q) = %q, want %q", tt.path, got, tt.want)
		}
		if !known[got] {
			t.Errorf("route(%q) = %q is not in routes (no precomputed span name)", tt.path, got)
		}
	}
	if got := spanName("POST", "/messages"); got != "POST /messages" {
		t.Errorf(`spanName("POST", "/messages") = %q`, got)
	}
	if got := spanName("PATCH", ""); got != "PATCH" {
		t.Errorf(`spanName("PATCH", "") = %q`, got)
	}
}
