package csbosb

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("csb_osb", parseOSBDirective)
	// A terminal handler, like csb: before respond.
	httpcaddyfile.RegisterDirectiveOrder("csb_osb", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterHandlerDirective("csb_binding_auth", parseBindingAuthDirective)
	// Authentication, at the stage of basic_auth.
	httpcaddyfile.RegisterDirectiveOrder("csb_binding_auth", httpcaddyfile.After, "basic_auth")
}

func parseOSBDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	o := new(Handler)
	err := o.UnmarshalCaddyfile(h.Dispenser)
	return o, err
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
// plan and platforms may be repeated.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "csb_osb"
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "plan":
			p, err := parsePlan(d)
			if err != nil {
				return err
			}
			h.Plans = append(h.Plans, p)
		case "derive_plans":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			on := v == "on"
			if !on && v != "off" {
				return d.Errf("csb_osb: derive_plans %q: want on or off", v)
			}
			h.DerivePlans = &on
		case "platforms":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Platforms = append(h.Platforms, args...)
		case "job_route", "broker_id", "maintenance_version":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			switch opt {
			case "job_route":
				h.JobRoute = v
			case "broker_id":
				h.BrokerID = v
			default:
				h.MaintenanceVersion = v
			}
		default:
			return d.Errf("csb_osb: unrecognized option %q", opt)
		}
	}
	return nil
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
	for nest := d.Nesting(); d.NextBlock(nest); {
		switch opt := d.Val(); opt {
		case "kind", "description", "architecture", "link", "provider":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return p, err
			}
			switch opt {
			case "kind":
				if _, ok := kindOf(v); !ok {
					return p, d.Errf("csb_osb: plan %s: unknown kind %q (iaas, dsaas, saas or paas)", p.Name, v)
				}
				p.Kind = v
			case "description":
				p.Description = v
			case "architecture":
				p.Architecture = v
			case "link":
				p.Link = v
			default:
				p.Provider = v
			}
		case "cores", "memory", "storage":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return p, err
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 {
				return p, d.Errf("csb_osb: plan %s: %s %q is not a whole number of at least 1", p.Name, opt, v)
			}
			switch opt {
			case "cores":
				p.Cores = n
			case "memory":
				p.Memory = n
			default:
				p.Storage = n
			}
		case "lease":
			if err := cfparse.DurationArg(d, &p.Lease); err != nil {
				return p, err
			}
			if p.Lease <= 0 {
				return p, d.Errf("csb_osb: plan %s: lease must be positive", p.Name)
			}
		default:
			return p, d.Errf("csb_osb: plan %s: unrecognized option %q", p.Name, opt)
		}
	}
	if err := p.validate(); err != nil {
		return p, d.Errf("csb_osb: %v", err)
	}
	return p, nil
}

// parseBindingAuthDirective parses csb_binding_auth into Caddy's
// authentication handler with the csb_binding provider.
func parseBindingAuthDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	b := new(BindingAuth)
	if err := b.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return caddyauth.Authentication{
		ProvidersRaw: caddy.ModuleMap{"csb_binding": caddyconfig.JSON(b, nil)},
	}, nil
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens:
//
//	csb_binding_auth [<matcher>] [<realm>] {
//		realm <realm>          # default "csb-binding"
//	}
func (b *BindingAuth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "csb_binding_auth"
	if d.NextArg() {
		b.Realm = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "realm":
			if err := cfparse.OneArg(d, &b.Realm); err != nil {
				return err
			}
		default:
			return d.Errf("csb_binding_auth: unrecognized option %q", opt)
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*BindingAuth)(nil)
)
