package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestEarlyAnswersOverHTTP2 sends POSTs with a 40 KB body that the broker
// refuses before reading it — a Digest challenge (401), a consumer without
// credentials (403), a wrong content type (415) — over HTTP/2 with curl
// 7.88. If the answer goes out while curl is still sending, Go's HTTP/2
// server resets the stream and curl reports "Stream error in the HTTP/2
// framing layer" or an empty reply instead of the answer (about every
// second request, measured before the fix). The broker reads such small
// bodies first, so every answer arrives.
func TestEarlyAnswersOverHTTP2(t *testing.T) {
	curl := lookTool(t, "curl")
	port := harness.FreePort(t)
	alice := digestHashLines(t, "alice", digestRealm, "wonderland")
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	skip_install_trust
	auto_https disable_redirects
	csb
}
https://localhost:%d {
	tls internal
	route /auth/* {
		digest_auth %s {
%s		}
		csb {
			consumer_path /auth/csb/consumer
		}
	}
	csb
}
`, port, digestRealm, indent(alice, "\t\t\t")))
	waitTLS(t, p, fmt.Sprintf("https://localhost:%d/", port))
	ca := filepath.Join(p.DataDir, "caddy", "pki", "authorities", "local", "root.crt")
	body := filepath.Join(t.TempDir(), "body.xml")
	if err := os.WriteFile(body, []byte(strings.Repeat("<!-- padding -->\n", 2500)), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("https://localhost:%d", port)
	for _, tc := range []struct {
		name, path, ctype string
		want              string
	}{
		{"digest challenge", "/auth/csb/consumer", "application/csb-consumer+xml", "401"},
		{"anonymous consumer", "/csb/consumer", "application/csb-consumer+xml", "403"},
		{"wrong content type", "/csb/publish", "text/plain", "415"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 20; i++ {
				out, err := exec.Command(curl, "-sS", "--http2", "--cacert", ca,
					"--resolve", fmt.Sprintf("localhost:%d:127.0.0.1", port),
					"-o", "/dev/null", "-w", "%{http_version} %{http_code}",
					"-H", "Content-Type: "+tc.ctype, "--data-binary", "@"+body, base+tc.path).CombinedOutput()
				if err != nil || string(out) != "2 "+tc.want {
					t.Fatalf("request %d: got %q (%v), want HTTP/2 %s", i+1, out, err, tc.want)
				}
			}
		})
	}
}

// waitTLS polls url until a TLS handshake with Caddy's internal CA
// succeeds: tls internal issues the site certificate just after start.
func waitTLS(t *testing.T, p *harness.Process, url string) {
	t.Helper()
	client := p.HTTPSClient()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TLS at %s after 30s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond) // polling for readiness
	}
}
