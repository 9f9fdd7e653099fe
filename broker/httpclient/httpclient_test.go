package httpclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// pki is a throw-away CA that issues certificates for tests.
type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &pki{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *pki) issue(t *testing.T, cn string, client bool, dns []string, ips []net.IP) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: dns, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func write(t *testing.T, dir, name string, data []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsProvider starts an HTTPS provider double whose certificate names
// only "provider.example" and which requires a client certificate from
// clientCA.
func tlsProvider(t *testing.T, serverCA, clientCA *pki, maxVersion uint16) *httptest.Server {
	certPEM, keyPEM := serverCA.issue(t, "provider", false, []string{"provider.example"}, nil)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MaxVersion: maxVersion}
	if maxVersion != 0 && maxVersion < tls.VersionTLS12 {
		srv.TLS.MinVersion = maxVersion
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func fetch(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), errors.New(resp.Status)
	}
	return string(b), nil
}

func TestTLSTrustAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newCA(t, "server ca"), newCA(t, "client ca"), newCA(t, "other ca")
	srv := tlsProvider(t, serverCA, clientCA, 0)
	caFile := write(t, dir, "ca.pem", serverCA.pem)
	otherFile := write(t, dir, "other.pem", otherCA.pem)
	cPEM, kPEM := clientCA.issue(t, "broker", true, nil, nil)
	certFile, keyFile := write(t, dir, "client.pem", cPEM), write(t, dir, "client.key", kPEM)

	good := TLS{CAFile: caFile, ClientCertFile: certFile, ClientKeyFile: keyFile, ServerName: "provider.example"}
	c, err := New(Config{TLS: good})
	if err != nil {
		t.Fatal(err)
	}
	if body, err := fetch(c, srv.URL); err != nil || body != "hello broker" {
		t.Fatalf("mTLS: %q %v", body, err)
	}

	for name, cfg := range map[string]TLS{
		"no client cert":   {CAFile: caFile, ServerName: "provider.example"},
		"wrong ca":         {CAFile: otherFile, ClientCertFile: certFile, ClientKeyFile: keyFile, ServerName: "provider.example"},
		"system trust":     {ClientCertFile: certFile, ClientKeyFile: keyFile, ServerName: "provider.example"},
		"no name override": {CAFile: caFile, ClientCertFile: certFile, ClientKeyFile: keyFile},
	} {
		c, err := New(Config{TLS: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fetch(c, srv.URL); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
}

// TestTLSRootCAsPool trusts a CA held in memory (as Caddy's local CA is)
// and nothing else.
func TestTLSRootCAsPool(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newCA(t, "server ca"), newCA(t, "client ca"), newCA(t, "other ca")
	srv := tlsProvider(t, serverCA, clientCA, 0)
	cPEM, kPEM := clientCA.issue(t, "broker", true, nil, nil)
	certFile, keyFile := write(t, dir, "client.pem", cPEM), write(t, dir, "client.key", kPEM)
	for _, tc := range []struct {
		ca   *pki
		want bool
	}{{serverCA, true}, {otherCA, false}} {
		pool := x509.NewCertPool()
		pool.AddCert(tc.ca.cert)
		c, err := New(Config{TLS: TLS{RootCAs: pool, ClientCertFile: certFile, ClientKeyFile: keyFile, ServerName: "provider.example"}})
		if err != nil {
			t.Fatal(err)
		}
		body, err := fetch(c, srv.URL)
		if got := err == nil && body == "hello broker"; got != tc.want {
			t.Errorf("pool with %s: connected=%v (%q, %v), want %v", tc.ca.cert.Subject.CommonName, got, body, err, tc.want)
		}
	}
}

func TestTLSMinimumVersion(t *testing.T) {
	serverCA, clientCA := newCA(t, "server ca"), newCA(t, "client ca")
	srv := tlsProvider(t, serverCA, clientCA, tls.VersionTLS11)
	dir := t.TempDir()
	cPEM, kPEM := clientCA.issue(t, "broker", true, nil, nil)
	c, err := New(Config{TLS: TLS{CAFile: write(t, dir, "ca.pem", serverCA.pem), ServerName: "provider.example",
		ClientCertFile: write(t, dir, "c.pem", cPEM), ClientKeyFile: write(t, dir, "c.key", kPEM)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = fetch(c, srv.URL)
	if err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("TLS 1.1 server: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := write(t, dir, "x.pem", []byte("not a certificate"))
	for name, cfg := range map[string]Config{
		"missing ca file":  {TLS: TLS{CAFile: filepath.Join(dir, "nope.pem")}},
		"ca not pem":       {TLS: TLS{CAFile: notPEM}},
		"cert without key": {TLS: TLS{ClientCertFile: notPEM}},
		"bad key pair":     {TLS: TLS{ClientCertFile: notPEM, ClientKeyFile: notPEM}},
		"ca file and pool": {TLS: TLS{CAFile: notPEM, RootCAs: x509.NewCertPool()}},
		"unknown scheme":   {Auth: Auth{Scheme: "ntlm"}},
		"digest no user":   {Auth: Auth{Scheme: "digest"}},
		"basic colon":      {Auth: Auth{Scheme: "basic", Username: "a:b"}},
		"bearer no token":  {Auth: Auth{Scheme: "bearer"}},
		"bearer space":     {Auth: Auth{Scheme: "bearer", Token: "a b"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := New(Config{Auth: Auth{Scheme: "basic", Username: "a:b", Password: "s3cret-pw"}})
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestBasicAndBearer(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		auth Auth
		want string
	}{
		{Auth{Scheme: "basic", Username: "Aladdin", Password: "open sesame"}, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="},
		{Auth{Scheme: "Bearer", Token: "tok-123"}, "Bearer tok-123"},
		{Auth{}, ""},
	} {
		c, err := New(Config{Auth: tc.auth})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fetch(c, srv.URL); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Fatalf("%+v: sent %q, want %q", tc.auth.Scheme, got, tc.want)
		}
	}
	// Not to hosts outside the list.
	c, _ := New(Config{Auth: Auth{Scheme: "bearer", Token: "tok"}, Hosts: []string{"provider.example"}})
	fetch(c, srv.URL)
	if got != "" {
		t.Fatalf("token sent to an unlisted host: %q", got)
	}
}

func TestCleartextRefused(t *testing.T) {
	c, _ := New(Config{Auth: Auth{Scheme: "basic", Username: "a", Password: "b"}})
	// 192.0.2.1 (TEST-NET-1) is never dialled: the refusal comes first.
	_, err := c.Get("http://192.0.2.1/")
	if !errors.Is(err, ErrCleartext) {
		t.Fatalf("got %v", err)
	}
	rt, _ := NewTransport(Config{Auth: Auth{Scheme: "bearer", Token: "t", AllowCleartext: true}})
	called := false
	rt.(*headerAuth).base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		called = r.Header.Get("Authorization") == "Bearer t"
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
	})
	req, _ := http.NewRequest("GET", "http://192.0.2.1/", nil)
	if _, err := rt.RoundTrip(req); err != nil || !called {
		t.Fatalf("allow_cleartext: %v %v", err, called)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDigestThroughBuilder(t *testing.T) {
	users := digest.NewUsers("provider")
	if err := users.Add("broker", digest.SHA256, digest.HA1(digest.SHA256, "broker", "provider", "pw")); err != nil {
		t.Fatal(err)
	}
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
		w.Header().Set("Authentication-Info", res.AuthenticationInfo)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	for pw, want := range map[string]bool{"pw": true, "wrong": false} {
		c, err := New(Config{Auth: Auth{Scheme: "digest", Username: "broker", Password: pw}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = fetch(c, srv.URL+"/subscribe")
		if (err == nil) != want {
			t.Fatalf("password %q: %v", pw, err)
		}
	}
}
