package jobroute

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

// TestUpstreamSchemeFollowsTheTransport: the reverse proxy drops the
// scheme the handler wrote and speaks TLS only when its transport has
// tls. An https upstream behind a transport without tls (the route's
// documented "reverse_proxy { dynamic csb }") would get the provider's
// credentials the handler added in cleartext on port 443: the source
// gives no upstream for it, on the first try and on retries. An http
// upstream behind a transport with tls is refused too (its port is not
// among except_ports); matching schemes pass.
func TestUpstreamSchemeFollowsTheTransport(t *testing.T) {
	rp := &reverseproxy.Handler{}
	if got := proxyOf([]caddy.Module{&caddyhttp.App{}, rp, &JobUpstreams{}}); got != rp {
		t.Fatalf("proxyOf found %v, want the reverse proxy", got)
	}
	u := &JobUpstreams{logger: zap.NewNop(), watch: &watchSet{m: map[string]*reverseproxy.Host{}}, proxy: rp}
	withTLS := &reverseproxy.HTTPTransport{TLS: &reverseproxy.TLSConfig{ExceptPorts: []string{"8080"}}}
	for _, tc := range []struct {
		name      string
		transport http.RoundTripper
		scheme    string
		dial      string
		ok        bool
	}{
		{"https, default transport", nil, "https", "cloud.example.org:443", false},
		{"https, transport without tls", &reverseproxy.HTTPTransport{}, "https", "cloud.example.org:443", false},
		{"https, transport with tls", withTLS, "https", "cloud.example.org:443", true},
		{"https on an except port", withTLS, "https", "cloud.example.org:8080", false},
		{"http, transport with tls", withTLS, "http", "cloud.example.org:80", false},
		{"http on an except port", withTLS, "http", "cloud.example.org:8080", true},
		{"http, default transport", nil, "http", "cloud.example.org:80", true},
	} {
		rp.Transport = tc.transport
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/csb/jobs/J1/x", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
		caddyhttp.SetVar(r.Context(), routedVar, &routed{provider: "p", scheme: tc.scheme, upstreams: []*reverseproxy.Upstream{{Dial: tc.dial}}})
		for try := range 2 {
			ups, err := u.GetUpstreams(r)
			if (err == nil) != tc.ok || (err == nil && len(ups) != 1) {
				t.Errorf("%s, try %d: %v %v, want ok=%v", tc.name, try, ups, err, tc.ok)
			}
		}
	}
}
