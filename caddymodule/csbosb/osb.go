// Package csbosb is the broker's Open Service Broker API (v2.17)
// front-end: the handler http.handlers.csb_osb serves the OSB endpoints
// (catalogue, provision, update, deprovision, last_operation, bind,
// unbind) through code.cloudfoundry.org/brokerapi, and each service
// instance is a job of the csb app's job manager, placed across providers
// by the broker's policy. The authentication provider
// http.authentication.providers.csb_binding checks the credentials a
// binding hands out, so that an application reaches its instance's
// resource through the job route (csb_job_route) and nothing else.
//
// The platform authenticates with any caddyauth provider in front of the
// handler (OSB platforms use Basic: basic_auth); the platform's end user,
// named by X-Broker-API-Originating-Identity, owns the instance's job.
// Instances, their operations and bindings are recorded in Caddy's
// storage, so they survive restarts and are shared by a cluster.
//
// This package holds only the OSB glue; placement, jobs, leases and the
// job route are the engine's.
package csbosb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	"code.cloudfoundry.org/brokerapi/v13"
	"code.cloudfoundry.org/brokerapi/v13/domain"
	"code.cloudfoundry.org/brokerapi/v13/domain/apiresponses"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is http.handlers.csb_osb, the Open Service Broker API v2.17
// front-end. It serves the OSB endpoints at /v2/... of the path it sees:
// mount it under a prefix with handle_path, which strips it:
//
//	handle_path /osb/* {
//		basic_auth {
//			platform <bcrypt hash>
//		}
//		csb_osb {
//			plan small {
//				cores   2
//				memory  4
//				storage 20
//				lease   1h
//			}
//		}
//	}
//
// The catalogue (GET /v2/catalog) has one service offering per service
// model that has plans (csb-iaas, csb-dsaas, csb-saas, csb-paas): the
// plans declared here and, unless derive_plans is off, one plan per offer
// the providers publish (<provider>-<service>, pinned to that provider).
// Each plan's metadata names the providers that can serve it now.
//
// Provision, update and deprovision are asynchronous (202 with an
// operation; requests without accepts_incomplete=true get 422
// AsyncRequired): a provision records the instance and creates its job in
// the background, last_operation reports the job's state, an update
// resizes, changes the plan or renews the lease, and a deprovision
// revokes the bindings and removes the job's resources. Parameters:
// cores, memory, storage (IaaS, whole numbers), lease (a duration such as
// "2h", or seconds) and provider (pins the instance to one provider).
// Unknown or malformed parameters get 400 with a description; a plan no
// provider can serve now gets 422.
//
// A binding's credentials are the job route's URL (job_route), the
// resource's URL through it, and a Basic username and password that the
// csb_binding authentication provider accepts for that job only, as the
// instance's owner; unbind and deprovision revoke them.
//
// Owners: the authenticated platform user ({http.auth.user.id}) is the
// platform; with X-Broker-API-Originating-Identity the job owner is
// "<platform user>/<platform>:<end user id>", so each end user sees only
// its own instances and two platforms cannot collide; without the header
// the platform user owns the instance. A request without the header is
// the platform's own (orphan mitigation, polls) and reaches every
// instance of that platform user; another end user's unbind or
// deprovision is refused with 403, not 410, which would make the
// platform forget an instance that still runs.
//
// Placeholders: none of its own; {http.auth.user.id} is read.
type Handler struct {
	// Plans are the operator's plans. Default: none (then derive_plans
	// is on).
	Plans []Plan `json:"plans,omitempty"`
	// DerivePlans adds a plan per published offer. Default: on when no
	// plan is declared, off otherwise.
	DerivePlans *bool `json:"derive_plans,omitempty"`
	// Platforms are the authenticated users allowed to act as OSB
	// platforms. Default: every authenticated user.
	Platforms []string `json:"platforms,omitempty"`
	// JobRoute is where the job route is served: a path on the same
	// site as the request ("/csb/jobs/") or an absolute URL; binding
	// credentials name <job_route><job-id>/. Default "/csb/jobs/".
	JobRoute string `json:"job_route,omitempty"`
	// BrokerID seeds the catalogue's ids (UUIDv5 of the broker id, the
	// service model and the plan name), so that ids are stable across
	// restarts and cluster members and differ between brokers. Default
	// "caddy-csb".
	BrokerID string `json:"broker_id,omitempty"`
	// MaintenanceVersion, when set, is every plan's maintenance_info
	// version (semver); a provision or update naming another version
	// gets 422 MaintenanceInfoConflict. Default: none (a request naming
	// one gets MaintenanceInfoConflict).
	MaintenanceVersion string `json:"maintenance_version,omitempty"`

	plans  []osbPlan
	api    http.Handler
	broker *osbBroker
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[Handler]("http.handlers.csb_osb")
}

