package jobroute

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("csb_job_route", parseJobRouteDirective)
	// It resolves and rewrites what the reverse proxy then sends.
	httpcaddyfile.RegisterDirectiveOrder("csb_job_route", httpcaddyfile.Before, "reverse_proxy")
}

// parseJobRouteDirective parses the csb_job_route site directive.
func parseJobRouteDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	jr := new(JobRoute)
	err := jr.UnmarshalCaddyfile(h.Dispenser)
	return jr, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	csb_job_route [<matcher>] {
//		prefix    <path>               # default /csb/jobs/
//		header    <name>
//		cache_ttl <duration>|off       # default 1s
//	}
func (h *JobRoute) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "csb_job_route"
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "prefix", "header":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			if opt == "prefix" {
				if !strings.HasPrefix(v, "/") {
					return d.Errf("csb_job_route: prefix %q must begin with /", v)
				}
				h.Prefix = v
			} else {
				h.Header = v
			}
		case "cache_ttl":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			if v == "off" {
				h.CacheTTL = -1
				break
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("csb_job_route: cache_ttl %q: want a positive duration or off", v)
			}
			h.CacheTTL = caddy.Duration(dur)
		default:
			return d.Errf("csb_job_route: unrecognized option %q", opt)
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the source from Caddyfile tokens:
//
//	dynamic csb {
//		unhealthy_after <n>            # default 3
//		health_interval <duration>     # default 1s
//	}
//
// The job route's prefix, header and cache_ttl belong to the
// csb_job_route handler in front.
func (u *JobUpstreams) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "csb"
	if d.NextArg() {
		return d.Errf("dynamic csb takes no prefix: give it to csb_job_route, the handler in front of reverse_proxy")
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "unhealthy_after":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("dynamic csb: unhealthy_after %q is not a positive integer", v)
			}
			u.UnhealthyAfter = n
		case "health_interval":
			if err := cfparse.DurationArg(d, &u.HealthInterval); err != nil {
				return err
			}
		case "prefix", "header", "cache_ttl":
			return d.Errf("dynamic csb: %s is an option of csb_job_route, the handler in front of reverse_proxy", opt)
		default:
			return d.Errf("dynamic csb: unrecognized option %q", opt)
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*JobRoute)(nil)
	_ caddyfile.Unmarshaler = (*JobUpstreams)(nil)
)
