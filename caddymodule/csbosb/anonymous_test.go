package csbosb

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// TestOSBPlatformNamedAnonymousRefused: a platform's jobs are owned by
// its user name; a platform authenticated as "anonymous" would share the
// jobs of the Consumer interface's callers without authentication, so
// it is refused (403) before the OSB API runs.
func TestOSBPlatformNamedAnonymousRefused(t *testing.T) {
	repl := caddy.NewReplacer()
	repl.Set("http.auth.user.id", caddymodule.AnonymousOwner)
	r := httptest.NewRequest(http.MethodGet, "http://broker.test/v2/catalog", nil)
	r.Header.Set("X-Broker-API-Version", "2.17")
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	rig := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	err := rig.h.ServeHTTP(httptest.NewRecorder(), r, nil)
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden || !errors.Is(he.Err, caddymodule.ErrAnonymousName) {
		t.Fatalf("platform %q: %v, want HTTP 403 %v", caddymodule.AnonymousOwner, err, caddymodule.ErrAnonymousName)
	}
}
