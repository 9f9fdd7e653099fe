package csbosb

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	// A terminal handler, like csb: before respond.
	cfparse.Directive[Handler]("csb_osb", httpcaddyfile.Before, "respond")
	// csb_binding_auth is Caddy's authentication handler with the
	// csb_binding provider, at the stage of basic_auth.
	cfparse.AuthDirective[BindingAuth]("csb_binding_auth", "csb_binding")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	csb_osb [<matcher>] {
//		plan <name> {
//			kind         iaas|dsaas|saas|paas   # default iaas
//			description  <text>
//			cores        <n>                    # iaas
//			memory       <GB>                   # iaas
//			storage      <GB>                   # iaas
//			architecture <arch>                 # iaas
//			link         <rel>                  # saas, paas (required there)
//			lease        <duration>             # default: the jobs block's lease_default
//			provider     <provider-id>          # default: placed by policy
//		}
//		derive_plans        on|off              # default on when no plan is declared
//		platforms           <user...>           # default: any authenticated user
//		job_route           <path>|<url>        # default /csb/jobs/
//		broker_id           <id>                # default caddy-csb
//		maintenance_version <semver>            # default none
//	}
//
// plan and platforms may be repeated; every other option, in the block or
// in a plan, may be given once.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "csb_osb",
		Single: map[string]*string{"job_route": &h.JobRoute, "broker_id": &h.BrokerID, "maintenance_version": &h.MaintenanceVersion},
		Lists:  map[string]*[]string{"platforms": &h.Platforms},
		Repeat: []string{"plan"}, // a plan per name (Provision refuses a name declared twice)
		Options: map[string]cfparse.Option{
			"plan": func(d *caddyfile.Dispenser) error {
				p, err := parsePlan(d)
				h.Plans = append(h.Plans, p)
				return err
			},
			"derive_plans": func(d *caddyfile.Dispenser) error {
				v, err := cfparse.ArgValue(d)
				if err != nil {
					return err
				}
				if v != "on" && v != "off" {
					return d.Errf("csb_osb: derive_plans %q: want on or off", v)
				}
				on := v == "on"
				h.DerivePlans = &on
				return nil
			},
		}}.Parse(d)
}

// parsePlan parses one plan block.
func parsePlan(d *caddyfile.Dispenser) (Plan, error) {
	var p Plan
	if !d.NextArg() {
		return p, d.Errf("csb_osb: plan needs a name")
	}
	p.Name = d.Val()
	if d.NextArg() {
		return p, d.ArgErr()
	}
	count := func(dst *uint64) cfparse.Option {
		return func(d *caddyfile.Dispenser) error {
			opt := d.Val()
			v, err := cfparse.ArgValue(d)
			if err != nil {
				return err
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 {
				return d.Errf("csb_osb: plan %s: %s %q is not a whole number of at least 1", p.Name, opt, v)
			}
			*dst = n
			return nil
		}
	}
	err := cfparse.Block{Name: "csb_osb: plan " + p.Name,
		Single: map[string]*string{"description": &p.Description, "architecture": &p.Architecture, "link": &p.Link, "provider": &p.Provider},
		Options: map[string]cfparse.Option{
			"kind": func(d *caddyfile.Dispenser) error {
				v, err := cfparse.ArgValue(d)
				if err != nil {
					return err
				}
				if _, ok := kindOf(v); !ok {
					return d.Errf("csb_osb: plan %s: unknown kind %q (iaas, dsaas, saas or paas)", p.Name, v)
				}
				p.Kind = v
				return nil
			},
			"cores": count(&p.Cores), "memory": count(&p.Memory), "storage": count(&p.Storage),
			"lease": cfparse.Duration(&p.Lease),
		}}.Body(d)
	if err != nil {
		return p, err
	}
	if err := p.validate(); err != nil {
		return p, d.Errf("csb_osb: %v", err)
	}
	return p, nil
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens:
//
//	csb_binding_auth [<matcher>] [<realm>] {
//		realm <realm>          # default "csb-binding"
//	}
func (b *BindingAuth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "csb_binding_auth", Arg: &b.Realm, Single: map[string]*string{"realm": &b.Realm}}.Parse(d)
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*BindingAuth)(nil)
)
