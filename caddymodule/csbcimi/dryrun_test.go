package csbcimi

import (
	"net/http"
	"testing"
)

// ?dryRun asks for placement's explanation instead of a machine; its
// value was not read, so "?dryRun=false", a create asked for explicitly,
// answered the explanation and made nothing. A value is now read as a
// boolean ("", true, 1: a dry run; false, 0: a create), another is 400.
func TestCIMIDryRunValue(t *testing.T) {
	b := startEngineBroker(t)
	for _, c := range []struct {
		query  string
		status int
	}{
		{"?dryRun", http.StatusOK},
		{"?dryRun=true", http.StatusOK},
		{"?dryRun=false", http.StatusCreated},
		{"?dryRun=0", http.StatusCreated},
		{"?dryRun=perhaps", http.StatusBadRequest},
		{"?dryRun=true&dryRun=false", http.StatusBadRequest},
	} {
		a := b.do("alice", "POST", "/cimi/machines"+c.query, plainMachine)
		if a.status != c.status {
			t.Errorf("%s: %s, want %d", c.query, a, c.status)
		}
		if made := a.header.Get("Location") != ""; made != (c.status == http.StatusCreated) {
			t.Errorf("%s: Location %q", c.query, a.header.Get("Location"))
		}
	}
}
