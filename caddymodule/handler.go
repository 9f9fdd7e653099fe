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
		readUnreadBody(w, r, false)
	}
	return err
}

// maxDiscard is how much of an unread request body is read before an
// early answer, the amount Go's HTTP/1 server discards itself.
const maxDiscard = 256 << 10

// unreadBodyWait bounds how long an early answer (a refusal such as a
// Digest 401) waits for more of a request body it did not read: the
// body must keep coming, at least one read every unreadBodyWait, and
// all of it within unreadBodyMaxWait.
const (
	unreadBodyWait    = time.Second
	unreadBodyMaxWait = 10 * time.Second
)

// readUnreadBody reads what is left of a request body, up to maxDiscard
// bytes, before the handler chain answers without having read it (a
// refusal). With keep, it puts what it read back in front of r.Body, so
// that a handler that runs after all (another authentication provider of
// the same handler letting the request in) still gets the whole body. It
// waits at most unreadBodyWait for each read, so a client that stalls its
// body gets its answer about a second after it stalled, and one that
// trickles it at most unreadBodyMaxWait after the refusal.
//
// Both protocols need this. On HTTP/2, an answer sent while the client is
// still sending makes Go's server reset the stream, and some clients
// (curl 7.88) then report an empty reply instead of the answer. On
// HTTP/1.1, Go's server reads up to 256 KiB of an unread body itself
// before it writes the answer's header (Caddy's body wrappers hide from
// it how much is left), bounded only by Caddy's read_idle_timeout (1m by
// default): a client that stalled its body waited that long for its 401.
//
// When the body stops coming, the expired read deadline is left in
// place: Go's server's own read fails at once, and it answers and closes
// the connection (Connection: close on HTTP/1.1, a stream reset after the
// answer on HTTP/2). A body that keeps coming beyond maxDiscard is left
// to Go's server (on HTTP/1.1 it reads 256 KiB more, answers, and closes
// the connection once the client has taken the answer). "Connection:
// close" is not set here: with it Go's server closes at once, and a
// client still sending gets a reset instead of the answer. A client that
// waits for "100 Continue" is not read from (Go's server closes the
// connection instead of inviting the body).
func readUnreadBody(w http.ResponseWriter, r *http.Request, keep bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 ||
		r.ProtoMajor < 2 && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	rc := http.NewResponseController(w)
	start := time.Now()
	deadline := func() time.Time {
		if d := time.Now().Add(unreadBodyWait); d.Before(start.Add(unreadBodyMaxWait)) {
			return d
		}
		return start.Add(unreadBodyMaxWait)
	}
	if err := rc.SetReadDeadline(deadline()); err != nil {
		// The wait cannot be bounded: do not read, and keep Go's HTTP/1
		// server from reading either.
		if r.ProtoMajor < 2 {
			w.Header().Set("Connection", "close")
		}
		return
	}
	var kept []byte
	var buf [32 << 10]byte
	read, err := 0, error(nil)
	for err == nil && read <= maxDiscard {
		if read > 0 {
			// More came: wait for the next part as long again.
			_ = rc.SetReadDeadline(deadline())
		}
		var n int
		n, err = r.Body.Read(buf[:min(len(buf), maxDiscard+1-read)])
		read += n
		if keep {
			kept = append(kept, buf[:n]...)
		}
	}
	if keep {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(kept), r.Body), r.Body}
	}
	if err == nil || err == io.EOF {
		// The whole body is here, or it keeps coming: no deadline of ours
		// for whoever reads on.
		_ = rc.SetReadDeadline(time.Time{})
	}
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
