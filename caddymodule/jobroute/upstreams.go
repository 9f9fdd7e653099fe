package jobroute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/caddy-csb/caddy-csb/caddymodule"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(JobUpstreams{})
}

// JobUpstreams is the dynamic upstream source
// http.reverse_proxy.upstreams.csb: it hands the reverse proxy the
// provider endpoint that the csb_job_route handler in front resolved for
// the request (see JobRoute). Without that handler in front, it has no
// upstream to give: the reverse proxy then answers 503 (no upstreams
// available) and logs the reason.
//
// With passive health checks (fail_duration) and retries (lb_retries or
// lb_try_duration) on, a provider whose native endpoint keeps failing
// (UnhealthyAfter failures counted by the reverse proxy) leaves placement
// until its failures have expired. The source learns of failures when the
// reverse proxy comes back to it for a retry, which is why retries must be
// on. A retry to a Digest provider carries new credentials (see
// JobRoute); should they fail, the source gives no upstream and the
// reverse proxy answers with the try before's error.
type JobUpstreams struct {
	// UnhealthyAfter is how many recent failures of a provider's native
	// endpoint (as counted by the reverse proxy's passive health checks)
	// take the provider out of placement. Default 3.
	UnhealthyAfter int `json:"unhealthy_after,omitempty"`
	// HealthInterval is how often provider health is re-examined, so a
	// provider returns to placement once its failures expire. Default 1s.
	HealthInterval caddy.Duration `json:"health_interval,omitempty"`

	app    *caddymodule.App
	logger *zap.Logger

	watch *watchSet
	// proxy is the reverse proxy this source serves (nil when unknown):
	// its transport decides whether a request goes out with TLS, whatever
	// the scheme of the upstream the handler resolved.
	proxy *reverseproxy.Handler
}

// routed is what the handler resolved for a request, kept for the
// source's tries.
type routed struct {
	provider  string
	upstreams []*reverseproxy.Upstream
	scheme    string            // the upstream's scheme, http or https
	pinned    string            // the address the peer URL check judged (upstreamAddr.pinned)
	digest    *digest.Transport // the provider's Digest client, when it answers challenges for the route
	tried     bool              // the source has handed out upstreams once: later calls are retries
	header    http.Header       // the request's headers at the first try, which the reverse proxy may rebuild retries from
	answers   *answerMap        // how the provider's answer headers are fixed for the consumer
	// reauth, for an adapter's own credential (contract.FrontReauthenticator),
	// replaces the credential a 401 refused on the request.
	reauth func(context.Context, *http.Request) error
}

// CaddyModule returns the Caddy module information.
func (JobUpstreams) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[JobUpstreams]("http.reverse_proxy.upstreams.csb")
}

// Defaults.
const (
	defaultUnhealthyAfter = 3
	defaultHealthInterval = caddy.Duration(time.Second)
)

// Provision finds the csb app, applies defaults and starts the health
// watch (stopped with the config).
func (u *JobUpstreams) Provision(ctx caddy.Context) error {
	if err := caddymodule.Bind(ctx, "dynamic csb", &u.app, &u.logger); err != nil {
		return err
	}
	if u.UnhealthyAfter == 0 {
		u.UnhealthyAfter = defaultUnhealthyAfter
	}
	if u.HealthInterval == 0 {
		u.HealthInterval = defaultHealthInterval
	}
	if u.UnhealthyAfter < 0 || u.HealthInterval < 0 {
		return errors.New("dynamic csb: unhealthy_after and health_interval must be positive")
	}
	u.watch = &watchSet{m: map[string]*reverseproxy.Host{}}
	u.proxy = proxyOf(ctx.Modules())
	if u.proxy != nil && tlsWithoutHost(u.proxy) {
		u.logger.Warn("transport http { tls } without header_up Host: https providers get the address dialled as Host, an IP address where the route pins it; add header_up Host {http.csb.upstream.host}")
	}
	go u.watchHealth(ctx)
	return nil
}

// tlsWithoutHost reports whether rp speaks TLS to its upstreams and
// leaves their Host header to Caddy's default for it, the address
// dialled (the transport's header operation, applied after the source
// chose the upstream).
func tlsWithoutHost(rp *reverseproxy.Handler) bool {
	t, ok := rp.Transport.(*reverseproxy.HTTPTransport)
	if !ok || t.TLS == nil {
		return false
	}
	if rp.Headers == nil || rp.Headers.Request == nil {
		return true
	}
	_, set := rp.Headers.Request.Set["Host"]
	return !set
}

// routedVar is the caddyhttp var in which the handler leaves what it
// resolved for the source.
const routedVar = "csb.job_route"

// errNoRoute is the source's answer to a request no csb_job_route
// handler resolved.
var errNoRoute = errors.New("no job resolved for this request: put csb_job_route before reverse_proxy")

