package digestauth

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
//		throttle          off
//		throttle {
//			nonce_failures  <n>
//			user_failures   <n>
//			client_failures <n>
//			backoff         <first> [<max>]
//			forget_after    <duration>
//			max_tracked     <n>
//		}
//	}
//
// The realm is given as an argument or as a subdirective (default
// "restricted"). Algorithms are offered in the order written, one
// challenge each: SHA-256, SHA-512-256, MD5, SHA-256-sess,
// SHA-512-256-sess, MD5-sess. To serve Python's urllib, list MD5 first.
// Each user line gives one HA1 (hex H(name:realm:password)) for one hash
// function (MD5, SHA-256 or SHA-512-256); repeat the line for each
// function the user may use. "caddy digest-hash" prints these lines.
// htdigest may be repeated.
//
// Keep HA1 values out of the configuration: an HA1 is as good as the
// password for this realm, and Caddy logs its whole JSON configuration
// at debug level (the "adjusted config" line of http.auto_https), where
// an HA1 written inline on a user line appears in clear. Prefer htdigest
// files ("caddy digest-hash --format htdigest" prints their lines), or
// write the HA1 as a placeholder expanded at provision time:
// {file./path/to/ha1} (the file's content, a trailing newline dropped)
// or {env.NAME}. A literal HA1 works, with a warning in the log (which
// names the user, never the value). The Caddyfile's own {$NAME} is
// expanded when the file is adapted, so it puts the value in the
// configuration: use {env.NAME} instead.
//
// The throttle is on by default (see DigestThrottle): a wrong response
// uses up its nonce; after 5 failures of one user name or 10 of one client
// address, that name or address is refused for 1s, doubling with each
// further failure up to 5m, and forgotten 15m after its last failure.
// Refused requests get 401 with fresh challenges and Retry-After.
// "throttle off" disables it; backoff's second argument is the maximum.
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
		case "throttle":
			if err := d.unmarshalThrottle(disp); err != nil {
				return err
			}
		default:
			return disp.Errf("digest_auth: unrecognized subdirective %q", sub)
		}
	}
	return nil
}

// unmarshalThrottle parses the throttle subdirective: "throttle off" or
// a block of limits.
func (d *HTTPDigestAuth) unmarshalThrottle(disp *caddyfile.Dispenser) error {
	if d.Throttle == nil {
		d.Throttle = new(DigestThrottle)
	}
	t := d.Throttle
	if disp.NextArg() {
		if disp.Val() != "off" || disp.NextArg() {
			return disp.Err("digest_auth throttle: want \"throttle off\" or a block")
		}
		t.Off = true
		return nil
	}
	duration := func(name, v string) (caddy.Duration, error) {
		dur, err := caddy.ParseDuration(v)
		if err != nil || dur <= 0 {
			return 0, disp.Errf("digest_auth throttle %s %q: want a positive duration", name, v)
		}
		return caddy.Duration(dur), nil
	}
	for nesting := disp.Nesting(); disp.NextBlock(nesting); {
		opt := disp.Val()
		switch opt {
		case "nonce_failures", "user_failures", "client_failures", "max_tracked":
			var v string
			if !disp.Args(&v) || disp.NextArg() {
				return disp.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return disp.Errf("digest_auth throttle %s %q: want a whole number from 1", opt, v)
			}
			switch opt {
			case "nonce_failures":
				t.NonceFailures = n
			case "user_failures":
				t.UserFailures = n
			case "client_failures":
				t.ClientFailures = n
			default:
				t.MaxTracked = n
			}
		case "backoff":
			args := disp.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return disp.ArgErr()
			}
			var err error
			if t.Backoff, err = duration("backoff", args[0]); err != nil {
				return err
			}
			if len(args) == 2 {
				if t.MaxBackoff, err = duration("backoff", args[1]); err != nil {
					return err
				}
			}
		case "forget_after":
			var v string
			if !disp.Args(&v) || disp.NextArg() {
				return disp.ArgErr()
			}
			var err error
			if t.ForgetAfter, err = duration("forget_after", v); err != nil {
				return err
			}
		default:
			return disp.Errf("digest_auth throttle: unrecognized option %q", opt)
		}
	}
	if err := t.engine().Validate(); err != nil {
		return disp.Errf("digest_auth %v", err)
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*HTTPDigestAuth)(nil)
