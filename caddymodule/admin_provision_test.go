package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestAdminAPIWithoutCSBApp: the admin module provisioned in a
// configuration without the csb app answers 503 on every route, and one
// given an app that holds no engine (not provisioned, or cleaned up)
// does too: it reads only the app it was provisioned with.
func TestAdminAPIWithoutCSBApp(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	for name, api := range map[string]*AdminAPI{"no app": new(AdminAPI), "app without engine": {app: new(App)}} {
		if name == "no app" {
			if err := api.Provision(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, route := range api.Routes() {
			method := http.MethodGet
			if route.Pattern == "/csb/placement/explain" {
				method = http.MethodPost
			}
			err := route.Handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, route.Pattern, nil))
			var ae caddy.APIError
			if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusServiceUnavailable {
				t.Errorf("%s: %s %s: %v, want 503", name, method, route.Pattern, err)
			}
		}
	}
}
