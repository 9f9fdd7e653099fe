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

// TestEveryOptionOnce: not only a Single option but a flag, an option
// reading its own tokens and one More knows used to take a second
// occurrence silently (the second value won, a flag was set twice);
// only the Lists and the options Repeat names may repeat.
func TestEveryOptionOnce(t *testing.T) {
	block := func(c *blockConf, rows *[]string) Block {
		b := c.block("")
		b.Options["row"] = func(d *caddyfile.Dispenser) error {
			*rows = append(*rows, d.RemainingArgs()...)
			return nil
		}
		b.Repeat = []string{"row"}
		b.More = func(d *caddyfile.Dispenser, opt string) (bool, error) {
			d.RemainingArgs()
			return opt == "more", nil
		}
		return b
	}
	for in, want := range map[string]string{
		"demo {\n flag\n flag\n}":              "demo: flag given twice, at Testfile:3",
		"demo {\n prefix /a\n prefix /b\n}":    "demo: prefix given twice, at Testfile:3",
		"demo {\n more 1\n list x\n more 2\n}": "demo: more given twice, at Testfile:4",
		"demo {\n colour red\n colour blue\n}": `demo: unrecognized option "colour"`,
	} {
		var c blockConf
		var rows []string
		err := block(&c, &rows).Parse(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
	var c blockConf
	var rows []string
	in := "demo {\n list a\n list b\n row 1\n row 2\n more\n}"
	if err := block(&c, &rows).Parse(caddyfile.NewTestDispenser(in)); err != nil || strings.Join(c.List, ",") != "a,b" || strings.Join(rows, ",") != "1,2" {
		t.Fatalf("lists and Repeat repeated: %v, list %q, rows %q", err, c.List, rows)
	}
	// Body's given: the options the directive's arguments gave.
	d := caddyfile.NewTestDispenser("demo strict {\n single lenient\n}")
	d.Next()
	d.NextArg()
	if err := block(&c, &rows).Body(d, "single"); err == nil || !strings.Contains(err.Error(), "demo: single given twice, at Testfile:2") {
		t.Fatalf("given by the argument: %v", err)
	}
}
