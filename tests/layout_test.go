package tests

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEngineImportsNoPlugin: the engine owns every contract. No package
// under broker/ depends (directly or not) on a concrete adapter under
// adapters/, on the Caddy glue under caddymodule/, or on the test clouds
// and live tests under tests/; it also does not import Caddy. Adapters,
// front-ends and the glue import the engine, never the other way round.
func TestEngineImportsNoPlugin(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./broker/...")
	cmd.Dir = ".." // the module root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./broker/...: %v\n%s", err, out)
	}
	const mod = "github.com/caddy-csb/caddy-csb/"
	n := 0
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, mod+"broker/") {
			n++
		}
		for _, bad := range []string{mod + "adapters", mod + "caddymodule", mod + "tests", "github.com/caddyserver/caddy"} {
			if pkg == bad || strings.HasPrefix(pkg, bad+"/") {
				t.Errorf("the engine depends on %s", pkg)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list named only %d engine packages:\n%s", n, out)
	}
}
