package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestJobsBlockTwice: like the other blocks of the csb global option, the
// jobs block may appear once. A second one used to be merged into the
// first, its options silently overriding the first's (lease_max 1h
// became 2h).
func TestJobsBlockTwice(t *testing.T) {
	in := "csb {\n jobs {\n lease_max 1h\n }\n jobs {\n lease_max 2h\n }\n}"
	err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
	if err == nil || !strings.Contains(err.Error(), "jobs given twice") {
		t.Fatalf("error %v, want one saying jobs given twice", err)
	}
	// placement and jobs share the consumer configuration: each alone,
	// or both, is still one jobs block.
	in = "csb {\n placement first\n jobs {\n lease_max 1h\n }\n}"
	if err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
}

// TestProviderSingleOptionTwice: a provider's uri, label or status, or a
// webhook's secret, given twice used to keep the second silently.
func TestProviderSingleOptionTwice(t *testing.T) {
	for _, in := range []string{
		"csb {\n provider p {\n uri http://a\n uri http://b\n }\n}",
		"csb {\n events {\n webhook https://x {\n secret a\n secret b\n }\n }\n}",
	} {
		err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), "given twice") {
			t.Errorf("%q: error %v, want one saying given twice", in, err)
		}
	}
}
