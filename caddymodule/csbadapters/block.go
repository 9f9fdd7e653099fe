package csbadapters

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

// adapterBlock is the Caddyfile syntax the adapter modules share:
//
//	adapter <name> [<arg>] {
//		<single> <value>
//		<list>   <value>...
//		<flag>
//		...
//	}
//
// Options not in single, lists or flags go to more, which reports whether
// it knew the option.
type adapterBlock struct {
	name   string  // the adapter's name, for errors ("adapter cimi: ...")
	arg    *string // where the optional argument goes; nil: no argument
	single map[string]*string
	lists  map[string]*[]string
	flags  map[string]*bool
	more   func(d *caddyfile.Dispenser, opt string) (bool, error)
}

// parse parses the adapter subdirective's segment, from the adapter name.
func (b adapterBlock) parse(d *caddyfile.Dispenser) error {
	d.Next() // adapter name
	if d.NextArg() {
		if b.arg == nil {
			return d.ArgErr()
		}
		*b.arg = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch {
		case b.single[opt] != nil:
			if err := cfparse.OneArg(d, b.single[opt]); err != nil {
				return err
			}
		case b.lists[opt] != nil:
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			*b.lists[opt] = append(*b.lists[opt], args...)
		case b.flags[opt] != nil:
			if d.NextArg() {
				return d.ArgErr()
			}
			*b.flags[opt] = true
		default:
			known := false
			if b.more != nil {
				var err error
				if known, err = b.more(d, opt); err != nil {
					return err
				}
			}
			if !known {
				return d.Errf("adapter %s: unrecognized option %q", b.name, opt)
			}
		}
	}
	return nil
}

// parseArchImage parses "arch_image <architecture> <image>" into images;
// an architecture may be given once.
func parseArchImage(d *caddyfile.Dispenser, adapter string, images *map[string]string) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.ArgErr()
	}
	if *images == nil {
		*images = map[string]string{}
	}
	if _, dup := (*images)[args[0]]; dup {
		return d.Errf("adapter %s: arch_image %q given twice", adapter, args[0])
	}
	(*images)[args[0]] = args[1]
	return nil
}
