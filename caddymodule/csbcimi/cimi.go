// Package csbcimi is the broker's CIMI front-end, the handler
// http.handlers.csb_cimi: DMTF CIMI (DSP0263, ISO/IEC 19831) served over
// the broker's engine, so that a CIMI client that works against one cloud
// works against the broker, unchanged, and gains placement, leases,
// failover and one set of credentials.
//
// A Machine is a broker job (its id in CIMI is the job id); creating one
// places and provisions it as the Consumer interface does, with the same
// owner ({http.auth.user.id}), leases, access lists and placement policy.
// docs/cimi.md walks through it; docs/conformance/cimi.md maps DSP0263's
// requirements to what is met and where.
package csbcimi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the CIMI front-end, http.handlers.csb_cimi. It serves
// DSP0263's HTTP binding below Prefix, in JSON (the default) and XML
// (Accept: application/xml), and passes every other request on:
//
//   - the CloudEntryPoint at Prefix, with baseURI and the collections;
//   - machines: create (MachineCreate with a machineTemplate by reference
//     or inline; ?dryRun answers placement's explanation instead), read,
//     list, update (name, description, properties), delete, and the
//     actions start, stop, restart, suspend;
//   - machineConfigs, machineImages and machineTemplates, derived from
//     the catalogue and the operator's declarations;
//   - jobs: a CIMI Job for every create, attempt, action, delete and
//     lease reclaim of the owner's machines;
//   - conditional requests: a strong ETag on every resource a GET
//     answers, and If-Match and If-None-Match evaluated by every method
//     (conditional.go).
//
// Put an authentication handler in front (digest_auth, basic_auth): the
// owner of every machine is {http.auth.user.id}, as for the Consumer
// interface; unknown and foreign machines answer 404 alike.
//
// Placeholders set: {http.csb.job.id} (the machine a request names).
type Handler struct {
	// Prefix is the path the front-end is mounted at; the CloudEntryPoint
	// is there and the collections below it. Default "/cimi/".
	Prefix string `json:"prefix,omitempty"`
	// MaxBodySize bounds request bodies, in bytes; a larger body is
	// answered 413. Default 65536.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
	// MachineConfigs are machine configurations the operator declares,
	// beside those derived from the catalogue's compute offers. Default
	// none.
	MachineConfigs []MachineConfig `json:"machine_configs,omitempty"`
	// MachineImages are machine images the operator declares, beside the
	// broker's default image ("default": each provider boots the image its
	// adapter is configured with). Default none.
	MachineImages []MachineImage `json:"machine_images,omitempty"`
	// PoliciesRaw are the placement policies (csb.placement.* modules, by
	// name) a create may name in its csb.policy property, each placing
	// over the same catalogue as the broker's own policy. Default none: a
	// create is placed by the broker's policy, and csb.policy is refused.
	PoliciesRaw caddy.ModuleMap `json:"policies,omitempty" caddy:"namespace=csb.placement"`

	app     *caddymodule.App
	logger  *zap.Logger
	placers map[string]*placement.Placer
	// preconditionHeld, set by a test only, runs when a request's
	// preconditions held, before the engine is asked to act: the test
	// changes the target there, as a second client could in that instant.
	preconditionHeld func()
}

// MachineConfig is an operator-declared MachineConfiguration.
type MachineConfig struct {
	// Name is the configuration's id in machineConfigs. Required.
	Name string `json:"name"`
	// CPU is the number of cores. Required.
	CPU uint64 `json:"cpu"`
	// MemoryGB is the memory in GB (CIMI shows it in KiB). Required.
	MemoryGB uint64 `json:"memory_gb"`
	// CPUArch is the architecture (x86_64, ...). Default: any.
	CPUArch string `json:"cpu_arch,omitempty"`
	// Description is shown as the configuration's description. Default none.
	Description string `json:"description,omitempty"`
}

