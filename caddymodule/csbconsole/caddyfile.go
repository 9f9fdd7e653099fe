package csbconsole

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	// Where csb is (before respond): each answers its own paths and passes
	// the rest on, so their order among themselves does not matter.
	cfparse.Directive[Console]("csb_console", httpcaddyfile.Before, "respond")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	csb_console [<matcher>] {
//		prefix    <path>               # default /console
//		operators <user>...            # may repeat; default none
//	}
func (c *Console) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "csb_console", Repeat: []string{"operators"}, Options: map[string]cfparse.Option{
		"prefix": cfparse.Path("csb_console", &c.Prefix),
		"operators": func(d *caddyfile.Dispenser) error {
			users := d.RemainingArgs()
			if len(users) == 0 {
				return d.Errf("csb_console: operators needs at least one user")
			}
			c.Operators = append(c.Operators, users...)
			return nil
		},
	}}.Parse(d)
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Console)(nil)
