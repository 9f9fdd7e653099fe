package caddymodule_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// TestQuotaDocAdaptsToItsJSON: the quota Caddyfile docs/costs.md shows
// adapts to exactly the JSON it shows under it, and the app validates.
func TestQuotaDocAdaptsToItsJSON(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "costs.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	cf := readmeBlock(t, doc, "<!-- quota-adapt: caddyfile")
	want := readmeBlock(t, doc, "<!-- quota-adapt: json -->")
	got, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf+"\n"), map[string]any{"filename": "Caddyfile"})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("docs/costs.md's Caddyfile: %v %v", err, warnings)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("docs/costs.md's JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		pretty, _ := json.MarshalIndent(g, "", "\t")
		t.Fatalf("docs/costs.md's Caddyfile adapts to another JSON; it adapts to:\n%s", pretty)
	}
	var cfg struct {
		Apps struct {
			CSB caddymodule.App `json:"csb"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(got, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Apps.CSB.Validate(); err != nil {
		t.Fatalf("the adapted quota does not validate: %v", err)
	}
}

// TestQuotaCaddyfileErrors: each mistake in a quota block is refused
// with a message naming it.
func TestQuotaCaddyfileErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"quota {\n unit iaas gpu\n}", "unknown cost unit"},
		{"quota {\n unit xaas core\n}", "unknown service model"},
		{"quota {\n unit iaas core\n unit iaas job\n}", "unit iaas given twice"},
		{"quota {\n user alice {\n cores many\n }\n}", `quota: user "alice": cores "many": want a positive whole number`},
		{"quota {\n user alice {\n cores 0\n }\n}", "want a positive whole number"},
		{"quota {\n user alice {\n gpus 2\n }\n}", `unrecognized limit "gpus"`},
		{"quota {\n user alice {\n spend 10 week\n }\n}", `unknown period "week"`},
		{"quota {\n user alice {\n spend -1 day\n }\n}", "want a positive amount"},
		{"quota {\n user alice {\n spend inf day\n }\n}", "want a positive amount"},
		{"quota {\n user alice {\n spend 1 day\n spend 2 day\n }\n}", "spend per day given twice"},
		{"quota {\n user alice\n user alice\n}", `user "alice" given twice`},
		{"quota {\n group team\n}", "want group <name> <user>..."},
		{"quota {\n group team a\n group team b\n}", `group "team" given twice`},
		{"quota {\n budget 3\n}", `unrecognized option "budget"`},
		{"quota {\n}\nquota {\n}", "csb: quota given twice"},
	} {
		a := new(caddymodule.App)
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb {\n" + c.in + "\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}
