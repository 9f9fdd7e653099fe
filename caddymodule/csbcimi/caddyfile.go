package csbcimi

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("csb_cimi", parseDirective)
	httpcaddyfile.RegisterDirectiveOrder("csb_cimi", httpcaddyfile.Before, "respond")
}

func parseDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(Handler)
	err := c.UnmarshalCaddyfile(h.Dispenser)
	return c, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	csb_cimi [<matcher>] {
//		prefix         <path>                   # default /cimi/
//		max_body_size  <size>                   # default 64KiB
//		machine_config <name> <cpu> <memory-GB> [<cpu-arch>] [{
//			description <text>
//		}]
//		machine_image  <name> [<provider>...] [{
//			description <text>
//		}]
//		policies       <policy>...              # csb.placement.* names: first, cheapest, ...
//	}
//
// machine_config and machine_image may be repeated. The handler serves
// the paths below prefix and passes every other request on, so it needs
// no matcher.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "csb_cimi"
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "prefix":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Prefix = d.Val()
			if !strings.HasPrefix(h.Prefix, "/") {
				return d.Errf("csb_cimi: prefix %q must begin with /", h.Prefix)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "max_body_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 {
				return d.Errf("csb_cimi: max_body_size %q: want a size such as 64KiB", d.Val())
			}
			h.MaxBodySize = int64(n)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "machine_config":
			args := d.RemainingArgs()
			if len(args) < 3 || len(args) > 4 {
				return d.Errf("csb_cimi: machine_config <name> <cpu> <memory-GB> [<cpu-arch>]")
			}
			cpu, err1 := strconv.ParseUint(args[1], 10, 32)
			mem, err2 := strconv.ParseUint(args[2], 10, 32)
			if err1 != nil || err2 != nil || cpu == 0 || mem == 0 {
				return d.Errf("csb_cimi: machine_config %q: cpu and memory must be positive integers", args[0])
			}
			mc := MachineConfig{Name: args[0], CPU: cpu, MemoryGB: mem}
			if len(args) == 4 {
				mc.CPUArch = args[3]
			}
			if err := description(d, "machine_config", mc.Name, &mc.Description); err != nil {
				return err
			}
			h.MachineConfigs = append(h.MachineConfigs, mc)
		case "machine_image":
			args := d.RemainingArgs()
			if len(args) < 1 {
				return d.Errf("csb_cimi: machine_image <name> [<provider>...]")
			}
			im := MachineImage{Name: args[0], Providers: args[1:]}
			if err := description(d, "machine_image", im.Name, &im.Description); err != nil {
				return err
			}
			h.MachineImages = append(h.MachineImages, im)
		case "policies":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if h.PoliciesRaw == nil {
				h.PoliciesRaw = caddy.ModuleMap{}
			}
			for _, a := range args {
				h.PoliciesRaw[a] = json.RawMessage("{}")
			}
		default:
			return d.Errf("csb_cimi: unrecognized option %q", opt)
		}
	}
	return nil
}

// description reads the optional block of a machine_config or
// machine_image, whose only option is description <text>.
func description(d *caddyfile.Dispenser, opt, name string, dst *string) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "description" {
			return d.Errf("csb_cimi: %s %q: unrecognized option %q", opt, name, d.Val())
		}
		*dst = strings.Join(d.RemainingArgs(), " ")
	}
	return nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddy.Module          = (*Handler)(nil)
)
