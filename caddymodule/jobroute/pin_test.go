package jobroute

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// TestHTTPSPinnedWithoutNameCheck: an https job endpoint on a host of
// allowed_hosts is dialled by name only when the reverse proxy's
// transport verifies the provider's certificate against that name. With
// tls_insecure_skip_verify, or a tls_server_name (the certificate is then
// checked against another name), the name proves nothing: resolved again
// by the reverse proxy, it could lead to 127.0.0.1 or the internal network
// (DNS rebinding), so the source hands the reverse proxy the address the
// peer URL check judged, as it does for plain HTTP. The job's name stays
// in the Host header.
func TestHTTPSPinnedWithoutNameCheck(t *testing.T) {
	p := &caddymodule.Provider{ID: "named", AllowedHosts: []string{"localhost"}, AllowPrivate: true}
	if err := p.ProvisionPeerPolicy(nil, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	h := &JobRoute{app: &caddymodule.App{Providers: []*caddymodule.Provider{p}}}
	rp := &reverseproxy.Handler{}
	src := &JobUpstreams{logger: zap.NewNop(), watch: &watchSet{m: map[string]*reverseproxy.Host{}}, proxy: rp}
	pinned := func(dial string) bool {
		host, port, err := net.SplitHostPort(dial)
		ip := net.ParseIP(host)
		return err == nil && port == "8443" && ip != nil && ip.IsLoopback()
	}
	for _, tc := range []struct {
		name   string
		tls    *reverseproxy.TLSConfig
		pinned bool
	}{
		{"certificate verified against the name", &reverseproxy.TLSConfig{}, false},
		{"tls_insecure_skip_verify", &reverseproxy.TLSConfig{InsecureSkipVerify: true}, true},
		{"tls_server_name", &reverseproxy.TLSConfig{ServerName: "provider.example.org"}, true},
		{"tls_server_name from a placeholder", &reverseproxy.TLSConfig{ServerName: "{http.request.host}"}, true},
	} {
		rp.Transport = &reverseproxy.HTTPTransport{TLS: tc.tls}
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/x", nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
		upstream, addr, dt, err := h.frontGeneric(r, jobs.Endpoint{ProviderID: "named", URL: "https://localhost:8443/svc/"})
		if err != nil {
			t.Fatal(err)
		}
		caddyhttp.SetVar(r.Context(), routedVar, newRouted("named", upstream, addr, dt))
		for try := range 2 {
			ups, err := src.GetUpstreams(r)
			if err != nil || len(ups) != 1 {
				t.Fatalf("%s, try %d: %v %v", tc.name, try, ups, err)
			}
			if got := pinned(ups[0].Dial); got != tc.pinned || (!got && ups[0].Dial != "localhost:8443") {
				t.Errorf("%s, try %d: dial %q, want pinned=%v (the checked loopback address, else localhost:8443)", tc.name, try, ups[0].Dial, tc.pinned)
			}
		}
		if r.Host != "localhost:8443" {
			t.Errorf("%s: Host %q, want the endpoint's name", tc.name, r.Host)
		}
	}
}
