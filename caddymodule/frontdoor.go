package caddymodule

// What the front-ends other than the csb handler (CIMI, ...) ask of the
// app besides the job manager: the app itself, the owner a request acts for, the user's
// provider lists, and placement explained.

import (
	"errors"
	"fmt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// AppFor returns the csb app to a front-end module being provisioned;
// without it, the error names the module's directive.
func AppFor(ctx caddy.Context, directive string) (*App, error) {
	app, err := ctx.App("csb")
	if err != nil {
		return nil, fmt.Errorf("%s needs the csb app (the csb global option): %v", directive, err)
	}
	return app.(*App), nil
}

// Bind is how a front-end module being provisioned starts: it sets
// *logger to the module's logger and *app to the csb app (AppFor).
func Bind(ctx caddy.Context, directive string, app **App, logger **zap.Logger) error {
	*logger = ctx.Logger()
	a, err := AppFor(ctx, directive)
	if err != nil {
		return err
	}
	*app = a
	return nil
}

// ErrNoConsumer is returned by ConsumerOwner when the consumer part of
// the app (the jobs block) is not configured.
var ErrNoConsumer = errors.New("the csb app has no consumer interface configured")

// ErrAnonymous is returned by ConsumerOwner for a request without an
// authenticated user under "anonymous refuse".
var ErrAnonymous = errors.New("this interface needs an authenticated user: put basic_auth or digest_auth before it, or set jobs { anonymous allow }")

// ErrAnonymousName is returned for an authenticated user named
// AnonymousOwner, the owner of the jobs of callers without
// authentication: whoever authenticates under that name would own them.
var ErrAnonymousName = fmt.Errorf("the user name %q is reserved for the jobs of callers without authentication (jobs { anonymous allow }): authenticate under another name", AnonymousOwner)

// CheckUserName refuses (ErrAnonymousName) the authenticated user name
// AnonymousOwner, for the front doors that take {http.auth.user.id} as a
// job owner themselves (the job route, OSB platforms). The name is
// refused whatever the anonymous setting: the jobs stored under it
// outlive a change from "allow" to "refuse", and an authentication
// provider whose users choose their names (an identity provider, a
// forward auth) would otherwise let anyone claim them. Anonymous jobs
// keep their owner, so anonymous callers still reach them.
func CheckUserName(user string) error {
	if user == AnonymousOwner {
		return ErrAnonymousName
	}
	return nil
}

// ConsumerOwner returns the owner a front-end request acts for, as the
// Consumer interface decides it: the authenticated user
// ({http.auth.user.id}), else AnonymousOwner under "anonymous allow"
// (ownerFor).
func (a *App) ConsumerOwner(user string) (string, error) {
	view := a.consumerView
	if view == nil || a.consumer() == nil {
		return "", ErrNoConsumer
	}
	return ownerFor(user, view.cfg.Anonymous)
}

// ownerFor is the owner a request of user ({http.auth.user.id}, "" when
// none) acts for under the anonymous setting anonymous: the user, or
// AnonymousOwner for none under "anonymous allow" (else ErrAnonymous);
// an authenticated user named AnonymousOwner is refused
// (ErrAnonymousName, CheckUserName).
func ownerFor(user, anonymous string) (string, error) {
	switch {
	case user == "" && anonymous == AnonymousAllow:
		return AnonymousOwner, nil
	case user == "":
		return "", ErrAnonymous
	}
	if err := CheckUserName(user); err != nil {
		return "", err
	}
	return user, nil
}

// ConsumerAccess returns user's provider allow/deny lists (jobs {
// access ... }), nil when none apply.
func (a *App) ConsumerAccess(user string) *placement.Access {
	if a.consumerView == nil {
		return nil
	}
	return a.consumerView.cfg.access(user)
}

// NewPlacer returns a placer with another policy over the app's
// catalogue, providers' order, load and honoured fields: what a
// front-end uses to let a request name its placement policy
// (jobs.CreateOptions.Placer). The policy gets the providers' defaults
// (ProviderDefaulter) as the app's own does. Call it after the app is
// provisioned.
func (a *App) NewPlacer(policy placement.Policy) (*placement.Placer, error) {
	cat := a.Catalogue()
	if cat == nil {
		return nil, ErrNoConsumer
	}
	order := a.placementOrder(policy)
	load := func(id string) placement.Load {
		if m := a.JobManager(); m != nil {
			return m.Load(id)
		}
		return placement.Load{}
	}
	return placement.New(placement.Config{Catalog: cat, Policy: policy, Order: order, Load: load, Honoured: a.honouredFields(), Prices: a.placementPrices(policy)})
}

// PolicyPricer is implemented by placement policies that rank by prices
// of their own (the cheapest policy's price entries, over the providers'
// price options): those prices are then the placer's, which a job's cost
// and a request's maximum price are held to, so that a job is charged
// the price it was placed by.
type PolicyPricer interface {
	PolicyPrices() map[string]float64
}

// placementPrices returns placement.Config.Prices for a placer with
// policy, whose providers' defaults it was given (placementOrder): the
// policy's prices (PolicyPricer), else the providers' price options.
func (a *App) placementPrices(policy placement.Policy) map[string]float64 {
	if pp, ok := policy.(PolicyPricer); ok {
		if m := pp.PolicyPrices(); m != nil {
			return m
		}
	}
	return a.providerPrices()
}

// placementOrder gives policy the providers' defaults (ProviderDefaulter)
// and returns the providers' ids in configuration order (placement's
// Order): what the app's placer and those of NewPlacer share.
func (a *App) placementOrder(policy placement.Policy) []string {
	if pd, ok := policy.(ProviderDefaulter); ok {
		pd.ProviderDefaults(a.Providers)
	}
	order := make([]string, len(a.Providers))
	for i, p := range a.Providers {
		order[i] = p.ID
	}
	return order
}

// PlacementExplanationWith is PlacementExplanation with another placer
// (from NewPlacer).
func (a *App) PlacementExplanationWith(p *placement.Placer, user string, req *csbmsg.ServiceRequest) (any, error) {
	if a.consumerView == nil {
		return nil, ErrNoConsumer
	}
	d, err := p.Place(req, placement.Options{Access: a.consumerView.cfg.access(user), DryRun: true,
		IgnoreUnhonoured: a.consumerView.cfg.UnhonouredFields == UnhonouredIgnore})
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return a.explanation(d), nil
}

// PlacementExplanation dry-runs req for user and returns what POST
// /csb/placement/explain answers in JSON for it: the same candidates,
// scores and reasons. A request placement cannot take is a
// *placement.RequestError.
func (a *App) PlacementExplanation(user string, req *csbmsg.ServiceRequest) (any, error) {
	d, err := a.ExplainPlacement(user, req)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return a.explanation(d), nil
}
