package caddymodule

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
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
//	GET  /csb/jobs                 jobs with state, owner, provider, service, lease and attempts
//	                               filters: ?owner= ?state=<state>[,<state>...] ?provider= ?kind= ?limit=<n>
//	GET  /csb/jobs/<job-id>        one job in full (request, plan, decision, attempts, operation, orphans)
//	GET  /csb/subscriptions        subscriptions: id, seqnumber, granted expires and frequency,
//	                               last notification, next renewal, last error; filters: ?provider= ?state=
//	POST /csb/placement/explain    dry-run a <CloudServiceRequest> (the body, a csb-consumer document):
//	                               every provider with its score or its reason for rejection; nothing is
//	                               created and no policy state moves; ?user=<id> applies that user's
//	                               access lists
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
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.csb",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes implements caddy.AdminRouter.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/csb/catalog", Handler: caddy.AdminHandlerFunc(serveAdminCatalog)},
		{Pattern: "/csb/jobs", Handler: caddy.AdminHandlerFunc(serveAdminJobs)},
		{Pattern: "/csb/jobs/", Handler: caddy.AdminHandlerFunc(serveAdminJob)},
		{Pattern: "/csb/subscriptions", Handler: caddy.AdminHandlerFunc(serveAdminSubscriptions)},
		{Pattern: "/csb/placement/explain", Handler: caddy.AdminHandlerFunc(serveAdminExplain)},
	}
}

// AdminNamespace is the XML namespace of the admin API's wrapper elements.
const AdminNamespace = "urn:caddy-csb:admin"

// runningApp is the csb app of the running configuration: set by Start,
// cleared by the Cleanup of that same app (a reload's new app has already
// replaced it by then).
var runningApp atomic.Pointer[App]

// currentEngine returns the running engine, if any.
func currentEngine() *engine {
	var e *engine
	enginePool.Range(func(_, v any) bool {
		e, _ = v.(*engine)
		return false
	})
	return e
}

func adminError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

// adminApp returns the running app, or a 503.
func adminApp() (*App, error) {
	a := runningApp.Load()
	if a == nil || a.engine == nil {
		return nil, adminError(http.StatusServiceUnavailable, "no csb app is running")
	}
	return a, nil
}

// Interface guards.
var _ caddy.AdminRouter = AdminAPI{}
