// Package cfparse holds the few Caddyfile token helpers that the csb
// module packages share: one argument, one positive duration, and
// placeholder expansion of provisioned fields.
package cfparse

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// OneArg reads exactly one argument of the current option into dst.
func OneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.Args(dst) {
		return d.ArgErr()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// ArgValue reads exactly one argument of the current option.
func ArgValue(d *caddyfile.Dispenser) (string, error) {
	var v string
	err := OneArg(d, &v)
	return v, err
}

// DurationArg reads one positive duration argument of the current option.
func DurationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var v string
	if err := OneArg(d, &v); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return d.Errf("%s: %v", name, err)
	}
	if dur <= 0 {
		return d.Errf("%s: duration %q must be positive", name, v)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// ExpandAll expands the placeholders ({env.*}, ...) in each field.
func ExpandAll(fields ...*string) {
	repl := caddy.NewReplacer()
	for _, f := range fields {
		*f = repl.ReplaceAll(*f, "")
	}
}
