package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// servePublish serves the Publish interface (draft section 4.1): a
// provider POSTs or PUTs a <csbnotification> (Content-Type
// application/csb-publish+xml) and gets a <csbresponse> in an HTTP 200.
//
// HTTP-level problems get HTTP statuses: another method → 405 with Allow;
// another content type or an unsupported charset → 415; a body over the
// codec's size limit → 413; no credentials → 401 from the authentication
// handler in front (digest_auth, basic_auth). Protocol outcomes — the
// codes of the draft's table 1 — are always in the body of an HTTP 200,
// never mirrored as the HTTP status (401, 402, 403 and 405 mean something
// else in HTTP).
//
// It sets the placeholders {http.csb.provider.id} (the provider the
// notification describes) and {http.csb.outcome} (applied, gap, restart,
// duplicate, old, refused, invalid).
func (h *Handler) servePublish(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		return caddyhttp.Error(http.StatusMethodNotAllowed,
			fmt.Errorf("publish endpoint: method %s not allowed (POST or PUT)", r.Method))
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != csbmsg.PublishMediaType {
		return caddyhttp.Error(http.StatusUnsupportedMediaType,
			fmt.Errorf("publish endpoint: content type %q is not %s", r.Header.Get("Content-Type"), csbmsg.PublishMediaType))
	}
	opt := h.app.publishCodec()
	if cs := params["charset"]; cs != "" {
		if _, ok := csbmsg.CharsetSupported(cs); !ok {
			return caddyhttp.Error(http.StatusUnsupportedMediaType,
				fmt.Errorf("publish endpoint: charset %q is not supported", cs))
		}
		opt.Charset = cs
	}
	limit := opt.Limits.WithDefaults().MaxBytes
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return caddyhttp.Error(http.StatusRequestEntityTooLarge,
			fmt.Errorf("publish endpoint: body larger than %d bytes", limit))
	case err != nil:
		return caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("publish endpoint: reading body: %w", err))
	}

	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	user := ""
	if repl != nil {
		user, _ = repl.GetString("http.auth.user.id")
	}
	opt.OnAlias = func(alias, canonical string) { h.aliases.note(h.logger, user, alias, canonical) }

	res := h.app.engine.ingest.IngestBody(body, user, opt)
	if errors.Is(res.Err, csbmsg.ErrTooLarge) {
		return caddyhttp.Error(http.StatusRequestEntityTooLarge, res.Err)
	}
	if repl != nil {
		repl.Set("http.csb.provider.id", res.ProviderID)
		repl.Set("http.csb.outcome", string(res.Outcome))
	}
	out, err := res.Marshal()
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("publish endpoint: writing response: %w", err))
	}
	w.Header().Set("Content-Type", csbmsg.PublishMediaType)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(out)
	return err
}

// publishCodec returns the codec options notifications are parsed with:
// lenient mode and the default limits (1 MiB body cap).
func (a *App) publishCodec() csbmsg.Options {
	return csbmsg.Options{}
}

// codecOptions returns the app's codec options (mode and limits).
func (a *App) codecOptions() csbmsg.Options {
	return a.publishCodec()
}

// aliasLog logs a lenient alias spelling once per publisher (bounded).
type aliasLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

const maxAliasLog = 4096

func (l *aliasLog) note(logger *zap.Logger, user, alias, canonical string) {
	key := user + "\x00" + alias
	l.mu.Lock()
	if l.seen == nil {
		l.seen = make(map[string]bool)
	}
	if l.seen[key] || len(l.seen) >= maxAliasLog {
		l.mu.Unlock()
		return
	}
	l.seen[key] = true
	l.mu.Unlock()
	logger.Info("notification uses a spelling the schema does not have (accepted in lenient mode)",
		zap.String("user", user), zap.String("alias", alias), zap.String("schema_name", canonical))
}
