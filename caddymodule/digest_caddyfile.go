package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/dustin/go-humanize"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("digest_auth", parseDigestAuthDirective)
	// Right after basic_auth, so that no "order" option is needed and the
	// two authenticate at the same stage of the route.
	httpcaddyfile.RegisterDirectiveOrder("digest_auth", httpcaddyfile.After, "basic_auth")
}

// parseDigestAuthDirective parses the digest_auth directive into Caddy's
// authentication handler with the http_digest provider.
func parseDigestAuthDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	d := new(HTTPDigestAuth)
	if err := d.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return caddyauth.Authentication{
		ProvidersRaw: caddy.ModuleMap{"http_digest": caddyconfig.JSON(d, nil)},
	}, nil
}

// UnmarshalCaddyfile sets up the provider from the digest_auth directive,
// shaped like basic_auth. Syntax:
//
//	digest_auth [<matcher>] [<realm>] {
//		realm             <realm>
//		algorithms        <algorithm...>
//		qop               auth|auth-int...
//		userhash
//		nonce_lifetime    <duration>
//		nonce_key         <key>
//		replay_window     <counts>
//		max_nonces        <n>
//		auth_int_max_body <size>
//		htdigest          <file>
//		user              <name> <hash-function> <HA1>
//	}
//
// The realm is given as an argument or as a subdirective (default
// "restricted"). Algorithms are offered in the order written, one
// challenge each: SHA-256, SHA-512-256, MD5, SHA-256-sess,
// SHA-512-256-sess, MD5-sess. To serve Python's urllib, list MD5 first.
// Each user line gives one HA1 (hex H(name:realm:password)) for one hash
// function (MD5, SHA-256 or SHA-512-256); repeat the line for each
// function the user may use. "caddy digest-hash" prints these lines.
// htdigest may be repeated. Use {env.NAME} placeholders to keep the nonce
// key or HA1 values out of the file.
func (d *HTTPDigestAuth) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	disp.Next() // directive name
	if disp.NextArg() {
		d.Realm = disp.Val()
		if disp.NextArg() {
			return disp.ArgErr()
		}
	}
	accounts := map[string]int{} // user name → index in d.Accounts
	for disp.NextBlock(0) {
		sub := disp.Val()
		switch sub {
		case "realm":
			if !disp.Args(&d.Realm) || disp.NextArg() {
				return disp.ArgErr()
			}
		case "algorithms":
			args := disp.RemainingArgs()
			if len(args) == 0 {
				return disp.ArgErr()
			}
			for _, a := range args {
				alg, err := digest.ParseAlgorithm(a)
				if err != nil {
					return disp.Errf("digest_auth algorithms: %v", err)
				}
				d.Algorithms = append(d.Algorithms, alg.String())
			}
		case "qop":
			args := disp.RemainingArgs()
			if len(args) == 0 {
				return disp.ArgErr()
			}
			for _, q := range args {
				if q != digest.QOPAuth && q != digest.QOPAuthInt {
					return disp.Errf("digest_auth qop %q: want auth or auth-int", q)
				}
			}
			d.QOP = append(d.QOP, args...)
		case "userhash":
			if disp.NextArg() {
				return disp.ArgErr()
			}
			d.Userhash = true
		case "nonce_lifetime":
			var v string
			if !disp.Args(&v) || disp.NextArg() {
				return disp.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return disp.Errf("digest_auth nonce_lifetime %q: want a positive duration", v)
			}
			d.NonceLifetime = caddy.Duration(dur)
		case "nonce_key":
			if !disp.Args(&d.NonceKey) || disp.NextArg() {
				return disp.ArgErr()
			}
		case "replay_window", "max_nonces":
			var v string
			if !disp.Args(&v) || disp.NextArg() {
				return disp.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || sub == "replay_window" && n > digest.MaxReplayWindow {
				return disp.Errf("digest_auth %s %q: want a whole number from 1 (replay_window: to %d)", sub, v, digest.MaxReplayWindow)
			}
			if sub == "replay_window" {
				d.ReplayWindow = n
			} else {
				d.MaxNonces = n
			}
		case "auth_int_max_body":
			var v string
			if !disp.Args(&v) || disp.NextArg() {
				return disp.ArgErr()
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > 1<<40 {
				return disp.Errf("digest_auth auth_int_max_body %q: want a size such as 1MiB", v)
			}
			d.AuthIntMaxBody = int64(n)
		case "htdigest":
			var f string
			if !disp.Args(&f) || disp.NextArg() {
				return disp.ArgErr()
			}
			d.HTDigestFiles = append(d.HTDigestFiles, f)
		case "user":
			var name, algName, ha1 string
			if !disp.Args(&name, &algName, &ha1) || disp.NextArg() {
				return disp.Err("digest_auth user: want user <name> <hash-function> <HA1>")
			}
			alg, err := digest.ParseAlgorithm(algName)
			if err != nil || alg.Sess() {
				return disp.Errf("digest_auth user %q: hash function %q: want MD5, SHA-256 or SHA-512-256", name, algName)
			}
			i, ok := accounts[name]
			if !ok {
				i = len(d.Accounts)
				accounts[name] = i
				d.Accounts = append(d.Accounts, DigestAccount{Username: name, HA1: map[string]string{}})
			}
			if _, dup := d.Accounts[i].HA1[alg.String()]; dup {
				return disp.Errf("digest_auth user %q: %s HA1 given twice", name, alg)
			}
			d.Accounts[i].HA1[alg.String()] = ha1
		default:
			return disp.Errf("digest_auth: unrecognized subdirective %q", sub)
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*HTTPDigestAuth)(nil)
