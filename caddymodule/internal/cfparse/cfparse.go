// Package cfparse holds the Caddyfile and module helpers that the csb
// module packages share: one argument, one positive duration, a block
// read by a table of its options (each given once unless it is a list),
// options of one value parsed and refused in the module's own words,
// placeholder expansion of provisioned fields, the parser and
// registration of a handler or authentication directive and a module's
// information.
package cfparse

import (
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/dustin/go-humanize"
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

// Option reads one option of a block, d standing at the option's name.
type Option func(d *caddyfile.Dispenser) error

// Block is the Caddyfile syntax the csb directives and guest modules
// share, read by a table instead of a switch in each of them:
//
//	<directive> [<arg>] {
//		<single> <value>
//		<list>   <value>...
//		<flag>
//		<option> ...          # Options (or More): each reads its own tokens
//	}
//
// Options in none of the tables go to More, which reports whether it
// knew the option; an option no one knows is "<Name>: unrecognized
// option".
//
// An option may be given once in a block: given again (or given when the
// argument set it), it is "<Name>: <option> given twice" at the second,
// as Caddy's own directives refuse a second lb_policy, since the second
// value would silently replace the first, or be merged into it. This
// holds for every option of the block, More's too, but the Lists and
// the options Repeat names: lists or maps by design, whose lines add up
// (allowed_hosts, a provider per id, a user line per hash function); one
// that keys its entries refuses a key given twice itself.
type Block struct {
	Name    string  // for errors: "csb_console", "adapter cimi"
	Arg     *string // where the optional argument goes; nil: no argument
	Single  map[string]*string
	Lists   map[string]*[]string
	Flags   map[string]*bool
	Options map[string]Option
	Repeat  []string // the options but the Lists that may be given again
	More    func(d *caddyfile.Dispenser, opt string) (bool, error)
	// Required names a Single option (or the argument's) that must be
	// set once the block is read: "<Name>: <Required> is required".
	Required string
}

// Parse reads the directive d is before: its name, its argument and its
// block.
func (b Block) Parse(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	var given []string
	if d.NextArg() {
		if b.Arg == nil {
			return d.ArgErr()
		}
		*b.Arg = d.Val()
		for opt, dst := range b.Single {
			if dst == b.Arg {
				given = append(given, opt)
			}
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if err := b.Body(d, given...); err != nil {
		return err
	}
	if b.Required != "" && *b.Single[b.Required] == "" {
		return d.Errf("%s: %s is required", b.Name, b.Required)
	}
	return nil
}

// Body reads the block of the directive or option d stands at; given
// are the options its arguments already gave (xml strict gives mode).
func (b Block) Body(d *caddyfile.Dispenser, given ...string) error {
	seen := map[string]bool{}
	for _, opt := range given {
		seen[opt] = true
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if b.Lists[opt] == nil && !slices.Contains(b.Repeat, opt) {
			if seen[opt] && b.Name == "" {
				return d.Errf("%s given twice", opt)
			}
			if seen[opt] {
				return d.Errf("%s: %s given twice", b.Name, opt)
			}
			seen[opt] = true
		}
		if err := b.option(d, opt); err != nil {
			return err
		}
	}
	return nil
}

func (b Block) option(d *caddyfile.Dispenser, opt string) error {
	switch {
	case b.Single[opt] != nil:
		return OneArg(d, b.Single[opt])
	case b.Lists[opt] != nil:
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		*b.Lists[opt] = append(*b.Lists[opt], args...)
	case b.Flags[opt] != nil:
		if d.NextArg() {
			return d.ArgErr()
		}
		*b.Flags[opt] = true
	case b.Options[opt] != nil:
		return b.Options[opt](d)
	default:
		known := false
		if b.More != nil {
			var err error
			if known, err = b.More(d, opt); err != nil {
				return err
			}
		}
		if !known {
			return d.Errf("%s: unrecognized option %q", b.Name, opt)
		}
	}
	return nil
}

// Path is an option of one argument that must begin with "/", stored in
// dst; what names the directive in the error.
func Path(what string, dst *string) Option {
	return func(d *caddyfile.Dispenser) error {
		opt := d.Val()
		var v string
		if err := OneArg(d, &v); err != nil {
			return err
		}
		if !strings.HasPrefix(v, "/") {
			return d.Errf("%s: %s %q must begin with /", what, opt, v)
		}
		*dst = v
		return nil
	}
}

// Parsed is an option of one argument v, stored in dst as parse(v).
// When parse reports false, the error is d.Errf(bad, <option>, v): bad
// words the module's own refusal, and may leave the option's name out by
// indexing the value alone (%[2]q).
func Parsed[T any](dst *T, parse func(v string) (T, bool), bad string) Option {
	return func(d *caddyfile.Dispenser) error {
		opt := d.Val()
		v, err := ArgValue(d)
		if err != nil {
			return err
		}
		x, ok := parse(v)
		if !ok {
			return d.Errf(bad, opt, v)
		}
		*dst = x
		return nil
	}
}

// Positive reads v as a whole number of at least 1.
func Positive(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	return n, err == nil && n > 0
}

// NonNegative reads v as a whole number of at least 0.
func NonNegative(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

// PositiveDuration reads v as a positive duration (Caddy's syntax:
// "90s", "1d").
func PositiveDuration(v string) (caddy.Duration, bool) {
	dur, err := caddy.ParseDuration(v)
	return caddy.Duration(dur), err == nil && dur > 0
}

// PositiveDurationOrOff reads v as a positive duration, or "off" as -1.
func PositiveDurationOrOff(v string) (caddy.Duration, bool) {
	if v == "off" {
		return -1, true
	}
	return PositiveDuration(v)
}

// Size reads a size such as 64KiB of 1 byte to most bytes.
func Size(most uint64) func(v string) (int64, bool) {
	return func(v string) (int64, bool) {
		n, err := humanize.ParseBytes(v)
		return int64(n), err == nil && n > 0 && n <= most
	}
}

// Ints is a table of options of one whole number each, read by parse
// and refused with bad (see Parsed): max_depth, max_elements, ...
func Ints(parse func(v string) (int, bool), bad string, dst map[string]*int) map[string]Option {
	opts := make(map[string]Option, len(dst))
	for name, p := range dst {
		opts[name] = Parsed(p, parse, bad)
	}
	return opts
}

// Merge joins tables of options into one (a later table wins a name).
func Merge(tables ...map[string]Option) map[string]Option {
	all := map[string]Option{}
	for _, t := range tables {
		for name, o := range t {
			all[name] = o
		}
	}
	return all
}

// Unknown is a More for a block whose refusal of an option it does not
// know is worded its own way: d.Errf(format, opt) (format may use %[1]q).
func Unknown(format string) func(d *caddyfile.Dispenser, opt string) (bool, error) {
	return func(d *caddyfile.Dispenser, opt string) (bool, error) {
		return true, d.Errf(format, opt)
	}
}

// Duration is an option of one positive duration, stored in dst.
func Duration(dst *caddy.Duration) Option {
	return func(d *caddyfile.Dispenser) error { return DurationArg(d, dst) }
}

// Handler parses a handler directive whose module reads its own tokens:
// register it with httpcaddyfile.RegisterHandlerDirective(name,
// cfparse.Handler[Module]).
func Handler[T any, P interface {
	*T
	caddyfile.Unmarshaler
	caddyhttp.MiddlewareHandler
}](h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := P(new(T))
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// Directive registers the handler directive name for the module T,
// which reads its own tokens, in the directive order at pos anchor
// (httpcaddyfile.Before, "respond").
func Directive[T any, P interface {
	*T
	caddyfile.Unmarshaler
	caddyhttp.MiddlewareHandler
}](name string, pos httpcaddyfile.Positional, anchor string) {
	httpcaddyfile.RegisterHandlerDirective(name, Handler[T, P])
	httpcaddyfile.RegisterDirectiveOrder(name, pos, anchor)
}

// AuthProvider parses a directive into Caddy's authentication handler
// (caddyauth) with the provider module T, which reads its own tokens,
// under its name in http.authentication.providers.
func AuthProvider[T any, P interface {
	*T
	caddyfile.Unmarshaler
}](name string) httpcaddyfile.UnmarshalHandlerFunc {
	return func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		p := P(new(T))
		if err := p.UnmarshalCaddyfile(h.Dispenser); err != nil {
			return nil, err
		}
		return caddyauth.Authentication{ProvidersRaw: caddy.ModuleMap{name: caddyconfig.JSON(p, nil)}}, nil
	}
}

// AuthDirective registers the directive name as Caddy's authentication
// handler with the provider module T (see AuthProvider), at the stage
// of basic_auth.
func AuthDirective[T any, P interface {
	*T
	caddyfile.Unmarshaler
}](name, provider string) {
	httpcaddyfile.RegisterHandlerDirective(name, AuthProvider[T, P](provider))
	httpcaddyfile.RegisterDirectiveOrder(name, httpcaddyfile.After, "basic_auth")
}

// Module is the module information of a module of type T: its ID, and
// a New that allocates a zero T.
func Module[T any, P interface {
	*T
	caddy.Module
}](id caddy.ModuleID) caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: id, New: func() caddy.Module { return P(new(T)) }}
}
