package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the admin.api.csb module: a view into the running broker on
// Caddy's admin endpoint (by default localhost:2019, reachable only from
// the machine; see Caddy's admin options to change it). Every Caddy with
// this module serves it; it needs no configuration.
//
//	GET  /csb/catalog              providers and services with status, expiry, source and placeability
//	                               filters: ?provider=<id>[,<id>...] ?kind=iaas|paas|saas|dsaas ?status=active|deactivated|unavailable
//	GET  /csb/jobs                 jobs with state, owner, provider, service, lease, attempts and cost
//	                               filters: ?owner= ?state=<state>[,<state>...] ?provider= ?kind= (one value
//	                               each but state), in pages: ?limit=<n> ?after=<cursor> (admin_page.go)
//	GET  /csb/jobs/<job-id>        one job in full (request, plan, decision, attempts, operation, orphans)
//	GET  /csb/subscriptions        subscriptions: id, seqnumber, granted expires and frequency,
//	                               last notification, next renewal, last error; filters: ?provider= ?state=
//	POST /csb/placement/explain    dry-run a <CloudServiceRequest> (the body, a csb-consumer document):
//	                               every provider with its score or its reason for rejection; nothing is
//	                               created and no policy state moves; ?user=<id> applies that user's
//	                               access lists and tells which of its quotas a create would go over;
//	                               ?lease=<duration> and ?max_price=<price> as Csb-Lease and Csb-Max-Price
//	GET  /csb/costs                what jobs cost, with totals by owner and provider (admin_costs.go);
//	                               filters: ?owner= ?provider=<id>[,<id>...] ?since=<RFC 3339 time or duration>;
//	                               CSV with Accept: text/csv or ?format=csv
//	GET  /csb/webhooks             job event webhooks: operator webhooks, deliveries (pending, delivered,
//	                               failed) with attempts and last error, long-polls waiting now;
//	                               filters: ?state= ?job= ?subscriber= (JSON only, 406 for an Accept
//	                               without it; admin_webhooks.go)
//
// Answers are JSON. With Accept: application/csb-publish+xml (catalogue,
// subscriptions), application/csb-consumer+xml (jobs, explain), or
// application/xml, they are XML: the draft's own elements
// (<Cloud-Service-Provider>, <Cloud-Service>, <subscription>,
// <response-job-info>, <CloudServiceRequest>, ...) in the draft's
// namespace, inside wrapper elements of the namespace urn:caddy-csb:admin
// that carry what the draft has no element for (expiry, source, owner,
// attempts, scores). ?format=json|xml overrides Accept. An Accept that
// admits none of these is answered 406.
//
// Like caddypki's admin API, the module is provisioned with each
// configuration and finds that configuration's csb app there; with no
// csb app configured, every route answers 503. Caddy replaces the admin
// endpoint while it provisions a new configuration and keeps the new
// endpoint when that configuration then fails (to provision or to
// start): the routes then answer for the csb app of the configuration
// still running (running).
type AdminAPI struct {
	app *App // the csb app of this configuration; nil when there is none
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[AdminAPI]("admin.api.csb")
}

// Provision finds the configuration's csb app, if one is configured.
func (api *AdminAPI) Provision(ctx caddy.Context) error {
	// Not an error when there is none: the routes then answer 503.
	if app, err := ctx.AppIfConfigured("csb"); err == nil {
		api.app = app.(*App)
	}
	return nil
}

// Routes implements caddy.AdminRouter.
func (api *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/csb/catalog", Handler: caddy.AdminHandlerFunc(api.serveCatalog)},
		{Pattern: "/csb/jobs", Handler: caddy.AdminHandlerFunc(api.serveJobs)},
		{Pattern: "/csb/jobs/", Handler: caddy.AdminHandlerFunc(api.serveJob)},
		{Pattern: "/csb/subscriptions", Handler: caddy.AdminHandlerFunc(api.serveSubscriptions)},
		{Pattern: "/csb/placement/explain", Handler: caddy.AdminHandlerFunc(api.serveExplain)},
		{Pattern: "/csb/costs", Handler: caddy.AdminHandlerFunc(api.serveCosts)},
		{Pattern: "/csb/webhooks", Handler: caddy.AdminHandlerFunc(api.serveWebhooks)}, // admin_webhooks.go
	}
}

// AdminNamespace is the XML namespace of the admin API's wrapper elements.
const AdminNamespace = "urn:caddy-csb:admin"

func adminError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

// running returns the csb app and its engine, or a 503 when there is
// none. The admin API is served on the admin endpoint's goroutines,
// beside the configuration loads, and a reload cleans the previous app
// up (cleanupEngine clears its live pointer) while that app's routes may
// still be answering. So a handler takes the engine once, here, from the
// live pointer, and reads the job manager and the catalogue through it.
// This configuration's app, when it is cleaned up (or failed to
// provision), was a reload's that failed: the app of the configuration
// Caddy runs answers instead; without one, the route answers 503.
func (api *AdminAPI) running() (*App, *engine, error) {
	for _, app := range []*App{api.app, activeApp()} {
		if app != nil {
			if e := app.liveEngine(); e != nil {
				return app, e, nil
			}
		}
	}
	return nil, nil, adminError(http.StatusServiceUnavailable, "no csb app is running")
}

// activeApp returns the csb app of the configuration Caddy runs, or nil.
// That configuration's apps are all provisioned: this loads none.
func activeApp() *App {
	app, err := caddy.ActiveContext().AppIfConfigured("csb")
	if err != nil {
		return nil
	}
	a, _ := app.(*App)
	return a
}

// Interface guards.
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
)
