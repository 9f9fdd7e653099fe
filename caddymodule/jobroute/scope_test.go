package jobroute

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// TestRefusalIsACaddyError: a refused request is answered by Caddy's
// error handling: the handler returns a caddyhttp.Error with the status
// the refusal calls for and the reason as its message, and the request
// goes no further (the next handler, the reverse proxy, never runs).
func TestRefusalIsACaddyError(t *testing.T) {
	h := &JobRoute{Prefix: "/csb/jobs/", logger: zap.NewNop(), app: new(caddymodule.App)}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Fatal("a refused request reached the reverse proxy")
		return nil
	})
	for _, tc := range []struct {
		target string
		status int
		reason string
	}{
		{"/elsewhere/J1/x", http.StatusNotFound, "/elsewhere/J1/x is not a job route (/csb/jobs/<job-id>/...)"},
		{"/csb/jobs/J1/x", http.StatusForbidden, "no authenticated consumer: put an authentication handler in front of the job routes"},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid"+tc.target, nil)
		err := h.ServeHTTP(httptest.NewRecorder(), r, next)
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != tc.status || he.Err == nil || he.Err.Error() != tc.reason {
			t.Errorf("%s: %v, want HTTP %d %q", tc.target, err, tc.status, tc.reason)
		}
	}
	for err, want := range map[error]int{
		contract.Refused("field copy reaches beyond the job"):                                                        http.StatusForbidden,
		&contract.Error{Kind: contract.KindTimeout, Err: errors.New("slow")}:                                         http.StatusGatewayTimeout,
		&contract.Error{Kind: contract.KindServer, Status: http.StatusBadGateway, Op: "proxy", Err: errors.New("x")}: http.StatusBadGateway,
		errors.New("anything else"): http.StatusBadGateway,
	} {
		if got := refusalStatus(err); got != want {
			t.Errorf("%v: %d, want %d", err, got, want)
		}
	}
}

// TestJobUpstreamsNeedTheHandler: the source gives upstreams only for a
// request the handler resolved, and the same ones on a retry.
func TestJobUpstreamsNeedTheHandler(t *testing.T) {
	u := &JobUpstreams{logger: zap.NewNop(), watch: &watchSet{m: map[string]*reverseproxy.Host{}}}
	r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/csb/jobs/J1/x", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
	if _, err := u.GetUpstreams(r); !errors.Is(err, errNoRoute) {
		t.Fatalf("no handler in front: %v", err)
	}
	want := []*reverseproxy.Upstream{{Dial: "127.0.0.1:9"}}
	caddyhttp.SetVar(r.Context(), routedVar, &routed{provider: "p", upstreams: want})
	for try := range 2 {
		if got, err := u.GetUpstreams(r); err != nil || len(got) != 1 || got[0] != want[0] {
			t.Fatalf("try %d: %v %v", try, got, err)
		}
	}
}

// TestFrontGenericStaysBelowTheEndpoint: the generic front puts the
// cleaned route path below the job's endpoint, whatever the endpoint's
// trailing slash; a path climbing above never gets that far.
func TestFrontGenericStaysBelowTheEndpoint(t *testing.T) {
	u := &JobRoute{app: &caddymodule.App{Providers: withPeerPolicies(t, &caddymodule.Provider{ID: "open"})}}
	for _, tc := range []struct{ endpoint, path, want string }{
		{"http://127.0.0.1:9/apps/crm", "/page", "http://127.0.0.1:9/apps/crm/page"},
		{"http://127.0.0.1:9/apps/crm/", "/a/../b", "http://127.0.0.1:9/apps/crm/b"},
		{"http://127.0.0.1:9/apps/crm", "/%2e/x%20y", "http://127.0.0.1:9/apps/crm/x%20y"},
		{"http://127.0.0.1:9/apps/crm", "/..", ""},
		{"http://127.0.0.1:9/apps/crm", "/%2e%2e/secret", ""},
		{"http://127.0.0.1:9/apps/crm", "/..%2fsecret", ""},
	} {
		clean, err := contract.CleanRoutePath(tc.path)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: cleaned to %s, want a refusal", tc.path, clean)
			}
			continue
		}
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/", nil)
		setPath(r, clean)
		if _, _, _, err := u.frontGeneric(r, jobs.Endpoint{ProviderID: "open", URL: tc.endpoint}); err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if r.URL.String() != tc.want {
			t.Errorf("%s on %s: forwarded to %s, want %s", tc.path, tc.endpoint, r.URL, tc.want)
		}
	}
}

// TestRefuseMethodOverride: a header naming another method than the
// request's is refused, since fronts decide by the request's method.
func TestRefuseMethodOverride(t *testing.T) {
	for h, refused := range map[string]bool{"X-HTTP-Method-Override": true, "x-http-method": true, "X-Method-Override": true, "X-Other": false,
		// Rack and WSGI servers read '_' as '-'; Go keeps such names as sent.
		"X_HTTP_Method_Override": true, "x_http_method": true, "X-Method_Override": true, "X_Other": false} {
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/machines/1", nil)
		r.Header[http.CanonicalHeaderKey(h)] = []string{"DELETE"}
		if err := refuseMethodOverride(r); (err != nil) != refused {
			t.Errorf("%s: %v", h, err)
		}
	}
}

// TestRefuseMethodOverrideAllocatesNothing: the check runs on every
// request of the job route; a request without such a header costs it no
// allocation.
func TestRefuseMethodOverrideAllocatesNothing(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/machines/1", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("X-Request-Id", "abc")
	r.Header.Set("Authorization", "Digest x")
	if n := testing.AllocsPerRun(100, func() { _ = refuseMethodOverride(r) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}
