package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
)

func init() {
	caddy.RegisterModule(debugAPI{})
}

// debugAPI is a small read-only view of the broker's catalogue and
// subscriptions on Caddy's admin endpoint, for tests and troubleshooting
// until the full admin API (admin.api.csb) exists:
//
//	GET /csb/debug/catalog        providers, services, what is placeable now, the catalogue version
//	GET /csb/debug/subscriptions  every subscription's record and state
//
// Both answer JSON. The admin endpoint listens on loopback by default.
type debugAPI struct{}

// CaddyModule returns the Caddy module information.
func (debugAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.csb_debug",
		New: func() caddy.Module { return new(debugAPI) },
	}
}

// Routes implements caddy.AdminRouter.
func (debugAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/csb/debug/catalog", Handler: caddy.AdminHandlerFunc(serveDebugCatalog)},
		{Pattern: "/csb/debug/subscriptions", Handler: caddy.AdminHandlerFunc(serveDebugSubscriptions)},
	}
}

// currentEngine returns the running engine, if any.
func currentEngine() *engine {
	var e *engine
	enginePool.Range(func(_, v any) bool {
		e, _ = v.(*engine)
		return false
	})
	return e
}

func debugGet(w http.ResponseWriter, r *http.Request, body func(e *engine) any) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	e := currentEngine()
	if e == nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no csb app is running")}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(body(e))
}

func serveDebugCatalog(w http.ResponseWriter, r *http.Request) error {
	return debugGet(w, r, func(e *engine) any {
		placeable := map[catalog.Kind]int{}
		for _, k := range []catalog.Kind{catalog.KindIaaS, catalog.KindPaaS, catalog.KindSaaS, catalog.KindDSaaS} {
			placeable[k] = len(e.catalog.Placeable(k))
		}
		return map[string]any{
			"version":   e.catalog.Version(),
			"placeable": placeable,
			"providers": e.catalog.Snapshot(),
		}
	})
}

func serveDebugSubscriptions(w http.ResponseWriter, r *http.Request) error {
	return debugGet(w, r, func(e *engine) any { return e.subs.Snapshot() })
}

// Interface guards.
var _ caddy.AdminRouter = debugAPI{}