// MachineImage is an operator-declared MachineImage: a name for the
// providers that boot it (each boots the image its adapter is configured
// with).
type MachineImage struct {
	// Name is the image's id in machineImages. Required.
	Name string `json:"name"`
	// Providers are the providers that offer the image; a machine created
	// from it is placed on one of them. Default: every provider.
	Providers []string `json:"providers,omitempty"`
	// Description is shown as the image's description. Default none.
	Description string `json:"description,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[Handler]("http.handlers.csb_cimi")
}

const (
	defaultPrefix      = "/cimi/"
	defaultMaxBodySize = 64 << 10
)

// Provision finds the csb app and applies defaults.
func (h *Handler) Provision(ctx caddy.Context) error {
	if err := caddymodule.Bind(ctx, "csb_cimi", &h.app, &h.logger); err != nil {
		return err
	}
	if h.Prefix == "" {
		h.Prefix = defaultPrefix
	}
	if !strings.HasSuffix(h.Prefix, "/") {
		h.Prefix += "/"
	}
	if h.MaxBodySize == 0 {
		h.MaxBodySize = defaultMaxBodySize
	}
	if h.PoliciesRaw != nil {
		mods, err := ctx.LoadModule(h, "PoliciesRaw")
		if err != nil {
			return fmt.Errorf("csb_cimi: loading policies: %v", err)
		}
		h.placers = map[string]*placement.Placer{}
		for name, mod := range mods.(map[string]any) {
			pol, ok := mod.(placement.Policy)
			if !ok {
				return fmt.Errorf("csb_cimi: policy %q is %T, not a placement policy", name, mod)
			}
			p, err := h.app.NewPlacer(pol)
			if err != nil {
				return fmt.Errorf("csb_cimi: policy %q: %v", name, err)
			}
			h.placers[name] = p
		}
	}
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if !strings.HasPrefix(h.Prefix, "/") {
		return fmt.Errorf("csb_cimi: prefix %q must begin with /", h.Prefix)
	}
	if h.MaxBodySize < 0 {
		return fmt.Errorf("csb_cimi: max_body_size %d: must be positive", h.MaxBodySize)
	}
	seen := map[string]bool{}
	for _, c := range h.MachineConfigs {
		if c.Name == "" || c.CPU == 0 || c.MemoryGB == 0 {
			return fmt.Errorf("csb_cimi: machine_config %q: needs a name, cpu and memory", c.Name)
		}
		if seen[c.Name] || strings.ContainsAny(c.Name, "/?#") {
			return fmt.Errorf("csb_cimi: machine_config %q: duplicate or not a path segment", c.Name)
		}
		seen[c.Name] = true
	}
	seen = map[string]bool{defaultImage: true}
	for _, im := range h.MachineImages {
		if im.Name == "" || seen[im.Name] || strings.ContainsAny(im.Name, "/?#") {
			return fmt.Errorf("csb_cimi: machine_image %q: empty, duplicate or not a path segment", im.Name)
		}
		seen[im.Name] = true
	}
	return nil
}

// call is one CIMI request being served.
type call struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	ctx   context.Context
	f     format
	base  string // absolute URL of the CloudEntryPoint, ending in "/"
	owner string
	m     *jobs.Manager
	repl  *caddy.Replacer
}

// ServeHTTP serves the requests below Prefix and passes others on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	root := strings.TrimSuffix(h.Prefix, "/")
	if r.URL.Path != root && !strings.HasPrefix(r.URL.Path, h.Prefix) {
		return next.ServeHTTP(w, r)
	}
	w.Header().Set(VersionHeader, Version)
	f, err := negotiate(r)
	if err != nil {
		return h.fail(w, formatJSON, err)
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	user := ""
	if repl != nil {
		user = repl.ReplaceAll("{http.auth.user.id}", "")
	}
	c := &call{h: h, w: w, r: r, ctx: r.Context(), f: f, base: baseURL(r, h.Prefix), repl: repl}
	owner, err := h.app.ConsumerOwner(user)
	switch {
	case errors.Is(err, caddymodule.ErrAnonymous), errors.Is(err, caddymodule.ErrAnonymousName):
		return h.fail(w, f, errorf(http.StatusForbidden, "%v", err))
	case err != nil:
		return h.fail(w, f, errorf(http.StatusServiceUnavailable, "%v", err))
	}
	c.owner = owner
	c.m = h.app.JobManager()
	if c.m == nil {
		return h.fail(w, f, errorf(http.StatusServiceUnavailable, "the broker's job manager is not running"))
	}
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, root), "/")
	var parts []string
	if rest != "" {
		parts = strings.Split(rest, "/")
	}
	if err := c.route(parts); err != nil && err != errAnswered {
		return h.fail(w, f, err)
	}
	return nil
}

// errAnswered is returned by a step of route that has written the whole
// answer itself (an OPTIONS request's).
var errAnswered = errors.New("csb_cimi: answered")

// fail writes a CIMI error answer; errors that are not a *cimiError are
// returned to Caddy as 500s.
func (h *Handler) fail(w http.ResponseWriter, f format, err error) error {
	var ce *cimiError
	if !errors.As(err, &ce) {
		h.logger.Error("serving a cimi request", zap.Error(err))
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	return write(w, f, ce.status, obj{"resourceURI": NS + "/Error", "status": ce.status, "message": ce.msg})
}

// baseURL is the absolute URL of the CloudEntryPoint the request reached.
func baseURL(r *http.Request, prefix string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + prefix
}

// route dispatches on the path below the prefix.
func (c *call) route(p []string) error {
	method := c.r.Method
	// only admits the methods a resource takes. Its Allow header names
	// HEAD wherever GET is taken (GET serves it) and OPTIONS, which it
	// answers itself: 204 with the Allow header (RFC 9110 9.3.7).
	only := func(allowed ...string) error {
		var allow []string
		for _, m := range allowed {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		allow = append(allow, http.MethodOptions)
		for _, m := range allowed {
			if method == m || m == http.MethodGet && method == http.MethodHead {
				return nil
			}
		}
		c.w.Header().Set("Allow", strings.Join(allow, ", "))
		if method == http.MethodOptions {
			c.w.WriteHeader(http.StatusNoContent)
			return errAnswered
		}
		return errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", method, c.r.URL.Path)
	}
	// collection serves a collection clients add to: GET lists it, POST
	// creates a member.
	collection := func(create func() error) error {
		if err := only(http.MethodGet, http.MethodPost); err != nil {
			return err
		}
		if method == http.MethodPost {
			return create()
		}
		return c.list(p[0])
	}
	switch {
	case len(p) == 0:
		if err := only(http.MethodGet); err != nil {
			return err
		}
		return c.entryPoint()
	case p[0] == "machines" && len(p) == 1:
		return collection(c.createMachine)
	case p[0] == "machines" && len(p) == 2:
		if err := only(http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost); err != nil {
			return err
		}
		c.setJob(p[1])
		switch method {
		case http.MethodPut:
			return c.updateMachine(p[1])
		case http.MethodDelete:
			return c.deleteMachine(p[1])
		case http.MethodPost:
			return c.machineAction(p[1], "")
		}
		return c.getMachine(p[1])
	case p[0] == "machines" && (len(p) == 3 || len(p) == 4) && p[2] == "volumes":
		c.setJob(p[1])
		if len(p) == 4 {
			if err := only(http.MethodGet, http.MethodDelete); err != nil {
				return err
			}
			return c.machineVolumes(p[1], p[3])
		}
		if err := only(http.MethodGet, http.MethodPost); err != nil {
			return err
		}
		return c.machineVolumes(p[1], "")
	case p[0] == "machines" && len(p) == 3:
		c.setJob(p[1])
		if err := only(http.MethodPost); err != nil {
			return err
		}
		return c.machineAction(p[1], p[2])
	case p[0] == "volumes" && len(p) == 1:
		return collection(c.createVolume)
	case p[0] == "volumes" && len(p) == 2:
		if err := only(http.MethodGet, http.MethodDelete); err != nil {
			return err
		}
		c.setJob(p[1])
		if method == http.MethodDelete {
			return c.deleteVolume(p[1])
		}
		return c.getVolume(p[1])
	case p[0] == "jobs" && len(p) == 1:
		if err := only(http.MethodGet); err != nil {
			return err
		}
		return c.list("jobs")
	case p[0] == "jobs" && len(p) == 2:
		if err := only(http.MethodGet); err != nil {
			return err
		}
		return c.getJob(p[1])
	case len(p) <= 2 && catalogueCollections[p[0]] != "":
		if err := only(http.MethodGet); err != nil {
			return err
		}
		if len(p) == 1 {
			return c.list(p[0])
		}
		return c.getCatalogue(p[0], p[1])
	}
	return errorf(http.StatusNotFound, "no CIMI resource at %s", c.r.URL.Path)
}

func (c *call) setJob(id string) {
	if c.repl != nil {
		c.repl.Set("http.csb.job.id", id)
	}
}

// entryPoint answers the CloudEntryPoint; $expand inlines the
// collections it names (or all, with *).
func (c *call) entryPoint() error {
	q, err := parseQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	o := obj{
		"resourceURI": NS + "/CloudEntryPoint",
		"id":          c.base,
		"name":        "caddy-csb",
		"description": "a Cloud Service Broker: every machine is placed on one of the clouds behind it",
		"baseURI":     c.base,
	}
	all := &query{}
	for _, name := range collectionNames {
		o[name] = ref{Href: c.base + name}
		if !expands(q, name) {
			continue
		}
		col, err := c.collectionOf(name, all)
		if err != nil {
			return err
		}
		o[name] = col
	}
	return c.serve(o, q.project(o))
}

// collectionNames are the CloudEntryPoint's collections.
var collectionNames = []string{"machines", "machineConfigs", "machineImages", "machineTemplates", "volumes", "volumeConfigs", "jobs"}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

// list answers GET on one of the CloudEntryPoint's collections.
func (c *call) list(name string) error {
	q, err := parseQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	col, err := c.collectionOf(name, q)
	if err != nil {
		return err
	}
	return c.serve(col, col)
}

// collectionOf renders one of the CloudEntryPoint's collections whole.
func (c *call) collectionOf(name string, q *query) (obj, error) {
	switch name {
	case "machines":
		ms, err := c.machines()
		if err != nil {
			return nil, err
		}
		return c.collection("Machine", name, ms, q, true), nil
	case "volumes", "jobs":
		list, err := c.m.ListOwned(c.ctx, c.owner)
		if err != nil {
			return nil, err
		}
		var out []obj
		for _, j := range list {
			switch {
			case name == "jobs" && (isMachine(j) || isVolume(j)):
				out = append(out, c.jobsOf(j, "")...)
			case name == "volumes" && isVolume(j) && !j.Status.Final():
				out = append(out, c.volumeObj(j))
			}
		}
		if name == "jobs" {
			return c.collection("Job", name, out, q, false), nil
		}
		return c.collection("Volume", name, out, q, true), nil
	}
	return c.collection(catalogueCollections[name], name, c.catalogue(name), q, false), nil
}
