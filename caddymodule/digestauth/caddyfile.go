package digestauth

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	// Right after basic_auth, so that no "order" option is needed and the
	// two authenticate at the same stage of the route.
	cfparse.AuthDirective[HTTPDigestAuth]("digest_auth", "http_digest")
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
// htdigest may be repeated, as algorithms and qop, whose lines add up;
// every other option may be given once.
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
// Refused requests get 401 with fresh challenges and Retry-After. A
// client whose nonce authenticated that user before (or was handed to it
// after a correct response) is not held back, so a guesser cannot lock
// a consumer out.
// "throttle off" disables it; backoff's second argument is the maximum.
func (d *HTTPDigestAuth) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	accounts := map[string]int{} // user name → index in d.Accounts
	return cfparse.Block{Name: "digest_auth", Arg: &d.Realm,
		Single: map[string]*string{"realm": &d.Realm, "nonce_key": &d.NonceKey},
		Flags:  map[string]*bool{"userhash": &d.Userhash},
		// These lines add up (user: an HA1 per hash function); every other
		// option may be given once.
		Repeat: []string{"algorithms", "qop", "htdigest", "user"},
		Options: map[string]cfparse.Option{
			"algorithms": func(disp *caddyfile.Dispenser) error {
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
				return nil
			},
			"qop": func(disp *caddyfile.Dispenser) error {
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
				return nil
			},
			"nonce_lifetime": cfparse.Parsed(&d.NonceLifetime, cfparse.PositiveDuration, "digest_auth %s %q: want a positive duration"),
			"replay_window": cfparse.Parsed(&d.ReplayWindow, func(v string) (int, bool) {
				n, ok := cfparse.Positive(v)
				return n, ok && n <= digest.MaxReplayWindow
			}, nonceCountRefusal),
			"max_nonces":        cfparse.Parsed(&d.MaxNonces, cfparse.Positive, nonceCountRefusal),
			"auth_int_max_body": cfparse.Parsed(&d.AuthIntMaxBody, cfparse.Size(1<<40), "digest_auth %s %q: want a size such as 1MiB"),
			"htdigest": func(disp *caddyfile.Dispenser) error {
				f, err := cfparse.ArgValue(disp)
				if err != nil {
					return err
				}
				d.HTDigestFiles = append(d.HTDigestFiles, f)
				return nil
			},
			"user": func(disp *caddyfile.Dispenser) error {
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
				return nil
			},
			"throttle": d.unmarshalThrottle,
		},
		More: cfparse.Unknown("digest_auth: unrecognized subdirective %q"),
	}.Parse(disp)
}

// nonceCountRefusal words the refusal of replay_window and max_nonces.
var nonceCountRefusal = "digest_auth %s %q: want a whole number from 1 (replay_window: to " + strconv.Itoa(digest.MaxReplayWindow) + ")"

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
	const notDuration = "digest_auth throttle %s %q: want a positive duration"
	err := cfparse.Block{Name: "digest_auth throttle", Options: cfparse.Merge(
		cfparse.Ints(cfparse.Positive, "digest_auth throttle %s %q: want a whole number from 1", map[string]*int{
			"nonce_failures": &t.NonceFailures, "user_failures": &t.UserFailures,
			"client_failures": &t.ClientFailures, "max_tracked": &t.MaxTracked,
		}),
		map[string]cfparse.Option{
			"backoff": func(disp *caddyfile.Dispenser) error {
				args := disp.RemainingArgs()
				if len(args) < 1 || len(args) > 2 {
					return disp.ArgErr()
				}
				for i, dst := range []*caddy.Duration{&t.Backoff, &t.MaxBackoff}[:len(args)] {
					var ok bool
					if *dst, ok = cfparse.PositiveDuration(args[i]); !ok {
						return disp.Errf(notDuration, "backoff", args[i])
					}
				}
				return nil
			},
			"forget_after": cfparse.Parsed(&t.ForgetAfter, cfparse.PositiveDuration, notDuration),
		})}.Body(disp)
	if err != nil {
		return err
	}
	if err := t.engine().Validate(); err != nil {
		return disp.Errf("digest_auth %v", err)
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*HTTPDigestAuth)(nil)
