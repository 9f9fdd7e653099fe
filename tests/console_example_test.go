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

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestConsoleExample runs Caddyfile.example unchanged (addresses moved to
// free ports, as TestQuickstart does) and opens its web console at
// https://<broker>/console/: without credentials the answer is the
// consumers' Digest challenge; carol (the example's console operator)
// sees the catalogue, the operator page and bob's job; alice, an
// ordinary consumer, sees the catalogue but neither the operator page
// nor bob's job (as the Consumer interface hides it from her); bob sees
// his job and is refused the operator page.
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
	if st != http.StatusOK || !strings.Contains(body, "cloud-a") || !strings.Contains(body, "cloud-b") || strings.Contains(body, "/console/operator") {
		t.Errorf("alice's catalogue: HTTP %d\n%s", st, body)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if st, _, _ := get("alice", "wonderland", "/console/operator"); st != http.StatusForbidden {
		t.Errorf("alice's operator page: HTTP %d, want 403", st)
	}
	if st, body, _ := get("carol", "operator-pass", "/console/operator"); st != http.StatusOK || !strings.Contains(body, "Subscriptions") {
		t.Errorf("carol's operator page: HTTP %d", st)
	}
	// bob's job, made through the Consumer interface: his and carol's
	// console list it, alice's does not.
	bobClient := &http.Client{Transport: &digest.Transport{Username: "bob", Password: "builder", Base: base}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, "https://"+broker+"/csb/consumer", strings.NewReader(string(consumerBody(t,
		&csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(1), Memory: u64(1)}}}))))
	req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	resp, err := bobClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	bobJob := resp.Header.Get("Csb-Job-Id")
	if resp.StatusCode != http.StatusOK || bobJob == "" {
		t.Fatalf("bob's create: HTTP %d, Csb-Status %s", resp.StatusCode, resp.Header.Get("Csb-Status"))
	}
	if st, body, _ := get("bob", "builder", "/console/jobs"); st != http.StatusOK || strings.Contains(body, "/console/operator") || !strings.Contains(body, bobJob) {
		t.Errorf("bob's jobs page: HTTP %d\n%s", st, body)
	}
	if st, body, _ := get("carol", "operator-pass", "/console/jobs"); st != http.StatusOK || !strings.Contains(body, bobJob) {
		t.Errorf("carol's jobs page lacks bob's job %s: HTTP %d\n%s", bobJob, st, body)
	}
	if st, body, _ := get("alice", "wonderland", "/console/jobs"); st != http.StatusOK || strings.Contains(body, bobJob) {
		t.Errorf("alice's jobs page shows bob's job %s: HTTP %d", bobJob, st)
	}
	if st, _, _ := get("alice", "wonderland", "/console/jobs/"+bobJob); st != http.StatusNotFound {
		t.Errorf("alice's page of bob's job: HTTP %d, want 404", st)
	}
	if st, _, _ := get("bob", "builder", "/console/operator"); st != http.StatusForbidden {
		t.Errorf("bob's operator page: HTTP %d, want 403", st)
	}
	if st, _, hdr := get("bob", "builder", "/console/static/console.css"); st != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: HTTP %d %s", st, hdr.Get("Content-Type"))
	}
}
