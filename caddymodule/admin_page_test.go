package caddymodule

import (
	"net/http"
	"net/url"
	"testing"
)

// TestPageParamsLimit: a limit larger than the largest page is lowered
// to it, as docs/operations.md says, also one too large for an int
// (limit=99999999999999999999, "give me everything"), which was answered
// 400 as if it were malformed; below 1, and not a number, is 400.
func TestPageParamsLimit(t *testing.T) {
	for raw, want := range map[string]int{"": 100, "1": 1, "+7": 7, "1000": 1000, "1001": 1000,
		"99999999999999999999": 1000, "+99999999999999999999": 1000} {
		q := url.Values{}
		if raw != "" {
			q.Set("limit", raw)
		}
		if got, _, err := pageParams(q, 100, 1000); err != nil || got != want {
			t.Errorf("limit=%s: %d %v, want %d", raw, got, err, want)
		}
	}
	for _, raw := range []string{"0", "-1", "-99999999999999999999", "x", "1e3", "10.5", " 5"} {
		if _, _, err := pageParams(url.Values{"limit": {raw}}, 100, 1000); adminStatus(err) != http.StatusBadRequest {
			t.Errorf("limit=%q: %v, want 400", raw, err)
		}
	}
}
