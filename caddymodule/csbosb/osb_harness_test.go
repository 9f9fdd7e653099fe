package csbosb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/caddymodule"
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbadapters"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/caddytest"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// osbRig is the OSB front-end over a real csb app (one OCCI provider
// fixture, p1, whose vm service has 8 cores and 32 GB), driven in
// process through the handler's brokerapi router.
type osbRig struct {
	t   *testing.T
	h   *Handler
	app *caddymodule.App
}

// startOSBRig loads a Caddy configuration holding the csb app and
// provisions a csb_osb handler with plans over it.
func startOSBRig(t *testing.T, plans []Plan) *osbRig {
	t.Helper()
	cloud := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	cf := fmt.Sprintf(`{
	admin off
	storage file_system %q
	csb {
		provider p1 {
			adapter occi %s/ {
				retries 0
			}
			service vm-p1 {
				kind iaas
				compute {
					architecture x64
					cores 8
					memory 32
				}
			}
		}
		jobs {
			respond_within 10s
		}
	}
}
`, t.TempDir(), cloud.URL)
	caddytest.Load(t, cf, nil)
	h := &Handler{Plans: plans}
	if err := h.Provision(caddy.ActiveContext()); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	// Registered after caddy.Stop's cleanup, so it runs first.
	t.Cleanup(func() { _ = h.Cleanup() })
	return &osbRig{t: t, h: h, app: h.broker.app}
}

// ids returns the service and plan ids of a declared IaaS plan.
func (r *osbRig) ids(plan string) (string, string) {
	return serviceID(r.h.BrokerID, catalog.KindIaaS), planID(r.h.BrokerID, catalog.KindIaaS, plan)
}

// identity is an X-Broker-API-Originating-Identity value for a Cloud
// Foundry user.
func identity(user string) string {
	return "cloudfoundry " + base64.StdEncoding.EncodeToString([]byte(`{"user_id":"`+user+`"}`))
}

// do sends an OSB request as the platform user "platform" (and the end
// user named by ident, when not empty) and returns the status and the
// decoded body.
func (r *osbRig) do(method, path, ident, body string) (int, map[string]any) {
	r.t.Helper()
	return r.doAs("platform", method, path, ident, body)
}

func (r *osbRig) doAs(platform, method, path, ident, body string) (int, map[string]any) {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://broker.test"+path, rd)
	req.Header.Set("X-Broker-API-Version", "2.17")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if ident != "" {
		req.Header.Set(originatingHeader, ident)
	}
	repl := caddy.NewReplacer()
	repl.Set("http.auth.user.id", platform)
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	if err := r.h.ServeHTTP(w, req, nil); err != nil {
		if he, ok := err.(caddyhttp.HandlerError); ok {
			return he.StatusCode, map[string]any{"error": he.Error()}
		}
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	out := map[string]any{}
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

// provisionBody is a provision request's body for plan with params
// (raw JSON, or "").
func (r *osbRig) provisionBody(plan, params string) string {
	sid, pid := r.ids(plan)
	b := fmt.Sprintf(`{"service_id":%q,"plan_id":%q,"organization_guid":"org","space_guid":"space"`, sid, pid)
	if params != "" {
		b += `,"parameters":` + params
	}
	return b + "}"
}

// wait polls last_operation until the operation is no longer in
// progress and returns its final state and description.
func (r *osbRig) wait(id, ident string) (string, string) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := r.do(http.MethodGet, "/v2/service_instances/"+id+"/last_operation", ident, "")
		if code != http.StatusOK {
			r.t.Fatalf("last_operation of %s: %d %v", id, code, body)
		}
		state, _ := body["state"].(string)
		desc, _ := body["description"].(string)
		if state != "in progress" {
			return state, desc
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("operation on %s still in progress: %s", id, desc)
		}
		time.Sleep(20 * time.Millisecond) // polling the operation, as a platform does
	}
}
