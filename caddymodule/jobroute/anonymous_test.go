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

// TestAnonymousNameRefused: a user authenticated as "anonymous", the
// owner of the jobs of callers without authentication, is refused (403,
// with the reason) before any job is looked up; any other user goes on
// (here to the job manager, which is not running: 503).
func TestAnonymousNameRefused(t *testing.T) {
	h := &JobRoute{Prefix: "/csb/jobs/", logger: zap.NewNop(), app: new(caddymodule.App)}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Fatal("the request reached the reverse proxy")
		return nil
	})
	for user, status := range map[string]int{caddymodule.AnonymousOwner: http.StatusForbidden, "alice": http.StatusServiceUnavailable} {
		repl := caddy.NewReplacer()
		repl.Set("http.auth.user.id", user)
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/csb/jobs/J1/x", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		err := h.ServeHTTP(httptest.NewRecorder(), r, next)
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != status {
			t.Errorf("user %q: %v, want HTTP %d", user, err, status)
		}
		if status == http.StatusForbidden && he.Err.Error() != caddymodule.ErrAnonymousName.Error() {
			t.Errorf("user %q: reason %q", user, he.Err)
		}
	}
}
