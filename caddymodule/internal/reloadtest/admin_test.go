package reloadtest

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// adminGet answers GET path on the admin endpoint.
func adminGet(t *testing.T, b *broker, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + b.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestAdminAPIAfterFailedReload: the csb admin API keeps answering for
// the running broker after a reload that failed. Caddy replaces the
// admin endpoint, with the new configuration's admin modules, while it
// provisions that configuration; when the configuration then fails (its
// csb app's Provision here, or its Start), the running configuration
// stays but the endpoint stays the new one: admin.api.csb held the
// failed configuration's csb app (cleaned up) or none, and answered 503
// "no csb app is running" until the next reload that succeeded.
func TestAdminAPIAfterFailedReload(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b := newBroker(t)
	b.admin = addr
	t.Cleanup(func() {
		// The admin endpoint is closed by the next load, not by Stop.
		b.admin = ""
		_ = b.load("", "")
	})
	running := `{"providers": [{"id": "a"}]}`
	b.mustLoad(running, "")
	if code, body := adminGet(t, b, "/csb/jobs"); code != http.StatusOK {
		t.Fatalf("GET /csb/jobs: %d %s", code, body)
	}
	if _, body := adminGet(t, b, "/metrics"); !strings.Contains(body, `caddy_csb_catalog_providers{status="active"} 1`) {
		t.Fatalf("the metrics have no catalogue gauges:\n%s", body)
	}
	for _, failing := range []struct{ name, csb string }{
		{"provision", `{"providers": [{"id": "a"}], "events": {"webhooks": [{"url": "https://hooks.example.org/", "secret": "whsec_short"}]}}`},
		{"start", `{"providers": [{"id": "a", "adapter": {"name": "link"}, "discover": {}}]}`},
	} {
		if err := b.load(failing.csb, ""); err == nil {
			t.Fatalf("%s: the failing configuration loaded", failing.name)
		}
		for _, path := range []string{"/csb/jobs", "/csb/catalog", "/csb/webhooks"} {
			if code, body := adminGet(t, b, path); code != http.StatusOK || !strings.HasPrefix(body, "{") {
				t.Errorf("after a reload failing at %s: GET %s: %d %s", failing.name, path, code, body)
			}
		}
		if _, body := adminGet(t, b, "/metrics"); !strings.Contains(body, `caddy_csb_catalog_providers{status="active"} 1`) {
			t.Errorf("after a reload failing at %s: the metrics have no catalogue gauges", failing.name)
		}
	}
	// A configuration without the csb app answers 503.
	b.mustLoad("", "")
	if code, body := adminGet(t, b, "/csb/jobs"); code != http.StatusServiceUnavailable {
		t.Errorf("without a csb app: GET /csb/jobs: %d %s", code, body)
	}
}
