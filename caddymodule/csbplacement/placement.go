// Package csbplacement holds the csb.placement.* guest modules: the
// placement policies the csb app ranks providers with. Each wraps a
// policy of broker/placement and adds its Caddyfile syntax.
package csbplacement

import (
	"fmt"

	"github.com/caddy-csb/caddy-csb/caddymodule"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(PlacementFirst{})
	caddy.RegisterModule(PlacementRoundRobin{})
	caddy.RegisterModule(PlacementRandom{})
	caddy.RegisterModule(PlacementLeastLoaded{})
	caddy.RegisterModule(PlacementWeighted{})
	caddy.RegisterModule(PlacementCheapest{})
}

// PlacementFirst ranks matching providers in configuration order (the
// order of the provider blocks). It is the default policy.
//
//	placement first
type PlacementFirst struct {
	placement.First
}

// CaddyModule returns the Caddy module information.
func (PlacementFirst) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[PlacementFirst]("csb.placement.first")
}

// PlacementRoundRobin rotates through the matching providers in
// configuration order: each decision starts after the provider the
// previous one chose. The rotation survives config reloads only as far as
// the process lives.
//
//	placement round_robin
type PlacementRoundRobin struct {
	rr *placement.RoundRobin
}

// CaddyModule returns the Caddy module information.
func (PlacementRoundRobin) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[PlacementRoundRobin]("csb.placement.round_robin")
}

// Provision sets up the rotation.
func (p *PlacementRoundRobin) Provision(caddy.Context) error {
	p.rr = new(placement.RoundRobin)
	return nil
}

// Name implements placement.Policy.
func (p *PlacementRoundRobin) Name() string { return p.rr.Name() }

// Score implements placement.Policy.
func (p *PlacementRoundRobin) Score(in *placement.Input) { p.rr.Score(in) }

// ScoreDry implements placement.DryScorer.
func (p *PlacementRoundRobin) ScoreDry(in *placement.Input) { p.rr.ScoreDry(in) }

// Note implements placement.Policy.
func (p *PlacementRoundRobin) Note(c *placement.Candidate) string { return p.rr.Note(c) }

// PlacementRandom ranks matching providers in random order.
//
//	placement random [{
//		seed <n>
//	}]
type PlacementRandom struct {
	// Seed makes the sequence of draws reproducible (tests). Default: a
	// random seed.
	Seed *uint64 `json:"seed,omitempty"`

	r *placement.Random
}

// CaddyModule returns the Caddy module information.
func (PlacementRandom) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[PlacementRandom]("csb.placement.random")
}

// Provision sets up the random source.
func (p *PlacementRandom) Provision(caddy.Context) error {
	if p.Seed != nil {
		p.r = placement.NewRandom(*p.Seed)
	} else {
		p.r = new(placement.Random)
	}
	return nil
}

// Name implements placement.Policy.
func (p *PlacementRandom) Name() string { return "random" }

// Score implements placement.Policy.
func (p *PlacementRandom) Score(in *placement.Input) { p.r.Score(in) }

// ScoreDry implements placement.DryScorer.
func (p *PlacementRandom) ScoreDry(in *placement.Input) { p.r.ScoreDry(in) }

// Note implements placement.Policy.
func (p *PlacementRandom) Note(c *placement.Candidate) string { return p.r.Note(c) }

// PlacementLeastLoaded ranks matching providers by their current load:
// live jobs (the default) or committed capacity (cores + memory GB +
// storage GB of their live jobs). Ties rank by configuration order.
//
//	placement least_loaded [{
//		by jobs|capacity
//	}]
type PlacementLeastLoaded struct {
	// By is "jobs" (default) or "capacity".
	By string `json:"by,omitempty"`

	ll placement.LeastLoaded
}

// CaddyModule returns the Caddy module information.
func (PlacementLeastLoaded) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[PlacementLeastLoaded]("csb.placement.least_loaded")
}

// Provision applies the defaults.
func (p *PlacementLeastLoaded) Provision(caddy.Context) error {
	p.ll.By = p.By
	return nil
}

// Validate checks By.
func (p *PlacementLeastLoaded) Validate() error {
	if p.By != "" && p.By != "jobs" && p.By != "capacity" {
		return fmt.Errorf("placement least_loaded: by %q: want jobs or capacity", p.By)
	}
	return nil
}

// Name implements placement.Policy.
func (p *PlacementLeastLoaded) Name() string { return "least_loaded" }

// Score implements placement.Policy.
func (p *PlacementLeastLoaded) Score(in *placement.Input) { p.ll.Score(in) }

// Note implements placement.Policy.
func (p *PlacementLeastLoaded) Note(c *placement.Candidate) string { return p.ll.Note(c) }

// PlacementWeighted spreads decisions over the matching providers in
// proportion to their weights (smooth weighted round-robin: deterministic
// and interleaved). A provider's weight is the one given here, else the
// weight of its provider block, else 1. Weight 0, which only this block
// can give (a provider block's weight 0 means unset), ranks a provider
// last. The rotation starts afresh on every config load.
//
//	placement weighted [{
//		weight <provider> <n>
//	}]
type PlacementWeighted struct {
	// Weights maps provider ids to weights; they override the provider
	// blocks' weight.
	Weights map[string]int `json:"weights,omitempty"`

	w *placement.Weighted
}

// CaddyModule returns the Caddy module information.
func (PlacementWeighted) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[PlacementWeighted]("csb.placement.weighted")
}

// Provision sets up the policy with the weights given here; the provider
// blocks' weights are added by the csb app.
func (p *PlacementWeighted) Provision(caddy.Context) error {
	p.w = &placement.Weighted{Weights: p.Weights}
	return nil
}

