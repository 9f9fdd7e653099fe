package csbsandbox

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/broker/httpclient"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("csb_sandbox", parseSandboxDirective)
	// Like csb, the sandbox answers requests itself.
	httpcaddyfile.RegisterDirectiveOrder("csb_sandbox", httpcaddyfile.Before, "respond")
}

// parseSandboxDirective parses the csb_sandbox site directive.
func parseSandboxDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(Sandbox)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
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
func (s *Sandbox) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		s.ID = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	faults := func() *SandboxFaults {
		if s.Faults == nil {
			s.Faults = new(SandboxFaults)
		}
		return s.Faults
	}
	for d.NextBlock(0) {
		name := d.Val()
		args := d.RemainingArgs()
		want := func(lo, hi int) error {
			if len(args) < lo || len(args) > hi {
				return d.ArgErr()
			}
			return nil
		}
		var err error
		switch name {
		case "cimi_path", "cdmi_path", "subscribe_path":
			if err = want(1, 1); err != nil {
				return err
			}
			if !strings.HasPrefix(args[0], "/") {
				return d.Errf("csb_sandbox: %s %q must begin with /", name, args[0])
			}
			p := strings.TrimSuffix(args[0], "/")
			switch name {
			case "cimi_path":
				s.CIMIPath = p
			case "cdmi_path":
				s.CDMIPath = p
			default:
				s.SubscribePath = p
			}
		case "capacity":
			if err = want(3, 3); err != nil {
				return err
			}
			for i, dst := range []*uint64{&s.Cores, &s.MemoryGB, &s.StorageGB} {
				if *dst, err = strconv.ParseUint(args[i], 10, 64); err != nil || *dst == 0 {
					return d.Errf("csb_sandbox: capacity %q must be a positive integer", args[i])
				}
			}
		case "price":
			if err = want(1, 1); err != nil {
				return err
			}
			if s.Price, err = strconv.ParseFloat(args[0], 64); err != nil || s.Price < 0 {
				return d.Errf("csb_sandbox: price %q must be a non-negative number", args[0])
			}
		case "architecture", "url", "broker", "broker_ca":
			if err = want(1, 1); err != nil {
				return err
			}
			switch name {
			case "architecture":
				s.Architecture = args[0]
			case "url":
				s.URL = args[0]
			case "broker":
				s.Broker = args[0]
			default:
				s.BrokerCA = args[0]
			}
		case "build_time", "min_frequency", "max_expires", "latency":
			if err = want(1, 1); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur < 0 {
				return d.Errf("csb_sandbox: %s %q: invalid duration", name, args[0])
			}
			switch name {
			case "build_time":
				s.BuildTime = caddy.Duration(dur)
			case "min_frequency":
				s.MinFrequency = caddy.Duration(dur)
			case "max_expires":
				s.MaxExpires = caddy.Duration(dur)
			default:
				faults().Latency = caddy.Duration(dur)
			}
		case "broker_auth":
			if len(args) != 3 {
				return d.Errf("csb_sandbox: want broker_auth digest|basic <user> <password>")
			}
			if args[0] != httpclient.SchemeDigest && args[0] != httpclient.SchemeBasic {
				return d.Errf("csb_sandbox: broker_auth scheme %q: want digest or basic", args[0])
			}
			if args[1] == "" {
				return d.Errf("csb_sandbox: broker_auth needs a user name")
			}
			if s.BrokerAuth != nil {
				return d.Errf("csb_sandbox: broker_auth given twice")
			}
			s.BrokerAuth = &SandboxBrokerAuth{Scheme: args[0], Username: args[1], Password: args[2]}
		case "push":
			if err = want(1, 2); err != nil {
				return err
			}
			s.PushID = args[0]
			if len(args) == 2 {
				dur, err := caddy.ParseDuration(args[1])
				if err != nil || dur <= 0 {
					return d.Errf("csb_sandbox: push frequency %q: invalid duration", args[1])
				}
				s.PushFrequency = caddy.Duration(dur)
			}
		case "max_subscriptions", "seed":
			if err = want(1, 1); err != nil {
				return err
			}
			n, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return d.Errf("csb_sandbox: %s %q must be a non-negative integer", name, args[0])
			}
			if name == "seed" {
				faults().Seed = n
			} else {
				s.MaxSubscriptions = int(n)
			}
		case "error_rate", "fail_after":
			if err = want(1, 2); err != nil {
				return err
			}
			f := faults()
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
		case "hang":
			if err = want(0, 0); err != nil {
				return err
			}
			faults().Hang = true
		default:
			return d.Errf("csb_sandbox: unrecognized option %q", name)
		}
	}
	return nil
}
