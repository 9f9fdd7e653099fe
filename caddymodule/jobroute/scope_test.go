package jobroute

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/adapters"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// TestRefuseSendsNoBody: a request a front refused after reading its body
// goes to the refusal responder without a body or a length, so the
// refusal itself cannot fail (and count against the responder's health).
func TestRefuseSendsNoBody(t *testing.T) {
	u := &JobUpstreams{logger: zap.NewNop(), refuser: &refuser{addr: "127.0.0.1:9"}}
	r := httptest.NewRequest(http.MethodPut, "http://consumer.invalid/c/o", strings.NewReader(`{"copy":"/other/o"}`))
	r.Header.Set("Authorization", "Basic secret")
	ups := u.refuse(r, adapters.Refused("field copy reaches beyond the job"))
	if len(ups) != 1 || ups[0].Dial != "127.0.0.1:9" {
		t.Fatalf("upstreams %v", ups)
	}
	if r.Body != http.NoBody || r.ContentLength != 0 || r.GetBody != nil {
		t.Fatalf("the refused request still carries a body (length %d)", r.ContentLength)
	}
	if r.Header.Get(refuseStatusHeader) != "403" || r.Header.Get("Authorization") != "" || r.URL.Path != "/" {
		t.Fatalf("refused request: %v %s", r.Header, r.URL)
	}
}

// TestFrontGenericStaysBelowTheEndpoint: the generic front puts the
// cleaned route path below the job's endpoint, whatever the endpoint's
// trailing slash; a path climbing above never gets that far.
func TestFrontGenericStaysBelowTheEndpoint(t *testing.T) {
	u := &JobUpstreams{app: &caddymodule.App{Providers: withPeerPolicies(t, &caddymodule.Provider{ID: "open"})}}
	for _, tc := range []struct{ endpoint, path, want string }{
		{"http://127.0.0.1:9/apps/crm", "/page", "http://127.0.0.1:9/apps/crm/page"},
		{"http://127.0.0.1:9/apps/crm/", "/a/../b", "http://127.0.0.1:9/apps/crm/b"},
		{"http://127.0.0.1:9/apps/crm", "/%2e/x%20y", "http://127.0.0.1:9/apps/crm/x%20y"},
		{"http://127.0.0.1:9/apps/crm", "/..", ""},
		{"http://127.0.0.1:9/apps/crm", "/%2e%2e/secret", ""},
		{"http://127.0.0.1:9/apps/crm", "/..%2fsecret", ""},
	} {
		clean, err := adapters.CleanRoutePath(tc.path)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: cleaned to %s, want a refusal", tc.path, clean)
			}
			continue
		}
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/", nil)
		setPath(r, clean)
		if _, _, err := u.frontGeneric(r, jobs.Endpoint{ProviderID: "open", URL: tc.endpoint}); err != nil {
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
	for h, refused := range map[string]bool{"X-HTTP-Method-Override": true, "x-http-method": true, "X-Method-Override": true, "X-Other": false} {
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/machines/1", nil)
		r.Header.Set(h, "DELETE")
		if err := refuseMethodOverride(r); (err != nil) != refused {
			t.Errorf("%s: %v", h, err)
		}
	}
}
