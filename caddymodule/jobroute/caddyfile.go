package jobroute

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

// UnmarshalCaddyfile sets up the source from Caddyfile tokens:
//
//	dynamic csb [<prefix>] {
//		prefix          <path>
//		header          <name>
//		unhealthy_after <n>
//		health_interval <duration>
//		cache_ttl       <duration>|off
//	}
func (u *JobUpstreams) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "csb"
	if d.NextArg() {
		u.Prefix = d.Val()
	}
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
					return d.Errf("dynamic csb: prefix %q must begin with /", v)
				}
				u.Prefix = v
			} else {
				u.Header = v
			}
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
		case "cache_ttl":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			if v == "off" {
				u.CacheTTL = -1
				break
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("dynamic csb: cache_ttl %q: want a positive duration or off", v)
			}
			u.CacheTTL = caddy.Duration(dur)
		default:
			return d.Errf("dynamic csb: unrecognized option %q", opt)
		}
	}
	return nil
}
