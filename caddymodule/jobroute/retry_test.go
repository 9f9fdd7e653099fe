package jobroute

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
	"go.uber.org/zap"
)

// TestRetryCarriesRenewedCredentials: the credential a retry is given
// (a Digest response to the fresh challenge, or the adapter's renewed
// token after a 401) is the one the retry sends, through Caddy's own
// reverse proxy. The proxy rebuilds a retry's headers from the request
// as it was before the first try whenever it has header operations to
// apply: header_up, or the Host default of every transport with tls,
// so of every https provider. The credential the source set on the
// request was then thrown away and the retry sent the refused one again.
func TestRetryCarriesRenewedCredentials(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tls     bool
		options string
	}{
		{"no header operations", false, ""},
		{"header_up", false, `, "headers": {"request": {"set": {"X-Csb-Test": ["1"]}}}`},
		{"transport with tls", true, `, "transport": {"protocol": "http", "tls": {"insecure_skip_verify": true}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tries atomic.Int32
			answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tries.Add(1)
				if r.Header.Get("X-Auth-Token") != "fresh" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				_, _ = w.Write([]byte("ok"))
			})
			provider, scheme := httptest.NewUnstartedServer(answer), "http"
			if tc.tls {
				provider.StartTLS()
				scheme = "https"
			} else {
				provider.Start()
			}
			defer provider.Close()
			ctx := runningCaddy(t)
			raw := `{"load_balancing": {"retries": 1, "retry_match": [{"expression": "{http.reverse_proxy.status_code} == 401"}]}` + tc.options + `}`
			mod, err := ctx.LoadModuleByID("http.handlers.reverse_proxy", json.RawMessage(raw))
			if err != nil {
				t.Fatal(err)
			}
			rp := mod.(*reverseproxy.Handler)
			src := &JobUpstreams{logger: zap.NewNop(), watch: &watchSet{m: map[string]*reverseproxy.Host{}}, proxy: rp}
			rp.DynamicUpstreams = src

			r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/x", nil)
			r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, &caddyhttp.Server{})
			r.Header.Set("X-Auth-Token", "stale")
			rt := &routed{provider: "p", scheme: scheme, upstreams: []*reverseproxy.Upstream{{Dial: strings.TrimPrefix(provider.URL, scheme+"://")}}}
			rt.reauth = func(_ context.Context, r *http.Request) error {
				r.Header.Set("X-Auth-Token", "fresh")
				return nil
			}
			caddyhttp.SetVar(r.Context(), routedVar, rt)
			rec := httptest.NewRecorder()
			err = rp.ServeHTTP(rec, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
			if err != nil || rec.Code != http.StatusOK || tries.Load() != 2 {
				t.Fatalf("HTTP %d (%v) after %d tries, want 200 after 2: the retry did not carry the renewed credential", rec.Code, err, tries.Load())
			}
		})
	}
}

// runningCaddy loads an empty configuration (no admin endpoint, storage
// in a temporary directory) and returns its context, in which modules
// such as the reverse proxy can be provisioned as a configuration's
// routes would hold them. It is stopped when the test ends.
func runningCaddy(t *testing.T) caddy.Context {
	t.Helper()
	cfg, _ := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"storage": map[string]any{"module": "file_system", "root": t.TempDir()},
	})
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return caddy.ActiveContext()
}
