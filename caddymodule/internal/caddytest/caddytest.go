// Package caddytest runs a Caddy configuration in the test's process, for
// the tests of the module packages that need the csb app provisioned:
// adapted from a Caddyfile, loaded without the admin endpoint or an
// autosave of the configuration, stopped when the test ends. HOME and the
// XDG directories point into the test's temporary directory, so that
// nothing of the test reaches the user's Caddy data.
package caddytest

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the Caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// Load adapts caddyfile, lets edit change the JSON configuration (nil:
// as adapted), loads it, and returns its csb app. The configuration is
// stopped when the test ends.
func Load(t testing.TB, caddyfile string, edit func(cfg map[string]any)) *caddymodule.App {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("XDG_DATA_HOME", dir+"/data")
	t.Setenv("XDG_CONFIG_HOME", dir+"/config")
	adapted, warn, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting the Caddyfile: %v %v", err, warn)
	}
	var cfg map[string]any
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	cfg["admin"] = map[string]any{"disabled": true, "config": map[string]any{"persist": false}}
	full, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(full, true); err != nil {
		t.Fatalf("loading the configuration: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	app, err := caddy.ActiveContext().App("csb")
	if err != nil {
		t.Fatal(err)
	}
	return app.(*caddymodule.App)
}
