package csbsandbox

import (
	"math"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	// Like csb, the sandbox answers requests itself.
	cfparse.Directive[Sandbox]("csb_sandbox", httpcaddyfile.Before, "respond")
}

// UnmarshalCaddyfile sets up the sandbox from Caddyfile tokens. Syntax:
//
//	csb_sandbox [<id>] {
//		cimi_path         <path>
//		cdmi_path         <path>
//		subscribe_path    <path>
//		capacity          <cores> <memory_gb> <storage_gb>
//		price             <number>
//		architecture      <arch>
//		build_time        <duration>
//		url               <base-url>
//		broker            <publish-url>
//		broker_ca         internal|<pem-file>
//		broker_auth       digest|basic <user> <password>
//		push              <id> [<frequency>]
//		min_frequency     <duration>
//		max_expires       <duration>
//		max_subscriptions <n>
//		latency           <duration>
//		error_rate        <fraction> [<status>]
//		fail_after        <n> [<status>]
//		hang
//		seed              <n>
//	}
//
// Each option may be given once.
func (s *Sandbox) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	faults := func() *SandboxFaults {
		if s.Faults == nil {
			s.Faults = new(SandboxFaults)
		}
		return s.Faults
	}
	// path is an option of one path, kept without its trailing slash.
	path := func(dst *string) cfparse.Option {
		set := cfparse.Path("csb_sandbox", dst)
		return func(d *caddyfile.Dispenser) error {
			err := set(d)
			*dst = strings.TrimSuffix(*dst, "/")
			return err
		}
	}
	duration := func(dst *caddy.Duration) cfparse.Option {
		return cfparse.Parsed(dst, nonNegativeDuration, "csb_sandbox: %s %q: invalid duration")
	}
	var latency caddy.Duration
	var seed uint64
	// fault sets a fault from an option read into v, making Faults.
	fault := func(read cfparse.Option, set func(f *SandboxFaults)) cfparse.Option {
		return func(d *caddyfile.Dispenser) error {
			if err := read(d); err != nil {
				return err
			}
			set(faults())
			return nil
		}
	}
	const notCount = "csb_sandbox: %s %q must be a non-negative integer"
	return cfparse.Block{Name: "csb_sandbox", Arg: &s.ID,
		Single: map[string]*string{"architecture": &s.Architecture, "url": &s.URL, "broker": &s.Broker, "broker_ca": &s.BrokerCA},
		Options: map[string]cfparse.Option{
			"cimi_path": path(&s.CIMIPath), "cdmi_path": path(&s.CDMIPath), "subscribe_path": path(&s.SubscribePath),
			"capacity": func(d *caddyfile.Dispenser) error {
				args := d.RemainingArgs()
				if len(args) != 3 {
					return d.ArgErr()
				}
				for i, dst := range []*uint64{&s.Cores, &s.MemoryGB, &s.StorageGB} {
					var err error
					if *dst, err = strconv.ParseUint(args[i], 10, 64); err != nil || *dst == 0 {
						return d.Errf("csb_sandbox: capacity %q must be a positive integer", args[i])
					}
				}
				return nil
			},
			"price": cfparse.Parsed(&s.Price, func(v string) (float64, bool) {
				f, err := strconv.ParseFloat(v, 64)
				return f, err == nil && f >= 0 && !math.IsInf(f, 0)
			}, "csb_sandbox: %s %q must be a non-negative number"),
			"build_time": duration(&s.BuildTime), "min_frequency": duration(&s.MinFrequency), "max_expires": duration(&s.MaxExpires),
			"latency": fault(duration(&latency), func(f *SandboxFaults) { f.Latency = latency }),
			"broker_auth": func(d *caddyfile.Dispenser) error {
				args := d.RemainingArgs()
				if len(args) != 3 {
					return d.Errf("csb_sandbox: want broker_auth digest|basic <user> <password>")
				}
				if args[0] != httpclient.SchemeDigest && args[0] != httpclient.SchemeBasic {
					return d.Errf("csb_sandbox: broker_auth scheme %q: want digest or basic", args[0])
				}
				if args[1] == "" {
					return d.Errf("csb_sandbox: broker_auth needs a user name")
				}
				s.BrokerAuth = &SandboxBrokerAuth{Scheme: args[0], Username: args[1], Password: args[2]}
				return nil
			},
			"push": func(d *caddyfile.Dispenser) error {
				args := d.RemainingArgs()
				if len(args) < 1 || len(args) > 2 {
					return d.ArgErr()
				}
				s.PushID = args[0]
				if len(args) == 2 {
					dur, err := caddy.ParseDuration(args[1])
					if err != nil || dur <= 0 {
						return d.Errf("csb_sandbox: push frequency %q: invalid duration", args[1])
					}
					s.PushFrequency = caddy.Duration(dur)
				}
				return nil
			},
			// max_subscriptions is at least 1: 0 (and a number too big for
			// an int, which wrapped to a negative one) would be the
			// default, 16.
			"max_subscriptions": cfparse.Parsed(&s.MaxSubscriptions, cfparse.Positive, "csb_sandbox: %s %q must be a positive integer"),
			"seed":              fault(cfparse.Parsed(&seed, count, notCount), func(f *SandboxFaults) { f.Seed = seed }),
			"error_rate":        s.failureOption("error_rate", faults),
			"fail_after":        s.failureOption("fail_after", faults),
			"hang": func(d *caddyfile.Dispenser) error {
				if d.NextArg() {
					return d.ArgErr()
				}
				faults().Hang = true
				return nil
			},
		}}.Parse(d)
}

// failureOption reads "error_rate <fraction> [<status>]" or "fail_after
// <n> [<status>]".
func (s *Sandbox) failureOption(name string, faults func() *SandboxFaults) cfparse.Option {
	return func(d *caddyfile.Dispenser) error {
		args := d.RemainingArgs()
		if len(args) < 1 || len(args) > 2 {
			return d.ArgErr()
		}
		f := faults()
		var err error
		if name == "error_rate" {
			if f.ErrorRate, err = strconv.ParseFloat(args[0], 64); err != nil || f.ErrorRate < 0 || f.ErrorRate > 1 {
				return d.Errf("csb_sandbox: error_rate %q must be between 0 and 1", args[0])
			}
		} else {
			n, err := strconv.Atoi(args[0])
			if err != nil || n <= 0 {
				return d.Errf("csb_sandbox: fail_after %q must be a positive integer", args[0])
			}
			f.FailAfter = n
		}
		if len(args) == 2 {
			st, err := strconv.Atoi(args[1])
			if err != nil || st < 400 || st > 599 {
				return d.Errf("csb_sandbox: %s status %q must be 400-599", name, args[1])
			}
			if name == "error_rate" {
				f.ErrorRateStatus = st
			} else {
				f.FailAfterStatus = st
			}
		}
		return nil
	}
}

// nonNegativeDuration reads v as a duration of zero or more.
func nonNegativeDuration(v string) (caddy.Duration, bool) {
	dur, err := caddy.ParseDuration(v)
	return caddy.Duration(dur), err == nil && dur >= 0
}

// count reads v as a whole number of zero or more.
func count(v string) (uint64, bool) {
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}
