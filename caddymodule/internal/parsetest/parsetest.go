// Package parsetest helps the csb module packages' tests check Caddyfile
// parse errors.
package parsetest

import (
	"fmt"
	"slices"
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

// CheckOnce checks that every option of every block of sample may be
// given once in its block: each option sample gives once, given again
// right after (with its own block, if it opens one), must be refused with
// "<option> given twice" at the line of the second. An option sample
// gives more than once in a block is one that block must keep accepting
// again (a list, or entries with keys of their own); sample must parse.
//
// sample's first line is the directive's; it writes one option a line,
// a block it opens at the line's end and closes with a "}" alone on a
// line. Since the options given twice are read off sample, an option
// added to the grammar is checked once sample gives it. CheckOnce
// returns the options sample repeats, as "<block>/<option>" (the block
// named by its line, "provider p1"), each once.
func CheckOnce(t *testing.T, sample string, parse func(*caddyfile.Dispenser) error) (repeated []string) {
	t.Helper()
	if err := parse(caddyfile.NewTestDispenser(sample)); err != nil {
		t.Fatalf("the sample does not parse: %v\n%s", err, sample)
	}
	lines := strings.Split(sample, "\n")
	// parent[i] is the line opening the block line i is an option of (-1:
	// none); end[i], the last line of the option (its "}" if it opens a
	// block).
	parent, end := make([]int, len(lines)), make([]int, len(lines))
	var open []int
	count := map[string]int{} // "<parent> <option>" → lines
	key := func(i int) string { return fmt.Sprint(parent[i], " ", strings.Fields(lines[i])[0]) }
	for i, l := range lines {
		f := strings.Fields(l)
		parent[i], end[i] = -1, i
		switch {
		case len(f) == 0:
			continue
		case f[0] == "}":
			if len(open) == 0 {
				t.Fatalf("sample line %d: } closes no block", i+1)
			}
			end[open[len(open)-1]] = i
			open = open[:len(open)-1]
			parent[i] = -2
			continue
		}
		if len(open) > 0 {
			parent[i] = open[len(open)-1]
			count[key(i)]++
		}
		if f[len(f)-1] == "{" {
			open = append(open, i)
		}
	}
	for i := range lines {
		if parent[i] < 0 {
			continue
		}
		opt := strings.Fields(lines[i])[0]
		block := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lines[parent[i]]), "{"))
		if count[key(i)] > 1 {
			// Given again in sample: it may repeat.
			if r := block + "/" + opt; !slices.Contains(repeated, r) {
				repeated = append(repeated, r)
			}
			continue
		}
		t.Run(fmt.Sprintf("%s: %s@%d", block, opt, i+1), func(t *testing.T) {
			twice := slices.Concat(lines[:end[i]+1], lines[i:end[i]+1], lines[end[i]+1:])
			err := parse(caddyfile.NewTestDispenser(strings.Join(twice, "\n")))
			want := fmt.Sprintf("%s given twice, at Testfile:%d", opt, end[i]+2)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("%s given again at line %d: error %v, want one containing %q", opt, end[i]+2, err, want)
			}
		})
	}
	return repeated
}
