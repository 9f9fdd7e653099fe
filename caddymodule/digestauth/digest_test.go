package digestauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

func TestDigestAuthCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"two realms", `digest_auth a b`, "wrong argument count"},
		{"unknown subdirective", "digest_auth {\n\tpassword x\n}", `unrecognized subdirective "password"`},
		{"realm no arg", "digest_auth {\n\trealm\n}", "wrong argument count"},
		{"unknown algorithm", "digest_auth {\n\talgorithms SHA-1\n}", `unknown digest algorithm "SHA-1"`},
		{"algorithms empty", "digest_auth {\n\talgorithms\n}", "wrong argument count"},
		{"bad qop", "digest_auth {\n\tqop auth-conf\n}", `qop "auth-conf"`},
		{"userhash arg", "digest_auth {\n\tuserhash yes\n}", "wrong argument count"},
		{"bad lifetime", "digest_auth {\n\tnonce_lifetime forever\n}", "nonce_lifetime"},
		{"negative lifetime", "digest_auth {\n\tnonce_lifetime -1s\n}", "nonce_lifetime"},
		{"key two args", "digest_auth {\n\tnonce_key a b\n}", "wrong argument count"},
		{"window zero", "digest_auth {\n\treplay_window 0\n}", "replay_window"},
		{"window huge", "digest_auth {\n\treplay_window 100000\n}", "replay_window"},
		{"max nonces word", "digest_auth {\n\tmax_nonces many\n}", "max_nonces"},
		{"body size", "digest_auth {\n\tauth_int_max_body lots\n}", "auth_int_max_body"},
		{"htdigest no file", "digest_auth {\n\thtdigest\n}", "wrong argument count"},
		{"user two args", "digest_auth {\n\tuser alice abc\n}", "want user <name> <hash-function> <HA1>"},
		{"user sess", "digest_auth {\n\tuser alice MD5-sess abc\n}", "want MD5, SHA-256 or SHA-512-256"},
		{"user dup", "digest_auth {\n\tuser alice MD5 a\n\tuser alice md5 b\n}", "MD5 HA1 given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d HTTPDigestAuth
			err := d.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("error %q does not name the file and line", err)
			}
		})
	}
}

// provisionDigest provisions a provider with a fixed nonce key (no storage
// needed) and returns it with a cleanup.
func provisionDigest(t *testing.T, d *HTTPDigestAuth) *HTTPDigestAuth {
	t.Helper()
	if d.NonceKey == "" {
		d.NonceKey = "unit-test-nonce-key-0123456789"
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := d.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Cleanup() })
	return d
}

func TestDigestProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.htdigest")
	os.WriteFile(bad, []byte("alice:r:nothex\n"), 0o600)
	md5 := digest.HA1(digest.MD5, "alice", "r", "pw")
	for _, tc := range []struct {
		name string
		d    HTTPDigestAuth
		want string
	}{
		{"no users", HTTPDigestAuth{Realm: "r"}, "no users"},
		{"bad ha1", HTTPDigestAuth{Realm: "r", Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{"MD5": "xyz"}}}}, "32 hexadecimal digits"},
		{"no ha1", HTTPDigestAuth{Realm: "r", Accounts: []DigestAccount{{Username: "alice"}}}, "no HA1"},
		{"sess ha1", HTTPDigestAuth{Realm: "r", Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{"MD5-sess": md5}}}}, "give the HA1 of MD5"},
		{"algorithm without users", HTTPDigestAuth{Realm: "r", Algorithms: []string{"SHA-256"}, Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{"MD5": md5}}}}, "no user has a SHA-256 HA1"},
		{"missing htdigest", HTTPDigestAuth{Realm: "r", HTDigestFiles: []string{filepath.Join(dir, "nope")}}, "no such file"},
		{"bad htdigest", HTTPDigestAuth{Realm: "r", HTDigestFiles: []string{bad}}, "line 1"},
		{"short key", HTTPDigestAuth{Realm: "r", NonceKey: "short", Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{"MD5": md5}}}}, "at least 16 bytes"},
		{"unset env key", HTTPDigestAuth{Realm: "r", NonceKey: "{env.CSB_TEST_SURELY_UNSET}", Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{"MD5": md5}}}}, "at least 16 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.d.NonceKey == "" {
				tc.d.NonceKey = "unit-test-nonce-key-0123456789"
			}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := tc.d.Provision(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), md5) {
				t.Fatalf("error %q quotes an HA1", err)
			}
		})
	}
}

// serveAuth serves Caddy's authentication handler with d alone.
func serveAuth(t *testing.T, d *HTTPDigestAuth) *httptest.Server {
	return serveAuthWith(t, map[string]caddyauth.Authenticator{"http_digest": d})
}

