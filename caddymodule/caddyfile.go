package caddymodule

import (
	"sort"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("csb", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("csb", parseHandlerDirective)
	// The csb handler answers requests itself, like respond and
	// reverse_proxy, so it sits just before respond; authentication
	// directives (basic_auth, digest_auth) run before it.
	httpcaddyfile.RegisterDirectiveOrder("csb", httpcaddyfile.Before, "respond")
}

// appOption parses one subdirective of the csb global option. The
// dispenser is positioned on the subdirective's name.
type appOption func(d *caddyfile.Dispenser, a *App) error

// appOptions maps csb global-option subdirectives to their parsers. Each
// file that adds a subdirective registers it here in its own init, so the
// syntax of a concern lives next to the code that uses it.
var appOptions = map[string]appOption{}

// registerAppOption registers the parser of a csb global-option
// subdirective. It panics on a duplicate name (a programming error).
func registerAppOption(name string, fn appOption) {
	if _, dup := appOptions[name]; dup {
		panic("csb: duplicate global option " + name)
	}
	appOptions[name] = fn
}

// handlerOption parses one subdirective of the csb handler directive.
type handlerOption func(d *caddyfile.Dispenser, h *Handler) error

var handlerOptions = map[string]handlerOption{}

func registerHandlerOption(name string, fn handlerOption) {
	if _, dup := handlerOptions[name]; dup {
		panic("csb: duplicate handler option " + name)
	}
	handlerOptions[name] = fn
}

func optionNames[T any](m map[string]T) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// parseGlobalOption parses the csb global option into the csb app.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		return nil, d.Err("the csb global option may appear only once")
	}
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{
		Name:  "csb",
		Value: caddyconfig.JSON(app, nil),
	}, nil
}

// UnmarshalCaddyfile sets up the csb app from Caddyfile tokens. Syntax:
//
//	csb {
//		<subdirective> ...
//	}
//
// The subdirectives are documented on the App fields they set.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		fn, ok := appOptions[d.Val()]
		if !ok {
			return d.Errf("unrecognized csb option %q (known: %v)", d.Val(), optionNames(appOptions))
		}
		if err := fn(d, a); err != nil {
			return err
		}
	}
	return nil
}

// parseHandlerDirective parses the csb site directive.
func parseHandlerDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	csb {
//		<subdirective> ...
//	}
//
// The subdirectives are documented on the Handler fields they set.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		fn, ok := handlerOptions[d.Val()]
		if !ok {
			return d.Errf("unrecognized csb handler option %q (known: %v)", d.Val(), optionNames(handlerOptions))
		}
		if err := fn(d, h); err != nil {
			return err
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)
