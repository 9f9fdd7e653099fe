package cfparse

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestSingleGivenTwice: a single option given twice, or given when the
// argument already set it, used to replace the first value silently
// (adapter cimi https://a { endpoint https://b } called b).
func TestSingleGivenTwice(t *testing.T) {
	for in, want := range map[string]string{
		"demo {\n uri a\n uri b\n}":     "demo: uri given twice",
		"demo a {\n uri b\n}":           "demo: uri given twice",
		"demo {\n label a\n label b\n}": "demo: label given twice",
	} {
		var uri, label string
		b := Block{Name: "demo", Arg: &uri, Single: map[string]*string{"uri": &uri, "label": &label}}
		err := b.Parse(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
	var uri, label string
	b := Block{Name: "demo", Arg: &uri, Single: map[string]*string{"uri": &uri, "label": &label}}
	if err := b.Parse(caddyfile.NewTestDispenser("demo a {\n label b\n}")); err != nil || uri != "a" || label != "b" {
		t.Fatalf("each once: %v, uri %q, label %q", err, uri, label)
	}
	// A block read again starts afresh.
	if err := b.Parse(caddyfile.NewTestDispenser("demo {\n uri c\n}")); err != nil || uri != "c" {
		t.Fatalf("read again: %v, uri %q", err, uri)
	}
}
