package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/earlybody"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler serves the draft's two interfaces over HTTP: the Publish
// interface (application/csb-publish+xml) and the Consumer interface
// (application/csb-consumer+xml). Requests to other paths are passed to
// the next handler.
//
// It reads the broker state of the csb app.
//
// Placeholders it sets for the directives after it (log, header with a
// ">" deferred operation, log_append, ...) on every protocol answer of
// both interfaces; one that does not apply to an answer is the empty
// string, and none is set when the request failed at the HTTP level (401,
// 405, 413, 415, ...):
//
//	{http.csb.outcome}             the protocol status code of the answer: Consumer 200, 400, 408,
//	                               409, 410, 420; Publish 200, 400, 402, 404, 420
//	{http.csb.provider.id}         Consumer: the provider holding the job (empty while none does);
//	                               Publish: the provider the notification describes
//	{http.csb.job.id}              Consumer only: the job the request created or acted on (for an
//	                               unknown or foreign job id, the id asked for)
//	{http.csb.subscription.id}     Publish only: the notification's id (a subscription or push id)
//	{http.csb.publish.outcome}     Publish only: applied, gap, restart, duplicate, old, refused or invalid
//
// The Consumer interface's verbs, statuses and headers are documented in
// consumer.go.
type Handler struct {
	// PublishPath is the path of the Publish endpoint. Default: /csb/publish.
	PublishPath string `json:"publish_path,omitempty"`
	// ConsumerPath is the path of the Consumer endpoint; jobs are addressed
	// below it as <consumer_path>/<job-id>. Default: /csb/consumer.
	ConsumerPath string `json:"consumer_path,omitempty"`

	app    *App
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[Handler]("http.handlers.csb")
}

// Provision sets up the handler.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.PublishPath == "" {
		h.PublishPath = "/csb/publish"
	}
	if h.ConsumerPath == "" {
		h.ConsumerPath = "/csb/consumer"
	}
	return Bind(ctx, "csb", &h.app, &h.logger)
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	var err error
	switch {
	case r.URL.Path == h.PublishPath:
		err = h.servePublish(w, r)
	case r.URL.Path == h.ConsumerPath || strings.HasPrefix(r.URL.Path, h.ConsumerPath+"/"):
		err = h.serveConsumer(w, r)
	default:
		return next.ServeHTTP(w, r)
	}
	if err != nil {
		// An HTTP-level refusal (405, 413, 415, ...) is answered before
		// the body was read.
		earlybody.ReadUnread(w, r, false)
	}
	return err
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
