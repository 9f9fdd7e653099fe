// Package caddycsb is the entry point xcaddy builds: importing it registers
// every Caddy module of caddy-csb, a Cloud Service Broker for Caddy v2.
//
//	xcaddy build v2.11.9 --with github.com/caddy-csb/caddy-csb
package caddycsb

import (
	// Register the csb app, the csb handler and every guest module.
	_ "github.com/caddy-csb/caddy-csb/caddymodule"
)
