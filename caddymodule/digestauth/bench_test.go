package digestauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// benchAuth is Caddy's authentication handler with an http_digest
// provider (realm broker, SHA-256, qop auth, user alice) and a client of
// it: header returns the Authorization value of the next request to uri,
// one nonce with counts in order.
type benchAuth struct {
	auth   caddyauth.Authentication
	header func() string
}

const benchURI = "/auth/x"

func newBenchAuth(tb testing.TB) *benchAuth {
	tb.Helper()
	const realm = "broker"
	ha1 := digest.HA1(digest.SHA256, "alice", realm, "wonderland")
	d := &HTTPDigestAuth{Realm: realm, NonceKey: "bench-nonce-key-0123456789", Algorithms: []string{"SHA-256"}, QOP: []string{"auth"},
		Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{"SHA-256": ha1}}}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	if err := d.Provision(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = d.Cleanup() })
	ba := &benchAuth{}
	if err := ba.auth.Provision(ctx); err != nil {
		tb.Fatal(err)
	}
	ba.auth.Providers = map[string]caddyauth.Authenticator{"http_digest": d}

	// A challenge, for the nonce.
	r := httptest.NewRequest(http.MethodGet, benchURI, nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	_ = ba.auth.ServeHTTP(w, r, okHandler)
	cs, err := digest.ParseChallenges(w.Header().Get("WWW-Authenticate"))
	if err != nil {
		tb.Fatal(err)
	}
	nonce, _ := cs[0].Get("nonce")
	opaque, _ := cs[0].Get("opaque")
	nc := 0
	ba.header = func() string {
		nc++
		in := digest.Input{Algorithm: digest.SHA256, HA1: ha1, Nonce: nonce, Cnonce: "bench", NC: fmt.Sprintf("%08x", nc), QOP: "auth", Method: http.MethodGet, URI: benchURI}
		return fmt.Sprintf(`Digest username="alice", realm=%q, uri=%q, algorithm=SHA-256, nonce=%q, nc=%s, cnonce="bench", qop=auth, response=%q, opaque=%q`,
			realm, benchURI, nonce, in.NC, in.Response(), opaque)
	}
	return ba
}

var okHandler = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
})

// BenchmarkDigestHandler measures Caddy's authentication handler with
// http_digest in front of a trivial handler ("digest"), against the
// trivial handler alone ("open"), in the same run: the server's cost of
// Digest per request without the network. Authorization headers (one
// nonce, counts in order) are prepared outside the timer.
func BenchmarkDigestHandler(b *testing.B) {
	ba := newBenchAuth(b)
	serve := func(h caddyhttp.Handler, authz string) int {
		r := httptest.NewRequest(http.MethodGet, benchURI, nil)
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
	authed := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return ba.auth.ServeHTTP(w, r, okHandler) })

	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if code := serve(okHandler, ""); code != 200 {
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
					headers = append(headers, ba.header())
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

// maxAuthStageAllocs is what Caddy's authentication handler with
// http_digest may allocate for an accepted request, beyond what the
// request and response already hold: the Authentication-Info value and
// its []string (ours), the name of {http.auth.user.id} and its boxed
// value (caddyauth's).
const maxAuthStageAllocs = 4

// TestAuthStageAllocs fails when letting a request in through
// digest_auth allocates more than maxAuthStageAllocs: the request, its
// replacer (with the placeholders already set once, as the map of a
// request that has been through the handler) and the response's header
// map are reused, so only the authentication stage's own allocations
// count. It also checks the placeholders' values.
func TestAuthStageAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	ba := newBenchAuth(t)
	const runs = 200
	values := make([][]string, runs+1) // AllocsPerRun runs once more to warm up
	for i := range values {
		values[i] = []string{ba.header()}
	}
	repl := caddy.NewReplacer()
	r := httptest.NewRequest(http.MethodGet, benchURI, nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	w := &headerWriter{h: http.Header{"Server": {"Caddy"}}}
	next := 0
	let := func() {
		r.Header["Authorization"] = values[next]
		next++
		w.code = 0
		if err := ba.auth.ServeHTTP(w, r, okHandler); err != nil || w.code != http.StatusOK {
			t.Fatalf("request %d: %v (HTTP %d)", next, err, w.code)
		}
	}
	allocs := testing.AllocsPerRun(runs, let)
	if allocs > maxAuthStageAllocs {
		t.Errorf("the authentication stage allocates %.1f times per request, want at most %d", allocs, maxAuthStageAllocs)
	}
	for name, want := range map[string]string{"http.auth.user.id": "alice", "http.auth.user.algorithm": "SHA-256"} {
		if got, _ := repl.GetString(name); got != want {
			t.Errorf("{%s} = %q, want %q", name, got, want)
		}
	}
	if info := w.h.Get("Authentication-Info"); !strings.HasPrefix(info, `rspauth="`) {
		t.Errorf("Authentication-Info %q", info)
	}
}

// headerWriter is a ResponseWriter that keeps the status and discards
// the body.
type headerWriter struct {
	h    http.Header
	code int
}

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(code int)        { w.code = code }
