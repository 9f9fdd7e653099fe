package csbconsole

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/caddytest"
)

// startConsole loads a csb app with its consumer side (no provider) and
// provisions a console over it.
func startConsole(t *testing.T) *Console {
	t.Helper()
	caddytest.Load(t, fmt.Sprintf(`{
	admin off
	storage file_system %q
	csb {
		jobs {
		}
	}
}
`, t.TempDir()), nil)
	c := &Console{}
	if err := c.Provision(caddy.ActiveContext()); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// serveAs sends a GET of path to the console as the authenticated user,
// with meta as the authentication's metadata ({http.auth.user.<key>}),
// and returns the status the client gets.
func serveAs(t *testing.T, c *Console, path, user string, meta map[string]string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://broker.test"+path, nil)
	repl := caddy.NewReplacer()
	repl.Set("http.auth.user.id", user)
	for k, v := range meta {
		repl.Set("http.auth.user."+k, v)
	}
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	if err := c.ServeHTTP(w, req, next); err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) {
			return he.StatusCode
		}
		t.Fatalf("GET %s: %v", path, err)
	}
	return w.Code
}

// TestConsoleRefusesBindingCredential: an OSB binding's credential (the
// csb_binding provider names its one job in {http.auth.user.csb_job}
// and authenticates as the instance's owner) reaches only that job's
// route. Where the console sits behind an authentication that also
// accepts binding credentials, such a credential, which the platform
// hands to an application, must not open the owner's console: it would
// list, renew and remove every job of the owner. The Consumer interface
// and csb_osb refuse it; so does the console.
func TestConsoleRefusesBindingCredential(t *testing.T) {
	c := startConsole(t)
	if code := serveAs(t, c, "/console/jobs", "alice", nil); code != http.StatusOK {
		t.Fatalf("alice's jobs page: %d, want 200", code)
	}
	for _, path := range []string{"/console/", "/console/jobs", "/console/new", "/console/jobs/j1"} {
		if code := serveAs(t, c, path, "alice", map[string]string{"csb_job": "j1", "csb_binding": "b1"}); code != http.StatusForbidden {
			t.Errorf("GET %s with a binding's credential: %d, want 403", path, code)
		}
	}
}
