// Command caddy is Caddy with the standard modules and caddy-csb, built
// with plain "go build". The live tests use it when CSB_CADDY_BIN does not
// name an xcaddy-built binary (./xcaddy.sh test sets it).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddy-csb/caddy-csb"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
