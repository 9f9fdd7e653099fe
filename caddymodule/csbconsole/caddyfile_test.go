package csbconsole

import (
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	var c Console
	if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`csb_console {
		prefix /ops/console
		operators alice carol
		operators dave
	}`)); err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "/ops/console" || !slices.Equal(c.Operators, []string{"alice", "carol", "dave"}) {
		t.Errorf("parsed %+v", c)
	}
	for _, bad := range []struct{ in, want string }{
		{"csb_console extra", "wrong argument count"},
		{"csb_console {\n prefix console\n}", "must begin with /"},
		{"csb_console {\n prefix\n}", "argument"},
		{"csb_console {\n operators\n}", "at least one user"},
		{"csb_console {\n theme dark\n}", `unrecognized option "theme"`},
	} {
		var c Console
		err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad.in))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.in, err, bad.want)
		}
	}
}

func TestParsePages(t *testing.T) {
	ps, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range pageNames {
		if ps.pages[name] == nil {
			t.Errorf("page %s not parsed", name)
		}
	}
}
