package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// serveConsumer serves the Consumer interface.
func (h *Handler) serveConsumer(w http.ResponseWriter, r *http.Request) error {
	return caddyhttp.Error(http.StatusNotImplemented, errors.New("consumer interface not built yet"))
}
