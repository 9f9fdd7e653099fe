package jobroute

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// TestOSBScopedCredential: a credential scoped to one job (the csb_binding
// provider sets {http.auth.user.csb_job}) is refused on any other job id
// as an unknown job (404), before the job manager is asked; on its own
// job, and for an owner's credential without the placeholder, the route
// goes on (here to the job manager, which is not running: 503).
func TestOSBScopedCredential(t *testing.T) {
	h := &JobRoute{Prefix: "/csb/jobs/", logger: zap.NewNop(), app: new(caddymodule.App)}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, tc := range []struct {
		scope, job string
		status     int
	}{
		{"J2", "J1", http.StatusNotFound},
		{"J2", "J2", http.StatusServiceUnavailable},
		{"", "J1", http.StatusServiceUnavailable},
	} {
		repl := caddy.NewReplacer()
		repl.Set("http.auth.user.id", "platform/cloudfoundry:alice")
		if tc.scope != "" {
			repl.Set("http.auth.user.csb_job", tc.scope)
		}
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/csb/jobs/"+tc.job+"/x", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		err := h.ServeHTTP(httptest.NewRecorder(), r, next)
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != tc.status {
			t.Errorf("scope %q, job %s: %v, want HTTP %d", tc.scope, tc.job, err, tc.status)
		}
	}
}
