package caddymodule

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// TestNarrowAccess: a Csb-Provider header narrows a user's provider
// lists and never widens them.
func TestNarrowAccess(t *testing.T) {
	user := &placement.Access{Allow: []string{"a", "b"}, Deny: []string{"b"}}
	for _, c := range []struct {
		user   *placement.Access
		header []string
		want   *placement.Access
	}{
		{user, nil, user},
		{user, []string{" , "}, user},
		{nil, []string{"x"}, &placement.Access{Allow: []string{"x"}}},
		{user, []string{"a"}, &placement.Access{Allow: []string{"a"}}},
		{user, []string{"a, b", "c,a"}, &placement.Access{Allow: []string{"a", "b", "c"}, Deny: []string{"b", "c"}}},
	} {
		if got := narrowAccess(c.user, c.header); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v %q: got %+v, want %+v", c.user, c.header, got, c.want)
		}
	}
}

// TestPrefersJSON: the job list is JSON only when Accept names JSON
// before any XML type; the explain and catalogue (JSON only) refuse an
// Accept that excludes JSON.
func TestPrefersJSON(t *testing.T) {
	for _, c := range []struct {
		accept           string
		prefers, accepts bool
	}{
		{"", false, true},
		{"application/json", true, true},
		{"application/csb-consumer+xml, application/json", false, true},
		// JSON refused by name: */* beside it does not take it back
		// (RFC 9110 12.5.1; TestAcceptMostSpecificRangeDecides).
		{"application/json;q=0, */*", false, false},
		{"application/json;q=0.0, */*", false, false},
		{"application/json;q=0.000", false, false},
		{"text/html, application/json", true, true},
		{"*/*", false, true},
		{"application/csb-consumer+xml", false, false},
		{"text/html", false, false},
	} {
		r := httptest.NewRequest("GET", "/csb/consumer", nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		if got := prefersJSON(r); got != c.prefers {
			t.Errorf("Accept %q: prefersJSON %v", c.accept, got)
		}
		if err := acceptsJSON(r); (err == nil) != c.accepts {
			t.Errorf("Accept %q: acceptsJSON %v", c.accept, err)
		}
	}
}
