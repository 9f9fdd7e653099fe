package digestauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// BenchmarkDigestHandler measures Caddy's authentication handler with
// http_digest in front of a trivial handler ("digest"), against the
// trivial handler alone ("open"), in the same run: the server's cost of
// Digest per request without the network. Authorization headers (one
// nonce, counts in order) are prepared outside the timer.
func BenchmarkDigestHandler(b *testing.B) {
	const realm = "broker"
	ha1 := digest.HA1(digest.SHA256, "alice", realm, "wonderland")
	d := &HTTPDigestAuth{Realm: realm, NonceKey: "bench-nonce-key-0123456789", Algorithms: []string{"SHA-256"}, QOP: []string{"auth"},
		Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{"SHA-256": ha1}}}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := d.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	defer d.Cleanup()
	var auth caddyauth.Authentication
	if err := auth.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	auth.Providers = map[string]caddyauth.Authenticator{"http_digest": d}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	const uri = "/auth/x"
	serve := func(h caddyhttp.Handler, authz string) int {
		r := httptest.NewRequest(http.MethodGet, uri, nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r); err != nil {
			return 401
		}
		return w.Code
	}
	authed := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return auth.ServeHTTP(w, r, next) })

	// A challenge, for the nonce.
	r := httptest.NewRequest(http.MethodGet, uri, nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	_ = auth.ServeHTTP(w, r, next)
	cs, err := digest.ParseChallenges(w.Header().Get("WWW-Authenticate"))
	if err != nil {
		b.Fatal(err)
	}
	nonce, _ := cs[0].Get("nonce")
	opaque, _ := cs[0].Get("opaque")
	nc := 0
	header := func() string {
		nc++
		in := digest.Input{Algorithm: digest.SHA256, HA1: ha1, Nonce: nonce, Cnonce: "bench", NC: fmt.Sprintf("%08x", nc), QOP: "auth", Method: http.MethodGet, URI: uri}
		return fmt.Sprintf(`Digest username="alice", realm=%q, uri=%q, algorithm=SHA-256, nonce=%q, nc=%s, cnonce="bench", qop=auth, response=%q, opaque=%q`,
			realm, uri, nonce, in.NC, in.Response(), opaque)
	}

	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if code := serve(next, ""); code != 200 {
				b.Fatal(code)
			}
		}
	})
	b.Run("digest", func(b *testing.B) {
		const batch = 1024
		headers := make([]string, 0, batch)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if len(headers) == 0 {
				b.StopTimer()
				for j := 0; j < batch; j++ {
					headers = append(headers, header())
				}
				b.StartTimer()
			}
			if code := serve(authed, headers[0]); code != 200 {
				b.Fatal(code)
			}
			headers = headers[1:]
		}
	})
}
