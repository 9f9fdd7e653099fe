package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// servePublish serves the Publish interface (draft section 4.1): a
// provider POSTs or PUTs a <csbnotification> (Content-Type
// application/csb-publish+xml) and gets a <csbresponse> in an HTTP 200.
//
// HTTP-level problems get HTTP statuses: another method → 405 with Allow;
// another content type, an unsupported charset or a content coding → 415;
// a body over the xml option's max_body_size → 413 (the codec's body
// reader, xml.go); no credentials → 401 from the authentication
// handler in front (digest_auth, basic_auth). Protocol outcomes — the
// codes of the draft's table 1 — are always in the body of an HTTP 200,
// never mirrored as the HTTP status (401, 402, 403 and 405 mean something
// else in HTTP).
//
// It sets the placeholders {http.csb.provider.id} (the provider the
// notification describes), {http.csb.subscription.id} (the notification's
// id: a subscription or push id), {http.csb.outcome} (the protocol status
// code of the answer: 200, 400, 402, 404, 420) and
// {http.csb.publish.outcome} (applied, gap, restart, duplicate, old,
// refused, invalid). {http.csb.job.id} is not set on this interface.
func (h *Handler) servePublish(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		return caddyhttp.Error(http.StatusMethodNotAllowed,
			fmt.Errorf("publish endpoint: method %s not allowed (POST or PUT)", r.Method))
	}
	if err := checkAccept(r, csbmsg.PublishMediaType); err != nil {
		return err // 406
	}
	x := h.app.XML
	body, charset, err := x.readBody(w, r, csbmsg.PublishMediaType) // 415, 413
	if err != nil {
		return err
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	user := ""
	if repl != nil {
		user, _ = repl.GetString("http.auth.user.id")
	}
	res := h.app.engine.ingest.IngestBody(body, user, x.options(peerOf(r), charset))
	releaseBody(body) // the codec keeps copies of what it read
	if errors.Is(res.Err, csbmsg.ErrTooLarge) {
		return caddyhttp.Error(http.StatusRequestEntityTooLarge, res.Err)
	}
	csbMetrics.observeNotification(res)
	csbPlaceholders{status: res.Response.Status, providerID: res.ProviderID, subscriptionID: res.ID,
		publishOutcome: string(res.Outcome)}.set(repl)
	out, err := res.Marshal()
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("publish endpoint: writing response: %w", err))
	}
	return writeMessage(w, csbmsg.PublishMediaType, out)
}

// lenient reports whether the app's codec runs in lenient mode.
func (a *App) lenient() bool {
	return a.XML == nil || a.XML.mode == csbmsg.Lenient
}
