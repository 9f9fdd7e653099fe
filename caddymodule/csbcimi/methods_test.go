package csbcimi

import (
	"net/http"
	"testing"
)

// The Allow header names every method a resource takes: HEAD, served
// wherever GET is, was left out of it, and OPTIONS was answered 405. An
// OPTIONS request now answers 204 with the resource's Allow (RFC 9110
// sections 9.3.7 and 10.2.1), and a 405's Allow names HEAD and OPTIONS
// too.
func TestCIMIAllowAndOptions(t *testing.T) {
	b := startEngineBroker(t)
	id := b.create("alice", plainMachine)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"OPTIONS", "/cimi/", http.StatusNoContent, "GET, HEAD, OPTIONS"},
		{"OPTIONS", "/cimi/machines", http.StatusNoContent, "GET, HEAD, POST, OPTIONS"},
		{"OPTIONS", "/cimi/machines/" + id, http.StatusNoContent, "GET, HEAD, PUT, DELETE, POST, OPTIONS"},
		{"OPTIONS", "/cimi/machines/" + id + "/stop", http.StatusNoContent, "POST, OPTIONS"},
		{"OPTIONS", "/cimi/jobs", http.StatusNoContent, "GET, HEAD, OPTIONS"},
		{"PATCH", "/cimi/machines", http.StatusMethodNotAllowed, "GET, HEAD, POST, OPTIONS"},
		{"GET", "/cimi/machines/" + id + "/stop", http.StatusMethodNotAllowed, "POST, OPTIONS"},
		{"PUT", "/cimi/volumes/" + id, http.StatusMethodNotAllowed, "GET, HEAD, DELETE, OPTIONS"},
		{"HEAD", "/cimi/machines", http.StatusOK, ""},
		{"OPTIONS", "/cimi/networks", http.StatusNotFound, ""},
	} {
		a := b.do("alice", c.method, c.path, "")
		if a.status != c.status || a.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q (%s)", c.method, c.path, a.status, a.header.Get("Allow"), c.status, c.allow, a)
		}
		if c.status == http.StatusNoContent && len(a.body) != 0 {
			t.Errorf("%s %s: a body in a 204: %s", c.method, c.path, a.body)
		}
	}
}
