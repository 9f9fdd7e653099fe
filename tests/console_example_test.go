package tests

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestConsoleExample runs Caddyfile.example unchanged (addresses moved to
// free ports, as TestQuickstart does) and opens its web console at
// https://<broker>/console/: without credentials the answer is the
// consumers' Digest challenge; alice (an operator in the example) sees
// the catalogue and the operator page; bob sees the catalogue and is
// refused the operator page.
func TestConsoleExample(t *testing.T) {
	caddyfile, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	broker := fmt.Sprintf("localhost:%d", harness.FreePort(t))
	p := harness.Start(t, string(caddyfile), harness.Options{
		AdminEnv: "CSB_ADMIN",
		Env: []string{"CSB_BROKER=" + broker, "CSB_CLOUD_A=" + fmt.Sprintf("localhost:%d", harness.FreePort(t)),
			"CSB_CLOUD_B=" + fmt.Sprintf("localhost:%d", harness.FreePort(t))},
		WorkDir: root,
	})
	waitCatalogue(t, p, 60*time.Second)
	pem, err := os.ReadFile(filepath.Join(p.DataDir, "caddy", "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	get := func(user, pass, path string) (int, string, http.Header) {
		t.Helper()
		c := &http.Client{Transport: base, Timeout: 30 * time.Second}
		if user != "" {
			c.Transport = &digest.Transport{Username: user, Password: pass, Base: base}
		}
		resp, err := c.Get("https://" + broker + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data), resp.Header
	}

	st, _, hdr := get("", "", "/console/")
	if st != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `realm="csb-consumer"`) {
		t.Errorf("no credentials: HTTP %d, challenge %q", st, hdr.Get("WWW-Authenticate"))
	}
	st, body, hdr := get("alice", "wonderland", "/console/")
	if st != http.StatusOK || !strings.Contains(body, "cloud-a") || !strings.Contains(body, "cloud-b") || !strings.Contains(body, "/console/operator") {
		t.Errorf("alice's catalogue: HTTP %d\n%s", st, body)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if st, body, _ := get("alice", "wonderland", "/console/operator"); st != http.StatusOK || !strings.Contains(body, "Subscriptions") {
		t.Errorf("alice's operator page: HTTP %d", st)
	}
	if st, body, _ := get("bob", "builder", "/console/jobs"); st != http.StatusOK || strings.Contains(body, "/console/operator") {
		t.Errorf("bob's jobs page: HTTP %d\n%s", st, body)
	}
	if st, _, _ := get("bob", "builder", "/console/operator"); st != http.StatusForbidden {
		t.Errorf("bob's operator page: HTTP %d, want 403", st)
	}
	if st, _, hdr := get("bob", "builder", "/console/static/console.css"); st != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: HTTP %d %s", st, hdr.Get("Content-Type"))
	}
}