// defaultJobRoute is where csb_job_route serves job routes by default.
const defaultJobRoute = "/csb/jobs/"

// Provision finds the csb app, applies defaults and builds the OSB API.
func (h *Handler) Provision(ctx caddy.Context) error {
	var app *caddymodule.App
	if err := caddymodule.Bind(ctx, "csb_osb", &app, &h.logger); err != nil {
		return err
	}
	if h.JobRoute == "" {
		h.JobRoute = defaultJobRoute
	}
	if h.BrokerID == "" {
		h.BrokerID = "caddy-csb"
	}
	h.plans = h.plans[:0]
	for _, p := range h.Plans {
		k, _ := kindOf(p.Kind)
		h.plans = append(h.plans, osbPlan{ID: planID(h.BrokerID, k, p.Name), Plan: p, Kind: k})
	}
	h.broker = &osbBroker{h: h, app: app, rec: records{s: ctx.Storage()}, logger: h.logger}
	// brokerapi logs every request and every refusal; they go to Caddy's
	// log one level down and without stack traces (see quietHandler).
	slogger := slog.New(quietHandler{zapslog.NewHandler(h.logger.Named("brokerapi").Core(), zapslog.AddStacktraceAt(slog.Level(math.MaxInt32)))})
	api := brokerapi.NewWithOptions(h.broker, slogger)
	// brokerapi answers a body it cannot decode with 422; OSB says a
	// malformed request MUST get 400, so the bodies are checked first,
	// on the routes brokerapi decodes them.
	mux := http.NewServeMux()
	mux.Handle("PUT /v2/service_instances/{instance_id}", wellFormed[domain.ProvisionDetails](api))
	mux.Handle("PATCH /v2/service_instances/{instance_id}", wellFormed[domain.UpdateDetails](api))
	mux.Handle("PUT /v2/service_instances/{instance_id}/service_bindings/{binding_id}", wellFormed[domain.BindDetails](api))
	mux.Handle("/", api)
	h.api = mux
	return nil
}

// wellFormed answers 400 to a request whose body does not decode as a T
// (as brokerapi decodes it: the first JSON value) and hands next the
// request with its body intact.
func wellFormed[T any](next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var read bytes.Buffer
		var v T
		if err := json.NewDecoder(io.TeeReader(r.Body, &read)).Decode(&v); err != nil {
			writeOSBError(w, r, http.StatusBadRequest, "the request body is not the request's JSON object: "+err.Error())
			return
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(&read, r.Body), r.Body}
		next.ServeHTTP(w, r)
	})
}

// drainWait bounds how long Cleanup waits for background operations.
const drainWait = 10 * time.Second

// Cleanup waits (at most drainWait) for the background operations the
// handler started, so that a stop or reload does not cut one between
// its steps; the broker engine, stopped before, makes them short.
func (h *Handler) Cleanup() error {
	if h.broker != nil && !h.broker.drain(drainWait) {
		h.logger.Warn("csb_osb: background operations still running at cleanup; the platform's next poll resumes them")
	}
	return nil
}

// derive reports whether plans are derived from published offers.
func (h *Handler) derive() bool {
	if h.DerivePlans != nil {
		return *h.DerivePlans
	}
	return len(h.Plans) == 0
}

