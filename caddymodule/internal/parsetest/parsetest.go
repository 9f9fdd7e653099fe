// Package parsetest helps the csb module packages' tests check Caddyfile
// parse errors.
package parsetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Case is a named Caddyfile input whose parsing must fail with an error
// containing a text: {name, input, want}. (An array, so that the test
// tables stay short without vet asking for keyed fields.)
type Case [3]string

// CheckErrors parses each case with parse (a fresh value's
// UnmarshalCaddyfile, say) and checks its error.
func CheckErrors(t *testing.T, cases []Case, parse func(*caddyfile.Dispenser) error) {
	t.Helper()
	for i, c := range cases {
		name, input, want := c[0], c[1], c[2]
		if name == "" {
			name = fmt.Sprint(i)
		}
		t.Run(name, func(t *testing.T) {
			err := parse(caddyfile.NewTestDispenser(input))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("%q: error %v, want one containing %q", input, err, want)
			}
		})
	}
}

// Unmarshal returns a parse function that unmarshals into a fresh T.
func Unmarshal[T any, P interface {
	*T
	caddyfile.Unmarshaler
}]() func(*caddyfile.Dispenser) error {
	return func(d *caddyfile.Dispenser) error { return P(new(T)).UnmarshalCaddyfile(d) }
}
