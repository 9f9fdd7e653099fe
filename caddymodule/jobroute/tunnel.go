package jobroute

// Requests that would turn the route into a tunnel to the provider.

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// refuseTunnel keeps r from becoming a connection to the provider on
// which the fronts no longer see the requests. The fronts judge one
// request; the reverse proxy passes an upgrade on, and once the provider
// switches protocols it copies bytes both ways: after an h2c upgrade the
// consumer would speak HTTP/2 to the provider directly, any path, any
// header (h2c smuggling). So r's Upgrade offers only websocket, the one
// upgrade a resource's own API may use (a WebSocket carries no further
// HTTP request); any other offer is withdrawn, as a server that ignores
// it would (RFC 9110 section 7.8), and the request is answered over HTTP/1.1.
// CONNECT asks for a tunnel outright and is refused (405); HTTP/2's and
// HTTP/3's extended CONNECT for websocket is the reverse proxy's own
// WebSocket upgrade and goes on.
func refuseTunnel(r *http.Request) error {
	if r.Method == http.MethodConnect && !extendedConnectWebSocket(r) {
		return &contract.Error{Kind: contract.KindClient, Status: http.StatusMethodNotAllowed, Op: "proxy", Err: errors.New("CONNECT is not allowed through the broker")}
	}
	up, ok := r.Header["Upgrade"]
	if !ok {
		return nil
	}
	websocket := false
	for _, v := range up {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "websocket") {
				websocket = true
			}
		}
	}
	r.Header.Del("Upgrade")
	r.Header.Del("Http2-Settings")
	if websocket {
		r.Header.Set("Upgrade", "websocket")
	}
	return nil
}

// extendedConnectWebSocket reports whether r is a WebSocket opened with
// extended CONNECT (RFC 8441, RFC 9220), which the reverse proxy turns
// into an HTTP/1.1 upgrade to websocket.
func extendedConnectWebSocket(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Header.Get(":protocol") == "websocket" ||
		r.ProtoMajor == 3 && r.Proto == "websocket"
}
