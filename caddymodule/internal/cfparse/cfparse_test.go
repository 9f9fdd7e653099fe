package cfparse

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

type blockConf struct {
	Arg, Single, Prefix string
	List                []string
	Flag                bool
}

func (c *blockConf) block(required string) Block {
	return Block{Name: "demo", Arg: &c.Arg, Required: required,
		Single:  map[string]*string{"single": &c.Single, "arg": &c.Arg},
		Lists:   map[string]*[]string{"list": &c.List},
		Flags:   map[string]*bool{"flag": &c.Flag},
		Options: map[string]Option{"prefix": Path("demo", &c.Prefix)},
	}
}

func TestBlock(t *testing.T) {
	var c blockConf
	d := caddyfile.NewTestDispenser("demo a {\n single s\n list x y\n list z\n flag\n prefix /p\n}")
	if err := c.block("arg").Parse(d); err != nil {
		t.Fatal(err)
	}
	want := blockConf{Arg: "a", Single: "s", Prefix: "/p", List: []string{"x", "y", "z"}, Flag: true}
	if c.Arg != want.Arg || c.Single != want.Single || c.Prefix != want.Prefix || strings.Join(c.List, ",") != "x,y,z" || !c.Flag {
		t.Fatalf("got %+v, want %+v", c, want)
	}
}

func TestBlockErrors(t *testing.T) {
	for in, want := range map[string]string{
		"demo {\n colour red\n}":   `demo: unrecognized option "colour"`,
		"demo {\n single\n}":       "wrong argument count",
		"demo {\n single a b\n}":   "wrong argument count",
		"demo {\n list\n}":         "wrong argument count",
		"demo {\n flag on\n}":      "wrong argument count",
		"demo {\n prefix p\n}":     `demo: prefix "p" must begin with /`,
		"demo a b":                 "wrong argument count",
		"demo {\n single s\n}":     "demo: arg is required",
		"demo {\n arg x\n}\ndemo2": "",
	} {
		var c blockConf
		err := c.block("arg").Parse(caddyfile.NewTestDispenser(in))
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
}

func TestParsed(t *testing.T) {
	var n int
	var size int64
	var dur, off caddy.Duration
	b := Block{Name: "demo", Options: Merge(
		Ints(Positive, "demo: %s %q: want a whole number from 1", map[string]*int{"n": &n}),
		map[string]Option{
			"size": Parsed(&size, Size(1<<20), "demo: size %[2]q too big or small"),
			"dur":  Parsed(&dur, PositiveDuration, "demo: %s %q"),
			"off":  Parsed(&off, PositiveDurationOrOff, "demo: %s %q"),
		})}
	if err := b.Parse(caddyfile.NewTestDispenser("demo {\n n 3\n size 1KiB\n dur 2s\n off off\n}")); err != nil {
		t.Fatal(err)
	}
	if n != 3 || size != 1024 || dur != caddy.Duration(2*time.Second) || off != -1 {
		t.Fatalf("got %d %d %v %v", n, size, dur, off)
	}
	for in, want := range map[string]string{
		"demo {\n n 0\n}":       `demo: n "0": want a whole number from 1`,
		"demo {\n n\n}":         "wrong argument count",
		"demo {\n size 2MiB\n}": `demo: size "2MiB" too big or small`,
		"demo {\n dur -1s\n}":   `demo: dur "-1s"`,
		"demo {\n off on\n}":    `demo: off "on"`,
	} {
		err := b.Parse(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
	err := Block{Name: "demo", More: Unknown("no such thing: %q")}.Parse(caddyfile.NewTestDispenser("demo {\n colour red\n}"))
	if err == nil || !strings.Contains(err.Error(), `no such thing: "colour"`) {
		t.Errorf("Unknown: got %v", err)
	}
}
