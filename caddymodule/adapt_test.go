package caddymodule_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// Every module of this project, as an xcaddy build has them.
	_ "github.com/caddy-csb/caddy-csb"
)

// TestCaddyfileAdapt compares each testdata/caddyfile_adapt/*.caddyfiletest
// file's Caddyfile (above the ---------- line) with the JSON it must adapt
// to (below it), the way Caddy's own integration tests do.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no adapt tests found")
	}
	split := regexp.MustCompile(`(?m)^-{10,}\s*$`)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".caddyfiletest"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parts := split.Split(string(data), 2)
			if len(parts) != 2 {
				t.Fatalf("%s: no ---------- separator", f)
			}
			if !caddytest.CompareAdapt(t, f, parts[0], "caddyfile", strings.TrimSpace(parts[1])) {
				t.Fail()
			}
		})
	}
}

// TestExampleCloudBlocks: the commented OpenStack, AWS and job-route
// blocks of Caddyfile.example adapt once uncommented.
func TestExampleCloudBlocks(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	uncomment := regexp.MustCompile(`(?m)^(\t+)#(provider |route |\t|})`)
	body := uncomment.ReplaceAll(raw, []byte("$1$2"))
	for _, want := range []string{"\t\tprovider openstack {", "\t\tprovider aws {", "\troute /csb/jobs/* {"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("Caddyfile.example has no commented %q block", strings.TrimSpace(want))
		}
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("uncommented blocks do not adapt: %v", err)
	}
	for _, want := range []string{`"name":"openstack"`, `"name":"aws"`, `"source":"csb"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted config lacks %s", want)
		}
	}
}
