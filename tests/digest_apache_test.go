package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/broker/httpclient"
)

// digestBackend records what reaches it behind Apache.
type digestBackend struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD /path body"
}

func newDigestBackend(t *testing.T) *digestBackend {
	d := &digestBackend{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.seen = append(d.seen, r.Method+" "+r.URL.RequestURI()+" "+string(body))
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/csb-publish+xml")
		io.WriteString(w, `<csbresponse status="200"/>`)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *digestBackend) requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.seen...)
}

func call(t *testing.T, c *http.Client, method, url, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestDigestClientAgainstApache: Apache httpd's mod_auth_digest protects
// a provider double; the broker's client (broker/httpclient) gets through
// with the right password, reusing Apache's nonce with increasing counts,
// and is refused with a wrong one, the double never seeing it.
func TestDigestClientAgainstApache(t *testing.T) {
	double := newDigestBackend(t)
	ap := StartApache(t, ApacheOptions{
		Realm:   "provider",
		Users:   map[string]string{"broker": "s3cret", "other": "x"},
		Backend: double.URL,
	})
	client, err := httpclient.New(httpclient.Config{Auth: httpclient.Auth{Scheme: "digest", Username: "broker", Password: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	const sub = `<csbrequest><subscription action="create" seqnumber="1" id="abc"/></csbrequest>`
	for i, path := range []string{"/csb/subscribe", "/csb/subscribe?id=abc", "/compute/1"} {
		code, body, err := call(t, client, "POST", ap.URL+path, sub)
		if err != nil || code != 200 || body != `<csbresponse status="200"/>` {
			t.Fatalf("request %d: %d %q %v\n%s", i, code, body, err, ap.ErrorLog())
		}
	}
	if got := double.requests(); len(got) != 3 || got[0] != "POST /csb/subscribe "+sub {
		t.Fatalf("the double saw %q", got)
	}

	wrong, _ := httpclient.New(httpclient.Config{Auth: httpclient.Auth{Scheme: "digest", Username: "broker", Password: "nope"}})
	if code, _, err := call(t, wrong, "POST", ap.URL+"/csb/subscribe", sub); err != nil || code != 401 {
		t.Fatalf("wrong password: %d %v", code, err)
	}
	unknown, _ := httpclient.New(httpclient.Config{Auth: httpclient.Auth{Scheme: "digest", Username: "mallory", Password: "s3cret"}})
	if code, _, _ := call(t, unknown, "GET", ap.URL+"/", ""); code != 401 {
		t.Fatalf("unknown user: %d", code)
	}
	if n := len(double.requests()); n != 3 {
		t.Fatalf("refused requests reached the provider (%d requests)", n)
	}

	// Nonce reuse: one challenge for many requests.
	rec := &recorder{}
	reuse := &http.Client{Transport: &digest.Transport{Username: "broker", Password: "s3cret", Base: rec}}
	for i := 0; i < 5; i++ {
		if code, _, err := call(t, reuse, "GET", ap.URL+"/status", ""); err != nil || code != 200 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}
	if n, _, _ := rec.snapshot(); n != 1 {
		t.Fatalf("%d challenges for 5 requests: the client should reuse Apache's nonce", n)
	}
	if !strings.Contains(ap.ErrorLog(), "password mismatch") {
		t.Errorf("Apache's log does not show the refused password:\n%s", ap.ErrorLog())
	}
}

// TestDigestClientAgainstApacheTLS: the same over HTTPS with mutual TLS:
// Apache's certificate names provider.example and is signed by a test CA
// given to the client as its CA file; the client reaches 127.0.0.1 with a
// server-name override and presents its certificate.
func TestDigestClientAgainstApacheTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := newTestCA(t, "provider CA"), newTestCA(t, "broker CA")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sc, sk := serverCA.issue(t, "provider.example", false)
	cc, ck := clientCA.issue(t, "broker", true)
	double := newDigestBackend(t)
	ap := StartApache(t, ApacheOptions{
		Users:    map[string]string{"broker": "s3cret"},
		Backend:  double.URL,
		TLSCert:  write("server.pem", sc),
		TLSKey:   write("server.key", sk),
		ClientCA: write("client-ca.pem", clientCA.pem),
	})
	tlsCfg := httpclient.TLS{
		CAFile:         write("provider-ca.pem", serverCA.pem),
		ClientCertFile: write("broker.pem", cc),
		ClientKeyFile:  write("broker.key", ck),
		ServerName:     "provider.example",
	}
	client, err := httpclient.New(httpclient.Config{TLS: tlsCfg, Auth: httpclient.Auth{Scheme: "digest", Username: "broker", Password: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	if code, body, err := call(t, client, "PUT", ap.URL+"/csb/subscribe", "<x/>"); err != nil || code != 200 || body != `<csbresponse status="200"/>` {
		t.Fatalf("%d %q %v\n%s", code, body, err, ap.ErrorLog())
	}
	wrong, _ := httpclient.New(httpclient.Config{TLS: tlsCfg, Auth: httpclient.Auth{Scheme: "digest", Username: "broker", Password: "nope"}})
	if code, _, err := call(t, wrong, "GET", ap.URL+"/", ""); err != nil || code != 401 {
		t.Fatalf("wrong password: %d %v", code, err)
	}
	noCert := tlsCfg
	noCert.ClientCertFile, noCert.ClientKeyFile = "", ""
	c, _ := httpclient.New(httpclient.Config{TLS: noCert, Auth: httpclient.Auth{Scheme: "digest", Username: "broker", Password: "s3cret"}})
	if _, _, err := call(t, c, "GET", ap.URL+"/", ""); err == nil {
		t.Fatal("connected without a client certificate")
	}
	noCA := tlsCfg
	noCA.CAFile = ""
	c, _ = httpclient.New(httpclient.Config{TLS: noCA, Auth: httpclient.Auth{Scheme: "digest", Username: "broker", Password: "s3cret"}})
	if _, _, err := call(t, c, "GET", ap.URL+"/", ""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("trusted a certificate from an unknown CA: %v", err)
	}
}

// testCA is a throw-away certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) issue(t *testing.T, cn string, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	usage := x509.ExtKeyUsageServerAuth
	var dns []string
	if client {
		usage = x509.ExtKeyUsageClientAuth
	} else {
		dns = []string{cn}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}
