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

// TestRouteIsNoTunnel: a job route carries requests the fronts judge one
// by one, never a connection the consumer then uses as it likes. An h2c
// upgrade (curl --http2 sends one) would, once the provider switched,
// have the reverse proxy copy bytes both ways: HTTP/2 straight to the
// provider, any path. The offer is withdrawn and the request goes on
// over HTTP/1.1; a WebSocket upgrade stays. CONNECT is refused (405),
// before the job is looked up, except HTTP/2's extended CONNECT for
// websocket, which the reverse proxy makes an HTTP/1.1 upgrade.
func TestRouteIsNoTunnel(t *testing.T) {
	h := &JobRoute{Prefix: "/csb/jobs/", logger: zap.NewNop(), app: new(caddymodule.App)}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Fatal("the request reached the reverse proxy")
		return nil
	})
	for _, tc := range []struct {
		name          string
		method        string
		proto         int
		header        map[string]string
		status        int    // the job manager is not running: 503 once past the check
		upgrade       string // the Upgrade header left for the provider
		http2Settings bool
	}{
		{"h2c upgrade", http.MethodGet, 1, map[string]string{"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA"}, http.StatusServiceUnavailable, "", false},
		{"h2c before websocket", http.MethodGet, 1, map[string]string{"Connection": "Upgrade", "Upgrade": "h2c, WebSocket"}, http.StatusServiceUnavailable, "websocket", false},
		{"TLS upgrade", http.MethodGet, 1, map[string]string{"Connection": "Upgrade", "Upgrade": "TLS/1.2"}, http.StatusServiceUnavailable, "", false},
		{"websocket", http.MethodGet, 1, map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, http.StatusServiceUnavailable, "websocket", false},
		{"plain GET", http.MethodGet, 1, nil, http.StatusServiceUnavailable, "", false},
		{"CONNECT", http.MethodConnect, 1, nil, http.StatusMethodNotAllowed, "", false},
		{"HTTP/2 CONNECT", http.MethodConnect, 2, nil, http.StatusMethodNotAllowed, "", false},
		{"extended CONNECT, other protocol", http.MethodConnect, 2, map[string]string{":protocol": "connect-udp"}, http.StatusMethodNotAllowed, "", false},
		{"extended CONNECT, websocket", http.MethodConnect, 2, map[string]string{":protocol": "websocket"}, http.StatusServiceUnavailable, "", false},
	} {
		// As Go's servers read "CONNECT /csb/jobs/J1/x" and an HTTP/2
		// CONNECT with a :path.
		r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/csb/jobs/J1/x", nil)
		r.Method, r.ProtoMajor = tc.method, tc.proto
		for k, v := range tc.header {
			r.Header[http.CanonicalHeaderKey(k)] = []string{v} // ":protocol" stays as it is, as Go's HTTP/2 server keeps it
		}
		repl := caddy.NewReplacer()
		repl.Set("http.auth.user.id", "alice")
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		err := h.ServeHTTP(httptest.NewRecorder(), r, next)
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != tc.status {
			t.Errorf("%s: %v, want HTTP %d", tc.name, err, tc.status)
		}
		if tc.status == http.StatusMethodNotAllowed {
			continue
		}
		if got := r.Header.Get("Upgrade"); got != tc.upgrade {
			t.Errorf("%s: Upgrade %q left for the provider, want %q", tc.name, got, tc.upgrade)
		}
		if _, ok := r.Header["Http2-Settings"]; ok != tc.http2Settings {
			t.Errorf("%s: HTTP2-Settings left for the provider", tc.name)
		}
	}
}
