package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
	registerHandlerOption("publish_path", func(d *caddyfile.Dispenser, h *Handler) error {
		return parsePath(d, &h.PublishPath)
	})
	registerHandlerOption("consumer_path", func(d *caddyfile.Dispenser, h *Handler) error {
		return parsePath(d, &h.ConsumerPath)
	})
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
	return caddy.ModuleInfo{
		ID:  "http.handlers.csb",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets up the handler.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.PublishPath == "" {
		h.PublishPath = "/csb/publish"
	}
	if h.ConsumerPath == "" {
		h.ConsumerPath = "/csb/consumer"
	}
	appIface, err := ctx.App("csb")
	if err != nil {
		return err
	}
	h.app = appIface.(*App)
	return nil
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
		readUnreadBody(w, r)
	}
	return err
}

// maxDiscard is how much of an unread request body is read before an
// early answer, the amount Go's HTTP/1 server discards itself.
const maxDiscard = 256 << 10

// unreadBodyWait bounds how long an early answer (a refusal such as a
// Digest 401) waits for the rest of a request body it did not read.
const unreadBodyWait = time.Second

// readUnreadBody reads what is left of a small request body before the
// handler chain answers without having read it (a refusal), waiting at
// most unreadBodyWait for it, and puts what it read back in front of
// r.Body, so that a handler that runs after all (another authentication
// provider of the same handler succeeding) still gets the whole body.
//
// Both protocols need this. On HTTP/2, an answer sent while the client is
// still sending makes Go's server reset the stream, and some clients
// (curl 7.88) then report an empty reply instead of the answer. On
// HTTP/1.1, Go's server reads up to 256 KiB of an unread body itself
// before it writes the answer's header, with no bound but the
// connection's read timeout, so a client that stalls its body would wait
// that long for its 401.
//
// When the body is larger than maxDiscard, does not end within the wait,
// or the client waits for "100 Continue" (reading would invite the body),
// the answer goes out at once: on HTTP/1.x with Connection: close, which
// keeps Go's server from reading the body; on HTTP/2, Go's server resets
// the stream after the answer. The read deadline is then left expired, so
// nothing reads the stalled body any further.
func readUnreadBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	giveUp := func() {
		if r.ProtoMajor < 2 {
			w.Header().Set("Connection", "close")
		}
	}
	if r.ContentLength > maxDiscard || r.ProtoMajor < 2 && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		giveUp()
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(unreadBodyWait)); err != nil {
		giveUp() // the wait cannot be bounded: do not read
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxDiscard+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
	if err != nil || len(data) > maxDiscard {
		giveUp()
		return
	}
	_ = rc.SetReadDeadline(time.Time{}) // the whole body is here
}

func parsePath(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	p := d.Val()
	if !strings.HasPrefix(p, "/") {
		return d.Errf("path %q must begin with /", p)
	}
	*dst = strings.TrimSuffix(p, "/")
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
