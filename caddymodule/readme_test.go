package caddymodule_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// readmeBlock returns the body of the first fenced block after marker in
// a document (README.md or one of docs/).
func readmeBlock(t *testing.T, readme, marker string) string {
	t.Helper()
	i := strings.Index(readme, marker)
	if i < 0 {
		t.Fatalf("the document has no %q", marker)
	}
	m := regexp.MustCompile("(?s)```[a-z]*\n(.*?)\n```").FindStringSubmatch(readme[i:])
	if m == nil {
		t.Fatalf("no code block after %q", marker)
	}
	return m[1]
}

// TestReadmeCaddyfileAdaptsToItsJSON: the Caddyfile docs/configuration.md
// shows adapts to exactly the JSON it shows under it.
func TestReadmeCaddyfileAdaptsToItsJSON(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	cf := readmeBlock(t, readme, "<!-- README-adapt: caddyfile")
	want := readmeBlock(t, readme, "<!-- README-adapt: json -->")
	got, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf+"\n"), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("README's Caddyfile does not adapt: %v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("README's Caddyfile adapts with warnings: %v", warnings)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("README's JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		pretty, _ := json.MarshalIndent(g, "", "\t")
		t.Errorf("README's Caddyfile adapts to another JSON than README shows; it adapts to:\n%s", pretty)
	}
}

// TestReadmeListsEveryModule: every Caddy module of this project is named
// in README's module table.
func TestReadmeListsEveryModule(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range caddy.Modules() {
		info, err := caddy.GetModule(id)
		if err != nil {
			t.Fatal(err)
		}
		typ := reflect.TypeOf(info.New())
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if !strings.HasPrefix(typ.PkgPath(), "github.com/caddy-csb/caddy-csb/") {
			continue
		}
		n++
		if !strings.Contains(string(raw), "`"+id+"`") {
			t.Errorf("README.md does not name the module %s", id)
		}
	}
	if n < 10 {
		t.Fatalf("found only %d modules of this project; is the registration gone?", n)
	}
}
