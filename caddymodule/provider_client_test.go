package caddymodule

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

func TestProviderClientCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"auth no scheme", "provider p {\n\tauth\n}", "wrong argument count"},
		{"auth unknown scheme", "provider p {\n\tauth ntlm a b\n}", `unknown auth scheme "ntlm"`},
		{"digest no password", "provider p {\n\tauth digest broker\n}", "want auth digest <user> <password>"},
		{"basic extra arg", "provider p {\n\tauth basic a b c\n}", "wrong argument count"},
		{"bearer no token", "provider p {\n\tauth bearer\n}", "want auth bearer <token>"},
		{"auth twice", "provider p {\n\tauth bearer a\n\tauth bearer b\n}", "auth given twice"},
		{"auth unknown option", "provider p {\n\tauth bearer a {\n\t\tinsecure\n\t}\n}", `unrecognized auth option "insecure"`},
		{"cleartext digest", "provider p {\n\tauth digest a b {\n\t\tallow_cleartext\n\t}\n}", "allow_cleartext is for basic and bearer"},
		{"tls arg", "provider p {\n\ttls internal\n}", "wrong argument count"},
		{"tls empty", "provider p {\n\ttls {\n\t}\n}", "empty tls block"},
		{"tls unknown", "provider p {\n\ttls {\n\t\tinsecure_skip_verify\n\t}\n}", `unrecognized tls option "insecure_skip_verify"`},
		{"tls ca no file", "provider p {\n\ttls {\n\t\tca\n\t}\n}", "wrong argument count"},
		{"tls client_cert one file", "provider p {\n\ttls {\n\t\tclient_cert a.pem\n\t}\n}", "want client_cert <cert-file> <key-file>"},
		{"tls server_name two", "provider p {\n\ttls {\n\t\tserver_name a b\n\t}\n}", "wrong argument count"},
		{"tls twice", "provider p {\n\ttls {\n\t\tca a\n\t}\n\ttls {\n\t\tca b\n\t}\n}", "tls given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tc.input)
			d.Next() // "provider", as the csb option dispatcher leaves it
			err := parseProviderBlock(d, new(App))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("error %q does not name the file and line", err)
			}
		})
	}
}

// TestProviderClientDigestWithEnvPassword provisions a provider whose
// password comes from an {env.*} placeholder and calls a Digest-protected
// provider double with its client.
func TestProviderClientDigestWithEnvPassword(t *testing.T) {
	t.Setenv("CSB_TEST_PROVIDER_PW", "provider-secret")
	users := digest.NewUsers("provider")
	users.Add("broker", digest.SHA256, digest.HA1(digest.SHA256, "broker", "provider", "provider-secret"))
	nonces, _ := digest.NewNonces([]byte("0123456789abcdef"), "provider")
	srvd, err := digest.NewServer(digest.ServerConfig{Realm: "provider", Algorithms: []digest.Algorithm{digest.SHA256},
		Nonces: nonces, Replay: digest.NewReplayCache(0, 0), Users: users})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := srvd.Authenticate(digest.Request{Method: r.Method, URI: r.RequestURI, Authorization: r.Header.Get("Authorization")})
		if !res.OK {
			for _, c := range srvd.Challenges(res.Stale) {
				w.Header().Add("WWW-Authenticate", c)
			}
			w.WriteHeader(401)
			return
		}
		io.WriteString(w, res.Username)
	}))
	defer srv.Close()

	d := caddyfile.NewTestDispenser("provider p {\n\tauth digest broker {env.CSB_TEST_PROVIDER_PW}\n}")
	d.Next()
	app := new(App)
	if err := parseProviderBlock(d, app); err != nil {
		t.Fatal(err)
	}
	p := app.Providers[0]
	if p.Auth.Password != "{env.CSB_TEST_PROVIDER_PW}" {
		t.Fatalf("the placeholder must stay in the config: %q", p.Auth.Password)
	}
	if err := p.provisionClient(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	resp, err := p.HTTPClient().Get(srv.URL + "/subscriptions")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "broker" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

func TestProviderClientBadFiles(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	p := &Provider{ID: "p", TLS: &reverseproxy.TLSConfig{CARaw: json.RawMessage(`{"provider":"file","pem_files":["/nonexistent/ca.pem"]}`)}}
	err := p.provisionClient(ctx)
	if err == nil || !strings.Contains(err.Error(), `provider "p"`) {
		t.Fatalf("%v", err)
	}
	if (&Provider{ID: "q"}).HTTPClient() == nil {
		t.Fatal("an unprovisioned provider must still have a client")
	}
}

// TestProviderTLSCaddyShape: the Caddyfile tls block becomes Caddy's
// reverseproxy.TLSConfig (the ca a tls.ca_pool.source.file module), and
// the provider's client then trusts exactly that CA: it reaches a
// provider whose certificate the CA signed, which the system's trust
// store alone refuses.
func TestProviderTLSCaddyShape(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls ok") }))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	client := func(block string) *http.Client {
		t.Helper()
		d := caddyfile.NewTestDispenser("provider p {\n" + block + "\n}")
		d.Next()
		app := new(App)
		if err := parseProviderBlock(d, app); err != nil {
			t.Fatal(err)
		}
		p := app.Providers[0]
		if err := p.provisionClient(ctx); err != nil {
			t.Fatal(err)
		}
		return p.HTTPClient()
	}
	trusting := client("\ttls {\n\t\tca " + caFile + "\n\t\tserver_name example.com\n\t}")
	resp, err := trusting.Get(srv.URL)
	if err != nil {
		t.Fatalf("with the provider's CA: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "tls ok" {
		t.Fatalf("%q", body)
	}
	if _, err := client("\turi " + srv.URL).Get(srv.URL); err == nil {
		t.Fatal("without the provider's CA the client trusted its certificate")
	}
	p := &Provider{ID: "p", TLS: &reverseproxy.TLSConfig{InsecureSkipVerify: true}}
	if err := p.provisionClient(ctx); err == nil || !strings.Contains(err.Error(), "insecure_skip_verify") {
		t.Fatalf("insecure_skip_verify: %v", err)
	}
}
