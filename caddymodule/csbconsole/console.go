// Package csbconsole is the broker's web console, the handler
// http.handlers.csb_console: server-rendered pages over the csb app's
// engine, for people who would rather not write the draft's XML. It shows
// the catalogue, the caller's jobs (renew, remove), a form that builds a
// request, explains its placement as a bar chart and then submits it, and,
// for operators, the subscriptions and the broker's health.
//
// The pages are html/template files and a style sheet embedded in the
// binary (no build step, no CDN) and work with scripts disabled; a small
// script only counts lease time down and shows the fields of the chosen
// service model. State-changing requests are POST forms protected against
// cross-site request forgery (csrf.go).
package csbconsole

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(Console{})
}

// Console is the handler http.handlers.csb_console, the broker's web
// console. Mount it under its prefix behind the authentication the
// Consumer interface uses; the console acts for the authenticated user
// ({http.auth.user.id}) exactly as the Consumer interface would, with the
// same job ownership, provider access lists and lease bounds:
//
//	digest_auth /console* csb-consumer {
//		htdigest users.htdigest
//	}
//	csb_console /console* {
//		operators alice
//	}
//
// Pages, below the prefix (default /console):
//
//	/               the catalogue: providers, services, status, expiry,
//	                capacity left, price, health
//	/jobs           the caller's jobs (every user's for operators): state,
//	                provider, lease countdown, attempts; renew and remove
//	/jobs/<id>      one job: its request, attempts and placement
//	/new            the request form; "Explain" shows the placement of the
//	                request (a bar chart of every candidate's score or the
//	                reason it is rejected) and a button that submits it
//	/operator       subscriptions and health (operators only)
//
// POST /new, /jobs/<id>/renew and /jobs/<id>/remove change state; each
// needs the form's CSRF token (an HMAC bound to the user, with a key kept
// in Caddy's storage so every instance of a cluster accepts it) and is
// refused with 403 when the browser says it comes from another site
// (Origin, Sec-Fetch-Site). A request without an authenticated user gets
// 403, unless the csb app's jobs settings say "anonymous allow"; so does
// an OSB binding's credential (csb_binding), which reaches only its one
// job's route.
//
// Placeholders set: {http.csb.job.id} (the job a POST acted on).
type Console struct {
	// Prefix is the path the console is mounted at; its pages are below
	// it and every link it writes starts with it. Mount the handler with a
	// matcher that keeps the path (handle or a path matcher, not
	// handle_path). Default "/console".
	Prefix string `json:"prefix,omitempty"`
	// Operators are the users who see every user's jobs (and may renew
	// and remove them), the subscriptions and the health page. Default:
	// none.
	Operators []string `json:"operators,omitempty"`

	app    *caddymodule.App
	logger *zap.Logger
	csrf   *csrfKeeper
	pages  *pageSet
}

// CaddyModule returns the Caddy module information.
func (Console) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[Console]("http.handlers.csb_console")
}

const defaultPrefix = "/console"

// Provision finds the csb app, applies defaults and parses the pages.
func (c *Console) Provision(ctx caddy.Context) error {
	if err := caddymodule.Bind(ctx, "csb_console", &c.app, &c.logger); err != nil {
		return err
	}
	if c.Prefix == "" {
		c.Prefix = defaultPrefix
	}
	c.Prefix = strings.TrimRight(c.Prefix, "/")
	c.csrf = newCSRFKeeper(ctx)
	var err error
	if c.pages, err = parsePages(); err != nil {
		return fmt.Errorf("csb_console: parsing the pages: %v", err)
	}
	return nil
}

// Validate checks the configuration.
func (c *Console) Validate() error {
	if c.Prefix != "" && !strings.HasPrefix(c.Prefix, "/") {
		return fmt.Errorf("csb_console: prefix %q must begin with /", c.Prefix)
	}
	for _, op := range c.Operators {
		if op == "" {
			return errors.New("csb_console: an operator's user id is empty")
		}
	}
	return nil
}

// ServeHTTP serves the console's pages and forms. Paths outside the
// prefix go to the next handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	path := r.URL.Path
	if path != c.Prefix && !strings.HasPrefix(path, c.Prefix+"/") {
		return next.ServeHTTP(w, r)
	}
	if path == c.Prefix {
		http.Redirect(w, r, c.Prefix+"/", http.StatusMovedPermanently)
		return nil
	}
	rest := strings.TrimPrefix(path, c.Prefix)
	if strings.HasPrefix(rest, "/static/") {
		return serveStatic(w, r, strings.TrimPrefix(rest, "/static/"))
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	user := ""
	if repl != nil {
		user = repl.ReplaceAll("{http.auth.user.id}", "")
		// An OSB binding's credential (csb_binding) authenticates as the
		// instance's owner but reaches only its one job's route: in the
		// console it would act on every job of the owner. The Consumer
		// interface and csb_osb refuse it too.
		if repl.ReplaceAll("{http.auth.user.csb_job}", "") != "" {
			return caddyhttp.Error(http.StatusForbidden, errors.New("csb_console: a credential scoped to one job (an OSB binding's) reaches only that job's route, not the console"))
		}
	}
	owner, err := c.app.ConsumerOwner(user)
	if err != nil {
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("csb_console: %v", err))
	}
	if c.app.JobManager() == nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, errors.New("csb_console: the csb app is not running"))
	}
	rq := &request{c: c, w: w, r: r, repl: repl, user: owner, operator: slices.Contains(c.Operators, owner)}
	setSecurityHeaders(w)

	switch {
	case rest == "/":
		return rq.only(http.MethodGet, rq.catalogue)
	case rest == "/jobs":
		return rq.only(http.MethodGet, rq.jobs)
	case rest == "/new":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return rq.newRequest()
		case http.MethodPost:
			return rq.create()
		}
		w.Header().Set("Allow", "GET, HEAD, POST")
		return caddyhttp.Error(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on %s", r.Method, path))
	case rest == "/operator":
		return rq.only(http.MethodGet, rq.operatorPage)
	case strings.HasPrefix(rest, "/jobs/"):
		id, action, _ := strings.Cut(strings.TrimPrefix(rest, "/jobs/"), "/")
		if !validJobID(id) || strings.Contains(action, "/") {
			return caddyhttp.Error(http.StatusNotFound, fmt.Errorf("no console page at %s", path))
		}
		switch action {
		case "":
			return rq.only(http.MethodGet, func() error { return rq.job(id) })
		case "renew", "remove":
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", "POST")
				return caddyhttp.Error(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on %s", r.Method, path))
			}
			return rq.act(id, action)
		}
	}
	return caddyhttp.Error(http.StatusNotFound, fmt.Errorf("no console page at %s", path))
}

// setSecurityHeaders keeps the pages to their own origin: no inline
// script or style, no framing, no other site's forms or resources.
func setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// validJobID accepts what the job manager's ids can be: 1 to 128 bytes of
// printable ASCII other than space and slash.
func validJobID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f || id[i] == '/' {
			return false
		}
	}
	return true
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Console)(nil)
	_ caddy.Validator             = (*Console)(nil)
	_ caddyhttp.MiddlewareHandler = (*Console)(nil)
)
