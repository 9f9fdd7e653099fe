package csbcimi

import (
	"strings"
	"testing"
)

// A $filter of deeply nested parentheses is refused with a 400, not
// parsed by a recursion as deep as the URL is long: 900 000 "(" fit in
// the 1 MiB request line Go's server accepts, and took the parser past
// the goroutine stack's 1 GB limit, a fatal error that killed the whole
// Caddy process for any consumer's GET.
func TestCIMIFilterDeepNesting(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("(", 900000),
		strings.Repeat("(", 900000) + "a=1" + strings.Repeat(")", 900000),
	} {
		if _, err := parseFilter(s); err == nil {
			t.Fatalf("%d bytes of nesting parsed", len(s))
		}
	}
	// Reasonable nesting still parses.
	s := strings.Repeat("(", 20) + "name='x'" + strings.Repeat(")", 20)
	e, err := parseFilter(s)
	if err != nil || !e.eval(obj{"name": "x"}) {
		t.Fatalf("%s: %v", s, err)
	}
	// So does a long flat chain of and/or.
	chain := "name='x'" + strings.Repeat(" or name='y' and cpu=1", 20000)
	if e, err := parseFilter(chain); err != nil || !e.eval(obj{"name": "x"}) {
		t.Fatalf("long chain: %v", err)
	}
}
