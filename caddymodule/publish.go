package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// servePublish serves the Publish interface.
func (h *Handler) servePublish(w http.ResponseWriter, r *http.Request) error {
	return caddyhttp.Error(http.StatusNotImplemented, errors.New("publish interface not built yet"))
}