// Validate checks the plans and the job route.
func (h *Handler) Validate() error {
	seen := map[string]bool{}
	for i := range h.Plans {
		p := &h.Plans[i]
		if err := p.validate(); err != nil {
			return fmt.Errorf("csb_osb: %v", err)
		}
		k, _ := kindOf(p.Kind)
		if seen[string(k)+"/"+p.Name] {
			return fmt.Errorf("csb_osb: plan %q is declared twice", p.Name)
		}
		seen[string(k)+"/"+p.Name] = true
	}
	if !strings.HasPrefix(h.JobRoute, "/") && !strings.HasPrefix(h.JobRoute, "http://") && !strings.HasPrefix(h.JobRoute, "https://") {
		return fmt.Errorf("csb_osb: job_route %q must be a path (/csb/jobs/) or an http(s) URL", h.JobRoute)
	}
	// The catalogue publishes it as maintenance_info.version, which OSB
	// says MUST be a semantic version 2.0.
	if h.MaintenanceVersion != "" && !semver.MatchString(h.MaintenanceVersion) {
		return fmt.Errorf("csb_osb: maintenance_version %q is not a semantic version (such as 1.2.0 or 2.1.1+build)", h.MaintenanceVersion)
	}
	return nil
}

// semver is the expression semver.org gives for a semantic version 2.0.
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// ServeHTTP checks the platform's identity and the OSB headers and hands
// the request to the OSB API. OSB answers (errors included) are protocol
// answers, written by brokerapi or, for the headers, by writeOSBError; a
// caller that is not a platform gets a caddyhttp.Error.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	user := ""
	if repl != nil {
		user = repl.ReplaceAll("{http.auth.user.id}", "")
		if repl.ReplaceAll("{http.auth.user.csb_job}", "") != "" {
			return caddyhttp.Error(http.StatusForbidden, errors.New("a binding's credential reaches only its job's route, not the OSB API"))
		}
	}
	if user == "" {
		return caddyhttp.Error(http.StatusForbidden, errors.New("the OSB API needs an authenticated platform: put basic_auth (or another authentication) before csb_osb"))
	}
	// A platform's jobs are owned by its user name: under the name of
	// the anonymous callers' owner they would be theirs.
	if err := caddymodule.CheckUserName(user); err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	if len(h.Platforms) > 0 && !contains(h.Platforms, user) {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("user %q is not an OSB platform here (csb_osb platforms)", user))
	}
	// The version is checked here, before the originating identity, and
	// not left to brokerapi: its 412 body is {"Description": ...}, which
	// is not the OSB error's "description", so a platform showed its
	// operator no reason.
	if err := checkAPIVersion(r); err != nil {
		writeOSBError(w, r, http.StatusPreconditionFailed, err.Error())
		return nil
	}
	c := caller{Platform: user, Origin: origin(r)}
	if v := r.Header.Get(originatingHeader); v != "" {
		id, err := parseOriginatingIdentity(v)
		if err != nil {
			writeOSBError(w, r, http.StatusBadRequest, err.Error())
			return nil
		}
		c.User = id
	}
	h.api.ServeHTTP(w, r.WithContext(withCaller(r.Context(), c)))
	return nil
}

// checkAPIVersion applies brokerapi's rule for X-Broker-API-Version (a
// MAJOR.MINOR version whose major is 2), with its messages.
func checkAPIVersion(r *http.Request) error {
	v := r.Header.Get("X-Broker-API-Version")
	if v == "" {
		return errors.New("X-Broker-API-Version Header not set")
	}
	var major, minor int
	if n, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil || n < 2 {
		return errors.New("X-Broker-API-Version Header must contain a version")
	}
	if major != 2 {
		return errors.New("X-Broker-API-Version Header must be 2.x")
	}
	return nil
}

// requestIdentityHeader names a request for tracing (OSB "Request
// Identity"); the broker SHOULD echo it in its answer, as brokerapi does.
const requestIdentityHeader = "X-Broker-API-Request-Identity"

// writeOSBError writes an OSB error answer that brokerapi does not write
// itself: the status, {"description": desc} and the request's identity.
func writeOSBError(w http.ResponseWriter, r *http.Request, status int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	if id := r.Header.Get(requestIdentityHeader); id != "" {
		w.Header().Set(requestIdentityHeader, id)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiresponses.ErrorResponse{Description: desc})
}

// origin is the scheme and host a request came to.
func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