// serveAuthWith serves Caddy's authentication handler with the given
// providers in front of a handler that echoes the user and the body.
func serveAuthWith(t *testing.T, providers map[string]caddyauth.Authenticator) *httptest.Server {
	var auth caddyauth.Authentication
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := auth.Provision(ctx); err != nil { // sets the logger; no ProvidersRaw to load
		t.Fatal(err)
	}
	auth.Providers = providers
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s", repl.ReplaceAll("{http.auth.user.id}", ""), repl.ReplaceAll("{http.auth.user.algorithm}", ""), body)
			return nil
		})
		if err := auth.ServeHTTP(w, r, next); err != nil {
			if he, ok := err.(caddyhttp.HandlerError); ok {
				w.WriteHeader(he.StatusCode)
				return
			}
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDigestProviderThroughCaddyauth(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users.htdigest")
	var buf bytes.Buffer
	if err := writeDigestHash(&buf, "bob", "broker", "all", "htdigest", []byte("builder")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, buf.Bytes(), 0o600)
	d := provisionDigest(t, &HTTPDigestAuth{
		Realm:         "broker",
		Algorithms:    []string{"MD5", "SHA-256", "SHA-512-256-sess"},
		Userhash:      true,
		HTDigestFiles: []string{file},
		Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{
			"MD5":         digest.HA1(digest.MD5, "alice", "broker", "wonderland"),
			"SHA-256":     digest.HA1(digest.SHA256, "alice", "broker", "wonderland"),
			"SHA-512-256": digest.HA1(digest.SHA512_256, "alice", "broker", "wonderland"),
		}}},
	})
	srv := serveAuth(t, d)

	// No credentials: 401 with one challenge per algorithm, in order.
	resp, err := http.Get(srv.URL + "/csb/publish")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ch := resp.Header.Values("WWW-Authenticate")
	if resp.StatusCode != 401 || len(ch) != 3 || !strings.Contains(ch[0], "algorithm=MD5,") ||
		!strings.Contains(ch[1], "algorithm=SHA-256,") || !strings.Contains(ch[2], "algorithm=SHA-512-256-sess,") {
		t.Fatalf("%d %q", resp.StatusCode, ch)
	}

	for _, tc := range []struct{ user, pass, want string }{
		{"alice", "wonderland", "alice SHA-512-256-sess <x/>"},
		{"bob", "builder", "bob SHA-512-256-sess <x/>"},
	} {
		c := &http.Client{Transport: &digest.Transport{Username: tc.user, Password: tc.pass}}
		resp, err := c.Post(srv.URL+"/csb/publish?a=b", "application/xml", strings.NewReader("<x/>"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != tc.want || resp.Header.Get("Authentication-Info") == "" {
			t.Fatalf("%s: %d %q", tc.user, resp.StatusCode, body)
		}
	}

	// Malformed or hostile headers: 401 with fresh challenges, never 500.
	for _, h := range []string{
		`Digest`, `Digest username="alice"`, `Digest ` + strings.Repeat(`a="b", `, 100), "Digest username=\"\xff\xfe\\\"\"",
		`Digest username="alice", realm="broker", nonce="x", uri="/csb/publish", response="y", qop=auth, nc=zz, cnonce="c"`,
		`Basic YWxpY2U6d29uZGVybGFuZA==`, strings.Repeat("x", 20000),
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/csb/publish", nil)
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || len(resp.Header.Values("WWW-Authenticate")) != 3 {
			t.Fatalf("%.40q: %d", h, resp.StatusCode)
		}
	}
}

func TestDigestReplayStateSurvivesReprovision(t *testing.T) {
	cfg := func() *HTTPDigestAuth {
		return &HTTPDigestAuth{Realm: "broker", NonceKey: "reload-test-nonce-key-0123456789", Accounts: []DigestAccount{
			{Username: "alice", HA1: map[string]string{"SHA-256": digest.HA1(digest.SHA256, "alice", "broker", "wonderland")}}}}
	}
	old := cfg()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := old.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	// A request authenticates with the old config...
	tr := &digest.Transport{Username: "alice", Password: "wonderland"}
	srv := serveAuth(t, old)
	var lastAuth string
	tr.Base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		lastAuth = r.Header.Get("Authorization")
		return http.DefaultTransport.RoundTrip(r)
	})
	c := &http.Client{Transport: tr}
	if resp, err := c.Get(srv.URL + "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	// ...then a new config is provisioned before the old is cleaned up,
	// as on a reload.
	neu := cfg()
	if err := neu.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	old.Cleanup()
	defer neu.Cleanup()
	res := neu.server.Authenticate(digest.Request{Method: "GET", URI: "/", Authorization: lastAuth})
	if res.OK || res.Err != digest.ErrReplay {
		t.Fatalf("replay after reload: ok=%v err=%v", res.OK, res.Err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWriteDigestHash(t *testing.T) {
	var buf bytes.Buffer
	if err := writeDigestHash(&buf, "Mufasa", "http-auth@example.org", "all", "caddyfile", []byte("Circle of Life")); err != nil {
		t.Fatal(err)
	}
	want := "user Mufasa SHA-512-256 " + digest.HA1(digest.SHA512_256, "Mufasa", "http-auth@example.org", "Circle of Life") + "\n" +
		"user Mufasa SHA-256 7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232\n" +
		"user Mufasa MD5 3d78807defe7de2157e2b0b6573a855f\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	// The SHA-256 and MD5 HA1 values above are RFC 7616 section 3.9.1's
	// (HA1 is H(user:realm:password)); recompute them independently.
	if digest.HA1(digest.MD5, "Mufasa", "http-auth@example.org", "Circle of Life") != "3d78807defe7de2157e2b0b6573a855f" {
		t.Fatal("MD5 HA1")
	}
	buf.Reset()
	if err := writeDigestHash(&buf, "Jäsøn Doe", "r", "sha-256", "caddyfile", []byte("p")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "user `Jäsøn Doe` SHA-256 ") {
		t.Fatalf("quoting: %q", buf.String())
	}
	// What it prints parses back in a digest_auth block.
	var d HTTPDigestAuth
	if err := d.UnmarshalCaddyfile(caddyfile.NewTestDispenser("digest_auth r {\n" + buf.String() + "}")); err != nil {
		t.Fatal(err)
	}
	if len(d.Accounts) != 1 || d.Accounts[0].Username != "Jäsøn Doe" {
		t.Fatalf("%+v", d.Accounts)
	}
	buf.Reset()
	writeDigestHash(&buf, "a", "r", "MD5", "htdigest", []byte("p"))
	if buf.String() != "a:r:"+digest.HA1(digest.MD5, "a", "r", "p")+"\n" {
		t.Fatalf("htdigest: %q", buf.String())
	}
	for _, bad := range [][5]string{
		{"", "r", "all", "caddyfile", "p"},
		{"u", "", "all", "caddyfile", "p"},
		{"u", "r", "all", "caddyfile", ""},
		{"u", "r", "SHA-1", "caddyfile", "p"},
		{"u", "r", "all", "json", "p"},
		{"u:v", "r", "all", "htdigest", "p"},
	} {
		if err := writeDigestHash(io.Discard, bad[0], bad[1], bad[2], bad[3], []byte(bad[4])); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDigestComposesWithBasic puts http_digest and http_basic in one
// authentication handler: either kind of credentials gets in, and a
// request without credentials gets a 401 with a challenge.
func TestDigestComposesWithBasic(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("builder"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	basic := &caddyauth.HTTPBasicAuth{
		HashRaw:     json.RawMessage(`{"algorithm":"bcrypt"}`),
		AccountList: []caddyauth.Account{{Username: "bob", Password: string(hash)}},
	}
	if err := basic.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	d := provisionDigest(t, &HTTPDigestAuth{Realm: "broker", Accounts: []DigestAccount{{Username: "alice",
		HA1: map[string]string{"SHA-256": digest.HA1(digest.SHA256, "alice", "broker", "wonderland")}}}})
	srv := serveAuthWith(t, map[string]caddyauth.Authenticator{"http_basic": basic, "http_digest": d})

	resp, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || len(resp.Header.Values("WWW-Authenticate")) == 0 {
		t.Fatalf("no credentials: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}

	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	req.SetBasicAuth("bob", "builder")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "bob ") {
		t.Fatalf("basic: %d %q", resp.StatusCode, body)
	}

	// Digest credentials. With several providers Caddy's handler replays
	// only one provider's challenge on a 401 (chosen by map order), so the
	// nonce is taken from the digest provider directly.
	ch := d.server.Challenges(false)
	cs, _ := digest.ParseChallenges(ch[0])
	nonce, _ := cs[0].Get("nonce")
	in := digest.Input{Algorithm: digest.SHA256, HA1: digest.HA1(digest.SHA256, "alice", "broker", "wonderland"),
		Nonce: nonce, Cnonce: "c", NC: "00000001", QOP: "auth", Method: "GET", URI: "/x"}
	req, _ = http.NewRequest("GET", srv.URL+"/x", nil)
	req.Header.Set("Authorization", fmt.Sprintf(`Digest username="alice", realm="broker", uri="/x", algorithm=SHA-256, nonce=%q, nc=00000001, cnonce="c", qop=auth, response=%q`, nonce, in.Response()))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "alice SHA-256 " || resp.Header.Get("Authentication-Info") == "" {
		t.Fatalf("digest: %d %q", resp.StatusCode, body)
	}
}