// Validate checks the weights.
func (p *PlacementWeighted) Validate() error {
	return noNegative(p.Weights, "placement weighted: provider %q: negative weight %d")
}

func (p *PlacementWeighted) ProviderDefaults(providers []*caddymodule.Provider) {
	weights := overProviders(providers, func(pr *caddymodule.Provider) (int, bool) { return pr.Weight, pr.Weight > 0 }, p.Weights)
	p.w = &placement.Weighted{Weights: weights}
}

// Name implements placement.Policy.
func (p *PlacementWeighted) Name() string { return "weighted" }

// Score implements placement.Policy.
func (p *PlacementWeighted) Score(in *placement.Input) { p.w.Score(in) }

// ScoreDry implements placement.DryScorer.
func (p *PlacementWeighted) ScoreDry(in *placement.Input) { p.w.ScoreDry(in) }

// Note implements placement.Policy.
func (p *PlacementWeighted) Note(c *placement.Candidate) string { return p.w.Note(c) }

// PlacementCheapest ranks matching providers by price, lowest first. A
// candidate's price is the first known of: a price given here for the
// provider's service ("<provider>/<service>"), a price given here for the
// provider, the price of its provider block, and the price in the
// provider's notification <label> ("price:<decimal>", e.g. "price:0.12").
// Candidates without a price rank last; ties by configuration order.
//
//	placement cheapest [{
//		price <provider>[/<service>] <amount>
//	}]
type PlacementCheapest struct {
	// Prices maps "<provider>" or "<provider>/<service>" to a price.
	Prices map[string]float64 `json:"prices,omitempty"`

	c placement.Cheapest
}

// CaddyModule returns the Caddy module information.
func (PlacementCheapest) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[PlacementCheapest]("csb.placement.cheapest")
}

// Validate checks the prices.
func (p *PlacementCheapest) Validate() error {
	return noNegative(p.Prices, "placement cheapest: %q: negative price %v")
}

func (p *PlacementCheapest) ProviderDefaults(providers []*caddymodule.Provider) {
	p.c.Prices = overProviders(providers, func(pr *caddymodule.Provider) (float64, bool) {
		if pr.Price == nil {
			return 0, false
		}
		return *pr.Price, true
	}, p.Prices)
}

// PolicyPrices returns the prices the policy ranks by (given after
// ProviderDefaults): the placer's prices (caddymodule.PolicyPricer), so
// that a job's cost and a request's maximum price use them too.
func (p *PlacementCheapest) PolicyPrices() map[string]float64 { return p.c.Prices }

// noNegative refuses the first entry of m below zero, worded by format
// (with the key and the value).
func noNegative[T int | float64](m map[string]T, format string) error {
	for id, v := range m {
		if v < 0 {
			return fmt.Errorf(format, id, v)
		}
	}
	return nil
}

// overProviders is the providers' own values (of says whether a provider
// has one) with the entries of given over them.
func overProviders[T any](providers []*caddymodule.Provider, of func(*caddymodule.Provider) (T, bool), given map[string]T) map[string]T {
	all := map[string]T{}
	for _, pr := range providers {
		if v, ok := of(pr); ok {
			all[pr.ID] = v
		}
	}
	for id, v := range given {
		all[id] = v
	}
	return all
}

// Name implements placement.Policy.
func (p *PlacementCheapest) Name() string { return "cheapest" }

// Score implements placement.Policy.
func (p *PlacementCheapest) Score(in *placement.Input) { p.c.Score(in) }

// Note implements placement.Policy.
func (p *PlacementCheapest) Note(c *placement.Candidate) string { return p.c.Note(c) }

// Interface guards.
var (
	_ placement.Policy              = (*PlacementFirst)(nil)
	_ placement.Policy              = (*PlacementRoundRobin)(nil)
	_ placement.Policy              = (*PlacementRandom)(nil)
	_ placement.Policy              = (*PlacementLeastLoaded)(nil)
	_ placement.Policy              = (*PlacementWeighted)(nil)
	_ caddymodule.PolicyPricer      = (*PlacementCheapest)(nil)
	_ placement.Policy              = (*PlacementCheapest)(nil)
	_ placement.DryScorer           = (*PlacementRoundRobin)(nil)
	_ placement.DryScorer           = (*PlacementRandom)(nil)
	_ placement.DryScorer           = (*PlacementWeighted)(nil)
	_ caddymodule.ProviderDefaulter = (*PlacementWeighted)(nil)
	_ caddymodule.ProviderDefaulter = (*PlacementCheapest)(nil)
	_ caddy.Provisioner             = (*PlacementRoundRobin)(nil)
	_ caddy.Provisioner             = (*PlacementWeighted)(nil)
	_ caddy.Provisioner             = (*PlacementRandom)(nil)
	_ caddy.Provisioner             = (*PlacementLeastLoaded)(nil)
	_ caddy.Validator               = (*PlacementLeastLoaded)(nil)
	_ caddy.Validator               = (*PlacementWeighted)(nil)
	_ caddy.Validator               = (*PlacementCheapest)(nil)
	_ caddyfile.Unmarshaler         = (*PlacementFirst)(nil)
	_ caddyfile.Unmarshaler         = (*PlacementRoundRobin)(nil)
	_ caddyfile.Unmarshaler         = (*PlacementRandom)(nil)
	_ caddyfile.Unmarshaler         = (*PlacementLeastLoaded)(nil)
	_ caddyfile.Unmarshaler         = (*PlacementWeighted)(nil)
	_ caddyfile.Unmarshaler         = (*PlacementCheapest)(nil)
)
