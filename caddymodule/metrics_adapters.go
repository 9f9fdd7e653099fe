package caddymodule

// Adapter calls timed and counted: the wrapper the broker calls adapters
// through.

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// instrumentAdapter wraps a provider's adapter so that every call is
// timed and every failure counted, by provider and operation. The wrapper
// implements exactly the optional interfaces (contract.Discoverer,
// contract.Finder, contract.KindReporter) the adapter implements, so the
// broker's behaviour does not change; Unwrap returns the adapter itself.
func instrumentAdapter(providerID string, ad contract.Adapter) contract.Adapter {
	if _, done := ad.(unwrapper); done {
		return ad
	}
	base := &instrumented{inner: ad, provider: providerID, m: csbMetrics}
	d, isD := ad.(contract.Discoverer)
	f, isF := ad.(contract.Finder)
	k, isK := ad.(contract.KindReporter)
	dp, fp, kp := discoverPart{base, d}, findPart{base, f}, kindPart{k}
	switch {
	case isD && isF && isK:
		return &struct {
			*instrumented
			discoverPart
			findPart
			kindPart
		}{base, dp, fp, kp}
	case isD && isF:
		return &struct {
			*instrumented
			discoverPart
			findPart
		}{base, dp, fp}
	case isD && isK:
		return &struct {
			*instrumented
			discoverPart
			kindPart
		}{base, dp, kp}
	case isF && isK:
		return &struct {
			*instrumented
			findPart
			kindPart
		}{base, fp, kp}
	case isD:
		return &struct {
			*instrumented
			discoverPart
		}{base, dp}
	case isF:
		return &struct {
			*instrumented
			findPart
		}{base, fp}
	case isK:
		return &struct {
			*instrumented
			kindPart
		}{base, kp}
	}
	return base
}

// unwrapper is implemented by instrumented adapters.
type unwrapper interface {
	Unwrap() contract.Adapter
}

// instrumented times an adapter's calls.
type instrumented struct {
	inner    contract.Adapter
	provider string
	m        *metricsSet
}

// Unwrap returns the adapter itself, for code that needs one of its own
// methods.
func (a *instrumented) Unwrap() contract.Adapter { return a.inner }

func (a *instrumented) observe(op string, start time.Time, err error) {
	a.m.adapterCalls.WithLabelValues(a.provider, op).Observe(time.Since(start).Seconds())
	if err != nil {
		a.m.adapterErrors.WithLabelValues(a.provider, op, errorKind(err)).Inc()
	}
}

// errorKind labels an adapter failure.
func errorKind(err error) string {
	if k := contract.KindOf(err); k != "" {
		return string(k)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return string(contract.KindTimeout)
	}
	return "other"
}

// Provision implements contract.Adapter.
func (a *instrumented) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	start := time.Now()
	res, err := a.inner.Provision(ctx, req)
	a.observe("provision", start, err)
	return res, err
}

// Status implements contract.Adapter.
func (a *instrumented) Status(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	start := time.Now()
	out, err := a.inner.Status(ctx, res)
	a.observe("status", start, err)
	return out, err
}

// Update implements contract.Adapter.
func (a *instrumented) Update(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	start := time.Now()
	out, err := a.inner.Update(ctx, res, req)
	a.observe("update", start, err)
	return out, err
}

// Remove implements contract.Adapter.
func (a *instrumented) Remove(ctx context.Context, res *contract.Resource) error {
	start := time.Now()
	err := a.inner.Remove(ctx, res)
	a.observe("remove", start, err)
	return err
}

type discoverPart struct {
	a *instrumented
	d contract.Discoverer
}

// Discover implements contract.Discoverer.
func (p discoverPart) Discover(ctx context.Context) ([]csbmsg.Service, error) {
	start := time.Now()
	out, err := p.d.Discover(ctx)
	p.a.observe("discover", start, err)
	return out, err
}

type findPart struct {
	a *instrumented
	f contract.Finder
}

// Find implements contract.Finder.
func (p findPart) Find(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	start := time.Now()
	out, err := p.f.Find(ctx, req)
	p.a.observe("find", start, err)
	return out, err
}

type kindPart struct {
	k contract.KindReporter
}

// ServiceKinds implements contract.KindReporter.
func (p kindPart) ServiceKinds() []string { return p.k.ServiceKinds() }

// Interface guards.
var (
	_ prometheus.Collector = (*stateCollector)(nil)
	_ contract.Adapter     = (*instrumented)(nil)
	_ unwrapper            = (*instrumented)(nil)
)
