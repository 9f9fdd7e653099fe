package csbconsole

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("csb_console", parseConsoleDirective)
	// Where csb is (before respond): each answers its own paths and passes
	// the rest on, so their order among themselves does not matter.
	httpcaddyfile.RegisterDirectiveOrder("csb_console", httpcaddyfile.Before, "respond")
}

// parseConsoleDirective parses the csb_console site directive.
func parseConsoleDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(Console)
	err := c.UnmarshalCaddyfile(h.Dispenser)
	return c, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	csb_console [<matcher>] {
//		prefix    <path>               # default /console
//		operators <user>...            # may repeat; default none
//	}
func (c *Console) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "csb_console"
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "prefix":
			var v string
			if err := cfparse.OneArg(d, &v); err != nil {
				return err
			}
			if !strings.HasPrefix(v, "/") {
				return d.Errf("csb_console: prefix %q must begin with /", v)
			}
			c.Prefix = v
		case "operators":
			users := d.RemainingArgs()
			if len(users) == 0 {
				return d.Errf("csb_console: operators needs at least one user")
			}
			c.Operators = append(c.Operators, users...)
		default:
			return d.Errf("csb_console: unrecognized option %q", opt)
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Console)(nil)
