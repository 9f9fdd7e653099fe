package jobroute

// Refused job-route requests: the status and the reason a consumer sees.

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// refusal is the handler's answer to a request it refuses: a
// caddyhttp.Error with the status err calls for and reasonOf(err) as its
// message (handle_errors shows it as {err.message}).
func (h *JobRoute) refusal(err error) error {
	status := refusalStatus(err)
	if c := h.logger.Check(zapcore.DebugLevel, "job route refused"); c != nil {
		c.Write(zap.Int("status", status), zap.Error(err))
	}
	return caddyhttp.Error(status, errors.New(reasonOf(err)))
}

// refusalStatus is the HTTP status of a refusal: the status of an
// contract.Error that names one for the consumer, 404 for what is not
// found, 403 for what a job may not do, 504 for a timeout, else 502.
func refusalStatus(err error) int {
	status := http.StatusBadGateway
	var ae *contract.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Status >= 400 && ae.Status < 600 && (ae.Kind == contract.KindClient || ae.Kind == contract.KindNotFound || ae.Op == "proxy"):
			status = ae.Status
		case ae.Kind == contract.KindNotFound:
			status = http.StatusNotFound
		case ae.Kind == contract.KindClient:
			status = http.StatusForbidden
		case ae.Kind == contract.KindTimeout:
			status = http.StatusGatewayTimeout
		}
	}
	return status
}

// reasonOf is the text a refused consumer sees: the cause without the
// operation prefixes.
func reasonOf(err error) string {
	var ae *contract.Error
	if errors.As(err, &ae) && ae.Err != nil {
		err = ae.Err
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, err.Error())
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
