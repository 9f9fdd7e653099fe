package cfparse

import (
	"strings"
	"testing"

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