// GetUpstreams returns the provider endpoint the csb_job_route handler
// resolved for r. On a retry it records the endpoint's host for the
// health watch and, for a Digest provider, gives r new credentials.
func (u *JobUpstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	rt, ok := caddyhttp.GetVar(r.Context(), routedVar).(*routed)
	if !ok {
		return nil, errNoRoute
	}
	if err := u.checkScheme(rt); err != nil {
		if c := u.logger.Check(zapcore.ErrorLevel, "job route refused"); c != nil {
			c.Write(zap.String("provider", rt.provider), zap.Error(err))
		}
		return nil, err
	}
	if !rt.tried {
		rt.tried = true
		// The reverse proxy keeps r's headers as they are now and, when it
		// has header operations (header_up, or the Host default of a
		// transport with tls), rebuilds every retry's from them after
		// asking this source: a credential renewed for a retry must be
		// written there too (renew).
		rt.header = r.Header
		u.pin(rt)
		return rt.upstreams, nil
	}
	// A retry: the reverse proxy provisioned the upstream on this
	// goroutine, so its host record can be read.
	if rt.provider != "" && len(rt.upstreams) == 1 && rt.upstreams[0].Host != nil {
		u.watch.mu.Lock()
		u.watch.m[rt.provider] = rt.upstreams[0].Host
		u.watch.mu.Unlock()
	}
	if rt.reauth != nil && lastStatus(r) == http.StatusUnauthorized {
		if err := rt.renew(r, func() error { return rt.reauth(r.Context(), r) }); err != nil {
			if c := u.logger.Check(zapcore.DebugLevel, "job route retry refused"); c != nil {
				c.Write(zap.Error(err))
			}
			return nil, err
		}
	}
	if rt.digest != nil {
		if err := rt.renew(r, func() error { return reauthorizeDigest(r, rt.digest) }); err != nil {
			if c := u.logger.Check(zapcore.DebugLevel, "job route retry refused"); c != nil {
				c.Write(zap.Error(err))
			}
			return nil, err
		}
	}
	return rt.upstreams, nil
}

// renew runs set, which gives r new credentials for a retry, and writes
// what it changed in r's headers into the headers the reverse proxy
// rebuilds the retry's from (rt.header), so that the retry sends them.
func (rt *routed) renew(r *http.Request, set func() error) error {
	if rt.header == nil {
		return set()
	}
	before := r.Header.Clone()
	if err := set(); err != nil {
		return err
	}
	for k, v := range r.Header {
		if !slices.Equal(before[k], v) {
			rt.header[k] = slices.Clone(v)
		}
	}
	for k := range before {
		if _, ok := r.Header[k]; !ok {
			delete(rt.header, k)
		}
	}
	return nil
}

// proxyOf returns the reverse proxy among the modules that provisioned a
// source (caddy.Context.Modules: its parent is the reverse proxy), or nil.
func proxyOf(mods []caddy.Module) *reverseproxy.Handler {
	for i := len(mods) - 1; i >= 0; i-- {
		if h, ok := mods[i].(*reverseproxy.Handler); ok {
			return h
		}
	}
	return nil
}

// checkScheme refuses an upstream whose scheme the reverse proxy's
// transport would not honour. The reverse proxy drops the scheme the
// handler wrote and speaks TLS only when its transport has tls: an https
// upstream behind a transport without it would get the provider's
// credentials (Basic, a bearer or Keystone token) in cleartext on port
// 443, past the handler's cleartext check; an http one behind a
// transport with tls would fail its handshake. A transport of unknown
// kind is not judged.
func (u *JobUpstreams) checkScheme(rt *routed) error {
	if u.proxy == nil || rt.scheme == "" || len(rt.upstreams) == 0 {
		return nil
	}
	_, port, _ := net.SplitHostPort(rt.upstreams[0].Dial)
	var useTLS bool
	switch t := u.proxy.Transport.(type) {
	case nil:
		useTLS = false // the default transport, provisioned later: plain HTTP
	case *reverseproxy.HTTPTransport:
		useTLS = t.TLS != nil && !slices.Contains(t.TLS.ExceptPorts, port)
	case reverseproxy.TLSTransport:
		useTLS = t.TLSEnabled()
	default:
		return nil
	}
	switch {
	case rt.scheme == "https" && !useTLS:
		return fmt.Errorf("provider %s: the job's upstream is https but the reverse proxy's transport has no tls (add transport http { tls }): not sending the request in cleartext", rt.provider)
	case rt.scheme == "http" && useTLS:
		return fmt.Errorf("provider %s: the job's upstream is http but the reverse proxy's transport uses tls on port %s", rt.provider, port)
	}
	return nil
}

// pin has the reverse proxy dial an https upstream at the address the
// peer URL check judged, not at its name, when the reverse proxy's
// transport does not verify the provider's certificate against the name
// it dials: with tls_insecure_skip_verify, or a tls_server_name, a name
// resolving to a public address for the check and to 127.0.0.1 or the
// internal network for the proxy's own lookup (DNS rebinding) would be
// served by whatever listens there. Pinned, the upstream gets no SNI
// unless tls_server_name sets one. A transport of unknown kind is not
// trusted to verify the name either.
func (u *JobUpstreams) pin(rt *routed) {
	if rt.scheme != "https" || rt.pinned == "" || len(rt.upstreams) != 1 || u.verifiesDialledName() {
		return
	}
	rt.upstreams[0].Dial = rt.pinned
}

// verifiesDialledName reports whether the reverse proxy's transport
// verifies an upstream's certificate against the host name it dials.
func (u *JobUpstreams) verifiesDialledName() bool {
	if u.proxy == nil {
		return false
	}
	t, ok := u.proxy.Transport.(*reverseproxy.HTTPTransport)
	return ok && t.TLS != nil && !t.TLS.InsecureSkipVerify && t.TLS.ServerName == ""
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*JobUpstreams)(nil)
	_ reverseproxy.UpstreamSource = (*JobUpstreams)(nil)
	_ caddy.Provisioner           = (*JobRoute)(nil)
	_ caddyhttp.MiddlewareHandler = (*JobRoute)(nil)
)
