package csbcimi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	cfparse.Directive[Handler]("csb_cimi", httpcaddyfile.Before, "respond")
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
// machine_config, machine_image and policies may be repeated; prefix,
// max_body_size and a description, once. The handler serves
// the paths below prefix and passes every other request on, so it needs
// no matcher.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "csb_cimi", Repeat: []string{"machine_config", "machine_image", "policies"}, Options: map[string]cfparse.Option{
		"prefix":        cfparse.Path("csb_cimi", &h.Prefix),
		"max_body_size": cfparse.Parsed(&h.MaxBodySize, cfparse.Size(math.MaxInt64), "csb_cimi: %s %q: want a size such as 64KiB"),
		"machine_config": func(d *caddyfile.Dispenser) error {
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
			return addDescribed(d, "machine_config", mc.Name, &mc, &mc.Description, &h.MachineConfigs)
		},
		"machine_image": func(d *caddyfile.Dispenser) error {
			args := d.RemainingArgs()
			if len(args) < 1 {
				return d.Errf("csb_cimi: machine_image <name> [<provider>...]")
			}
			im := MachineImage{Name: args[0], Providers: args[1:]}
			return addDescribed(d, "machine_image", im.Name, &im, &im.Description, &h.MachineImages)
		},
		"policies": func(d *caddyfile.Dispenser) error {
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
			return nil
		},
	}}.Parse(d)
}

// addDescribed reads the optional block of a machine_config or
// machine_image e named name, whose only option is description <text>
// (into *desc, a field of e), and adds e to *list.
func addDescribed[T any](d *caddyfile.Dispenser, opt, name string, e *T, desc *string, list *[]T) error {
	err := cfparse.Block{Name: fmt.Sprintf("csb_cimi: %s %q", opt, name), Options: map[string]cfparse.Option{
		"description": func(d *caddyfile.Dispenser) error {
			*desc = strings.Join(d.RemainingArgs(), " ")
			return nil
		},
	}}.Body(d)
	if err != nil {
		return err
	}
	*list = append(*list, *e)
	return nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddy.Module          = (*Handler)(nil)
)
