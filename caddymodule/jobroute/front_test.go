package jobroute

import (
	"encoding/base64"
	"net"
	"net/http"
	"testing"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// TestFrontGenericCredentials: a job of an adapter that does not front
// requests goes to its endpoint, on one of the provider's own origins,
// with the provider's credentials, their placeholders expanded; Basic and
// bearer stay off plain HTTP to another host.
func TestFrontGenericCredentials(t *testing.T) {
	t.Setenv("CSB_TEST_PROVIDER_PW", "pw-from-env")
	t.Setenv("CSB_TEST_PROVIDER_TOKEN", "token-from-env")
	u := &JobRoute{logger: zap.NewNop(), app: &caddymodule.App{Providers: withPeerPolicies(t,
		&caddymodule.Provider{ID: "basic", URI: "http://127.0.0.1:9", Auth: &caddymodule.ProviderAuth{Scheme: "basic", Username: "broker", Password: "{env.CSB_TEST_PROVIDER_PW}"}},
		&caddymodule.Provider{ID: "bearer", URI: "https://127.0.0.2", Services: []caddymodule.StaticService{{URI: "http://10.1.2.3/svc"}},
			Auth: &caddymodule.ProviderAuth{Scheme: "bearer", Token: "{env.CSB_TEST_PROVIDER_TOKEN}"}},
		&caddymodule.Provider{ID: "open"},
	)}}
	front := func(provider, endpoint string) (*http.Request, error) {
		r, _ := http.NewRequest("GET", "http://consumer.invalid/a%20b?x=1", nil)
		r.URL.Path, r.URL.RawPath = "/a b", "/a%20b"
		_, _, _, err := u.frontGeneric(r, jobs.Endpoint{ProviderID: provider, URL: endpoint})
		return r, err
	}
	r, err := front("basic", "http://127.0.0.1:9/svc/")
	if err != nil || r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("broker:pw-from-env")) {
		t.Fatalf("basic: %v %q", err, r.Header.Get("Authorization"))
	}
	if r.URL.String() != "http://127.0.0.1:9/svc/a%20b?x=1" || r.Host != "127.0.0.1:9" {
		t.Fatalf("rewritten to %s (Host %s)", r.URL, r.Host)
	}
	if r, err = front("bearer", "https://127.0.0.2/"); err != nil || r.Header.Get("Authorization") != "Bearer token-from-env" {
		t.Fatalf("bearer: %v %q", err, r.Header.Get("Authorization"))
	}
	if _, err = front("bearer", "http://10.1.2.3/"); contract.KindOf(err) != contract.KindServer {
		t.Fatalf("bearer over plain http to another host: %v", err)
	}
	if r, err = front("open", "http://127.0.0.1:9/"); err != nil || r.Header.Get("Authorization") != "" {
		t.Fatalf("no auth: %v %q", err, r.Header.Get("Authorization"))
	}
	if _, err = front("open", "ftp://x/"); contract.KindOf(err) != contract.KindNotFound {
		t.Fatalf("no http endpoint: %v", err)
	}
}

// TestCredentialsOnlyToTheProvidersOwnEndpoints: the provider's
// credentials go to an upstream on one of its own origins (scheme, host
// and port of a URL configured for it), not to one its peer URL policy
// allows only through allowed_hosts (an app host of a PaaS provider,
// which a consumer may run): that one is proxied without them, and a
// Digest provider's challenge is not even fetched there.
func TestCredentialsOnlyToTheProvidersOwnEndpoints(t *testing.T) {
	u := &JobRoute{logger: zap.NewNop(), app: &caddymodule.App{Providers: withPeerPolicies(t,
		&caddymodule.Provider{ID: "paas", URI: "http://127.0.0.1:9", Auth: &caddymodule.ProviderAuth{Scheme: "basic", Username: "broker", Password: "secret"}},
		&caddymodule.Provider{ID: "digest", URI: "http://127.0.0.1:9", Auth: &caddymodule.ProviderAuth{Scheme: "digest", Username: "broker", Password: "secret"}},
	)}}
	for _, tc := range []struct {
		provider, endpoint string
		credentials        bool
	}{
		{"paas", "http://127.0.0.1:9/svc/", true},
		{"paas", "http://127.0.0.1:10/app/", false},  // the provider's host, another port: allowed_hosts alone
		{"paas", "https://127.0.0.1:9/app/", false},  // another scheme
		{"paas", "https://10.1.2.3/app/", false},     // an app host of allowed_hosts
		{"digest", "http://127.0.0.2:9/app/", false}, // no challenge fetched, no response computed
	} {
		r, _ := http.NewRequest("GET", "http://consumer.invalid/x", nil)
		_, _, dt, err := u.frontGeneric(r, jobs.Endpoint{ProviderID: tc.provider, URL: tc.endpoint})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.provider, tc.endpoint, err)
		}
		if got := r.Header.Get("Authorization") != "" || dt != nil; got != tc.credentials {
			t.Errorf("%s %s: credentials added %v, want %v (Authorization %q)", tc.provider, tc.endpoint, got, tc.credentials, r.Header.Get("Authorization"))
		}
	}
}

// withPeerPolicies gives each provider the peer URL policy a provisioned
// app would build, allowing the addresses these unit tests use (loopback
// and one private address, none of them dialled), so that the job
// route's peer check passes.
func withPeerPolicies(t *testing.T, ps ...*caddymodule.Provider) []*caddymodule.Provider {
	t.Helper()
	for _, p := range ps {
		p.AllowedHosts, p.AllowPrivate = []string{"127.0.0.1", "127.0.0.2", "10.1.2.3"}, true
		if err := p.ProvisionPeerPolicy(nil, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
	}
	return ps
}

// TestFrontPinsTheCheckedAddress: a job whose plain-HTTP endpoint names
// a host of allowed_hosts goes to the address the peer URL check judged
// (the reverse proxy resolving the name again could be sent elsewhere:
// DNS rebinding); an https endpoint keeps its name, which its
// certificate is verified against.
func TestFrontPinsTheCheckedAddress(t *testing.T) {
	p := &caddymodule.Provider{ID: "named", AllowedHosts: []string{"localhost"}, AllowPrivate: true}
	if err := p.ProvisionPeerPolicy(nil, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	u := &JobRoute{app: &caddymodule.App{Providers: []*caddymodule.Provider{p}}}
	r, _ := http.NewRequest("GET", "http://consumer.invalid/x", nil)
	_, addr, _, err := u.frontGeneric(r, jobs.Endpoint{ProviderID: "named", URL: "http://localhost:9/svc/"})
	if err != nil {
		t.Fatal(err)
	}
	dial := addr.dial
	if host, port, _ := net.SplitHostPort(dial); port != "9" || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		t.Fatalf("dial %q, want localhost's checked loopback address, port 9", dial)
	}
	if r.Host != "localhost:9" {
		t.Fatalf("Host %q, want the endpoint's name", r.Host)
	}
	r, _ = http.NewRequest("GET", "http://consumer.invalid/x", nil)
	if _, addr, _, err = u.frontGeneric(r, jobs.Endpoint{ProviderID: "named", URL: "https://localhost/svc/"}); err != nil || addr.dial != "localhost:443" {
		t.Fatalf("https: dial %q %v, want the name", addr.dial, err)
	}
}
