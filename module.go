// Package caddycsb is the entry point xcaddy builds: importing it registers
// every Caddy module of caddy-csb, a Cloud Service Broker for Caddy v2.
//
//	xcaddy build v2.11.9 --with github.com/caddy-csb/caddy-csb=./
package caddycsb

import (
	// The csb app, the csb handler and the admin API.
	_ "github.com/caddy-csb/caddy-csb/caddymodule"
	// The csb.adapters.* guest modules (real clouds' APIs).
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbadapters"
	// csb_console: the web console.
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbconsole"
	// The csb.placement.* guest modules.
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbplacement"
	// csb_sandbox: a fake cloud for trying things out.
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbsandbox"
	// http_digest, digest_auth and caddy csb-digest-hash.
	_ "github.com/caddy-csb/caddy-csb/caddymodule/digestauth"
	// The job route: reverse_proxy's dynamic csb upstream source.
	_ "github.com/caddy-csb/caddy-csb/caddymodule/jobroute"
	// caddy csb: the command-line client of the Consumer interface.
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbcli"
	// csb_cimi: the CIMI (DSP0263) front-end.
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbcimi"
	// csb_osb (Open Service Broker API) and the csb_binding auth provider.
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbosb"
)
