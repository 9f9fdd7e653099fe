package tests

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestHandlerPassesOtherPaths runs a real Caddy with the csb directive and
// no "order" option: the directive's order is registered, and paths outside
// the broker's interfaces reach the next handler.
func TestHandlerPassesOtherPaths(t *testing.T) {
	port := harness.FreePort(t)
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb
}
http://127.0.0.1:%d {
	csb
	respond "next handler" 200
}
`, port))
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/elsewhere", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "next handler" {
		t.Fatalf("got %d %q, want 200 %q\n%s", resp.StatusCode, body, "next handler", p.Log())
	}
}
