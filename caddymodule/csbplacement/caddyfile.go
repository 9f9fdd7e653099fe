package csbplacement

import (
	"math"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
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
	return cfparse.Block{Name: "placement random", Options: map[string]cfparse.Option{
		"seed": func(d *caddyfile.Dispenser) error {
			v, err := cfparse.ArgValue(d)
			if err != nil {
				return err
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return d.Errf("placement random: seed %q: %v", v, err)
			}
			p.Seed = &n
			return nil
		},
	}}.Parse(d)
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	placement least_loaded [{
//		by jobs|capacity
//	}]
func (p *PlacementLeastLoaded) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "placement least_loaded", Options: map[string]cfparse.Option{
		"by": cfparse.Parsed(&p.By, func(v string) (string, bool) { return v, v == "jobs" || v == "capacity" },
			"placement least_loaded: %s %q: want jobs or capacity"),
	}}.Parse(d)
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	placement weighted [{
//		weight <provider> <n>
//	}]
func (p *PlacementWeighted) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "placement weighted", Repeat: []string{"weight"}, Options: map[string]cfparse.Option{
		"weight": perProvider("placement weighted", &p.Weights, cfparse.NonNegative, "placement weighted: weight %q of provider %q: want a non-negative integer"),
	}}.Parse(d)
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	placement cheapest [{
//		price <provider>[/<service>] <amount>
//	}]
func (p *PlacementCheapest) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfparse.Block{Name: "placement cheapest", Repeat: []string{"price"}, Options: map[string]cfparse.Option{
		"price": perProvider("placement cheapest", &p.Prices, func(v string) (float64, bool) {
			// ParseFloat takes "inf" and "NaN": neither is a price, and
			// JSON cannot carry them, so the adapted config lost the
			// policy without a word and placement fell back to first.
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil && f >= 0 && !math.IsInf(f, 0)
		}, "placement cheapest: price %q of %q: want a non-negative number"),
	}}.Parse(d)
}

// perProvider is an option "<name> <provider> <value>", one line per
// provider, that sets the provider's entry in *m to parse(value); bad
// words the refusal of the value, with the value and the provider; what
// names the policy. A provider given twice would silently take the
// second value.
func perProvider[T any](what string, m *map[string]T, parse func(v string) (T, bool), bad string) cfparse.Option {
	return func(d *caddyfile.Dispenser) error {
		opt := d.Val()
		args := d.RemainingArgs()
		if len(args) != 2 {
			return d.ArgErr()
		}
		v, ok := parse(args[1])
		if !ok {
			return d.Errf(bad, args[1], args[0])
		}
		if *m == nil {
			*m = map[string]T{}
		}
		if _, dup := (*m)[args[0]]; dup {
			return d.Errf("%s: %s of %q given twice", what, opt, args[0])
		}
		(*m)[args[0]] = v
		return nil
	}
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
