package caddymodule

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseCase is Caddyfile input whose parsing must fail with an error
// containing want.
type parseCase struct{ name, input, want string }

// checkParseErrors parses each case with parse (a fresh value's
// UnmarshalCaddyfile, say) and checks its error.
func checkParseErrors(t *testing.T, cases []parseCase, parse func(*caddyfile.Dispenser) error) {
	t.Helper()
	for i, c := range cases {
		name := c.name
		if name == "" {
			name = fmt.Sprint(i)
		}
		t.Run(name, func(t *testing.T) {
			err := parse(caddyfile.NewTestDispenser(c.input))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%q: error %v, want one containing %q", c.input, err, c.want)
			}
		})
	}
}

// parseProvider parses a provider block.
func parseProvider(d *caddyfile.Dispenser) error {
	d.Next() // "provider"
	return parseProviderBlock(d, new(App))
}

// unmarshal returns a parse function that unmarshals into a fresh T.
func unmarshal[T any, P interface {
	*T
	caddyfile.Unmarshaler
}]() func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error { return P(new(T)).UnmarshalCaddyfile(d) }
}
