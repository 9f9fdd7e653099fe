package jobroute

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	// It resolves and rewrites what the reverse proxy then sends.
	cfparse.Directive[JobRoute]("csb_job_route", httpcaddyfile.Before, "reverse_proxy")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	csb_job_route [<matcher>] {
//		prefix    <path>               # default /csb/jobs/
//		header    <name>
//		cache_ttl <duration>|off       # default 1s
//	}
func (h *JobRoute) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "csb_job_route", Single: map[string]*string{"header": &h.Header}, Options: map[string]cfparse.Option{
		"prefix":    cfparse.Path("csb_job_route", &h.Prefix),
		"cache_ttl": cfparse.Parsed(&h.CacheTTL, cfparse.PositiveDurationOrOff, "csb_job_route: %s %q: want a positive duration or off"),
	}}.Parse(d)
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
	if d.Next() && d.NextArg() { // "csb"
		return d.Errf("dynamic csb takes no prefix: give it to csb_job_route, the handler in front of reverse_proxy")
	}
	return cfparse.Block{Name: "dynamic csb", Options: map[string]cfparse.Option{
		"unhealthy_after": cfparse.Parsed(&u.UnhealthyAfter, cfparse.Positive, "dynamic csb: %s %q is not a positive integer"),
		"health_interval": cfparse.Duration(&u.HealthInterval),
	}, More: func(d *caddyfile.Dispenser, opt string) (bool, error) {
		if opt == "prefix" || opt == "header" || opt == "cache_ttl" {
			return true, d.Errf("dynamic csb: %s is an option of csb_job_route, the handler in front of reverse_proxy", opt)
		}
		return false, nil
	}}.Body(d)
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*JobRoute)(nil)
	_ caddyfile.Unmarshaler = (*JobUpstreams)(nil)
)
