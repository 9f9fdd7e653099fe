package csbplacement

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	placement first
func (p *PlacementFirst) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return noPolicyOptions(d)
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	placement round_robin
func (p *PlacementRoundRobin) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return noPolicyOptions(d)
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	placement random [{
//		seed <n>
//	}]
func (p *PlacementRandom) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // policy name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "seed":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := strconv.ParseUint(d.Val(), 10, 64)
			if err != nil {
				return d.Errf("placement random: seed %q: %v", d.Val(), err)
			}
			p.Seed = &v
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("placement random: unrecognized option %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	placement least_loaded [{
//		by jobs|capacity
//	}]
func (p *PlacementLeastLoaded) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "by":
			if !d.NextArg() {
				return d.ArgErr()
			}
			p.By = d.Val()
			if p.By != "jobs" && p.By != "capacity" {
				return d.Errf("placement least_loaded: by %q: want jobs or capacity", p.By)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("placement least_loaded: unrecognized option %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	placement weighted [{
//		weight <provider> <n>
//	}]
func (p *PlacementWeighted) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "weight":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			w, err := strconv.Atoi(args[1])
			if err != nil || w < 0 {
				return d.Errf("placement weighted: weight %q of provider %q: want a non-negative integer", args[1], args[0])
			}
			if p.Weights == nil {
				p.Weights = map[string]int{}
			}
			p.Weights[args[0]] = w
		default:
			return d.Errf("placement weighted: unrecognized option %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	placement cheapest [{
//		price <provider>[/<service>] <amount>
//	}]
func (p *PlacementCheapest) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "price":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			v, err := strconv.ParseFloat(args[1], 64)
			if err != nil || v < 0 {
				return d.Errf("placement cheapest: price %q of %q: want a non-negative number", args[1], args[0])
			}
			if p.Prices == nil {
				p.Prices = map[string]float64{}
			}
			p.Prices[args[0]] = v
		default:
			return d.Errf("placement cheapest: unrecognized option %q", d.Val())
		}
	}
	return nil
}

// noPolicyOptions parses a policy that takes no options.
func noPolicyOptions(d *caddyfile.Dispenser) error {
	d.Next()
	name := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("placement %s takes no options", name)
	}
	return nil
}
