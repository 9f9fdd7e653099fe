package digestauth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/metricsreg"
)

// digestMetrics are the process-wide collectors of http_digest,
// registered on every configuration's registry by each provider's
// Provision and served with Caddy's own metrics:
//
//	caddy_csb_digest_failures_total{reason}   counter  Digest authentication refusals by reason: no_credentials (the
//	                                                   first request of every client), malformed, realm, uri, algorithm, qop, opaque,
//	                                                   nonce, nonce_expired, userhash, body, credentials (unknown user or wrong
//	                                                   password: one label, so the metric does not reveal user names), replay,
//	                                                   nonce_unusable, nonce_exhausted, throttled (the last two: refusals of the
//	                                                   throttle, below), other
//	caddy_csb_digest_throttled_total{reason}  counter  Digest requests the throttle refused without checking their response, by
//	                                                   reason: nonce_exhausted (the nonce has taken its budget of wrong responses),
//	                                                   user (the user name is in backoff), client (the client address is)
var digestMetrics = &metrics{
	failures: prometheus.NewCounterVec(prometheus.CounterOpts(metricsreg.Opts("digest_failures_total",
		"Digest authentication refusals by reason.")), []string{"reason"}),
	throttled: prometheus.NewCounterVec(prometheus.CounterOpts(metricsreg.Opts("digest_throttled_total",
		"Digest requests the throttle refused without checking their response, by reason.")), []string{"reason"}),
}

type metrics struct {
	failures  *prometheus.CounterVec
	throttled *prometheus.CounterVec
}

// observeFailure counts one Digest authentication refusal, and a
// refusal of the throttle in digest_throttled_total too.
func (m *metrics) observeFailure(err error) {
	m.failures.WithLabelValues(failureReason(err)).Inc()
	switch {
	case errors.Is(err, digest.ErrNonceExhausted):
		m.throttled.WithLabelValues("nonce_exhausted").Inc()
	case errors.Is(err, digest.ErrUserThrottled):
		m.throttled.WithLabelValues("user").Inc()
	case errors.Is(err, digest.ErrClientThrottled):
		m.throttled.WithLabelValues("client").Inc()
	}
}

// failureReasons label the refusals of broker/digest. An unknown user and
// a wrong response share the label "credentials", as they share their
// answer: the metric must not tell which user names exist.
var failureReasons = []struct {
	err   error
	label string
}{
	{digest.ErrNoCredentials, "no_credentials"},
	{digest.ErrMalformed, "malformed"},
	{digest.ErrRealm, "realm"},
	{digest.ErrURI, "uri"},
	{digest.ErrAlgorithm, "algorithm"},
	{digest.ErrQOP, "qop"},
	{digest.ErrOpaque, "opaque"},
	{digest.ErrNonceExpired, "nonce_expired"},
	{digest.ErrNonce, "nonce"},
	{digest.ErrUserhash, "userhash"},
	{digest.ErrBody, "body"},
	{digest.ErrUnknownUser, "credentials"},
	{digest.ErrResponse, "credentials"},
	{digest.ErrReplay, "replay"},
	{digest.ErrNonceUnusable, "nonce_unusable"},
	{digest.ErrNonceExhausted, "nonce_exhausted"},
	{digest.ErrThrottled, "throttled"},
}

// failureReason returns the label of a Digest refusal.
func failureReason(err error) string {
	for _, r := range failureReasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}
