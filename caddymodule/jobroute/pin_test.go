package jobroute

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
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
// peer URL check judged, as it does for plain HTTP. The request's Host
// is the endpoint's name (TestHostHeaderKeepsTheEndpointsName: through
// the reverse proxy too, with header_up Host {http.csb.upstream.host}).
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

// TestHostHeaderKeepsTheEndpointsName: behind transport http { tls }
// Caddy sets the Host header to the address it dials, after the source
// ran; for a pinned upstream that is the checked IP address and port,
// not the job endpoint's name the front set (and aws signed). The route
// sets {http.csb.upstream.host} to that name, and header_up Host with it
// puts the name back: the provider, reached through Caddy's own reverse
// proxy at the pinned address, sees Host localhost:<port>.
func TestHostHeaderKeepsTheEndpointsName(t *testing.T) {
	hosts := make(chan string, 1)
	provider := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
	}))
	defer provider.Close()
	port := provider.URL[strings.LastIndex(provider.URL, ":")+1:]

	p := &caddymodule.Provider{ID: "named", AllowedHosts: []string{"localhost"}, AllowPrivate: true}
	if err := p.ProvisionPeerPolicy(nil, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	h := &JobRoute{logger: zap.NewNop(), app: &caddymodule.App{Providers: []*caddymodule.Provider{p}}}
	ctx := runningCaddy(t)
	raw := `{"headers": {"request": {"set": {"Host": ["{http.csb.upstream.host}"]}}}, "transport": {"protocol": "http", "tls": {"insecure_skip_verify": true}}}`
	mod, err := ctx.LoadModuleByID("http.handlers.reverse_proxy", json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	rp := mod.(*reverseproxy.Handler)
	rp.DynamicUpstreams = &JobUpstreams{logger: zap.NewNop(), watch: &watchSet{m: map[string]*reverseproxy.Host{}}, proxy: rp}

	r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/x", nil)
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, &caddyhttp.Server{})
	upstream, addr, dt, err := h.frontGeneric(r, jobs.Endpoint{ProviderID: "named", URL: "https://localhost:" + port + "/svc/"})
	if err != nil {
		t.Fatal(err)
	}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return rp.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	})
	rec := httptest.NewRecorder()
	if err := h.proxy(rec, r, next, newRouted("named", upstream, addr, dt)); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d, %v", rec.Code, err)
	}
	if got, want := <-hosts, "localhost:"+port; got != want {
		t.Fatalf("the provider got Host %q, want %q", got, want)
	}
}

// TestTLSWithoutHostIsNoticed: dynamic csb warns, when provisioned, about
// a reverse proxy with tls that leaves the Host header to Caddy's
// default (the address dialled); header_up Host silences it, and so does
// a transport without tls, whose Host stays the front's.
func TestTLSWithoutHostIsNoticed(t *testing.T) {
	setHost := &headers.Handler{Request: &headers.HeaderOps{Set: http.Header{"Host": {"{http.csb.upstream.host}"}}}}
	other := &headers.Handler{Request: &headers.HeaderOps{Set: http.Header{"X-Other": {"1"}}}}
	for _, tc := range []struct {
		name string
		rp   *reverseproxy.Handler
		want bool
	}{
		{"tls", &reverseproxy.Handler{Transport: &reverseproxy.HTTPTransport{TLS: &reverseproxy.TLSConfig{}}}, true},
		{"tls, other header_up", &reverseproxy.Handler{Transport: &reverseproxy.HTTPTransport{TLS: &reverseproxy.TLSConfig{}}, Headers: other}, true},
		{"tls, header_up Host", &reverseproxy.Handler{Transport: &reverseproxy.HTTPTransport{TLS: &reverseproxy.TLSConfig{}}, Headers: setHost}, false},
		{"no tls", &reverseproxy.Handler{Transport: &reverseproxy.HTTPTransport{}}, false},
		{"default transport", &reverseproxy.Handler{}, false},
	} {
		if got := tlsWithoutHost(tc.rp); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
