package jobroute

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(JobRoute{})
}

// JobRoute is the handler http.handlers.csb_job_route, the first half of
// the broker's transparent, job-aware proxy; the dynamic upstream source
// http.reverse_proxy.upstreams.csb (JobUpstreams) is the second. A
// consumer sends the native API requests of one of its jobs to the job's
// route (by default /csb/jobs/<job-id>/...); the handler resolves the
// provider that holds the job, checks that the consumer owns it, rewrites
// the request onto the provider's native endpoint, and swaps the
// consumer's credentials for the provider's (a Keystone or TempAuth
// token, a SigV4 signature, Basic, a bearer token, or a Digest response).
// The reverse proxy behind it, with dynamic csb as its upstream source,
// sends the request to the endpoint the handler chose and does the rest:
// streaming, retries, load balancing, passive health checks.
//
//	route /csb/jobs/* {
//		csb_job_route
//		reverse_proxy {
//			dynamic csb
//			fail_duration 30s
//		}
//	}
//
// For providers on https the reverse proxy needs transport http { tls }:
// it, not the upstream, decides whether TLS is spoken, so the source
// refuses (and logs) an https upstream behind a transport without tls
// rather than send the provider's credentials in cleartext to port 443.
// With tls, Caddy sets the Host header to the address it dials (after
// the source has run), so add header_up Host {http.csb.upstream.host}:
// the job endpoint's host, as the front set it (and aws signed it), then
// stays in the Host header, also when the address dialled is the one the
// peer URL check judged (below):
//
//	reverse_proxy {
//		dynamic csb
//		header_up Host {http.csb.upstream.host}
//		transport http {
//			tls
//		}
//	}
//
// An https upstream on a host of allowed_hosts is dialled by its name,
// which the provider's certificate is verified against, but at the
// address the peer URL check judged when the transport verifies no such
// thing (tls_insecure_skip_verify, or tls_server_name): a name resolved
// again could lead inside (DNS rebinding). Such an upstream then gets no
// SNI unless tls_server_name sets one.
//
// A refused request is answered by Caddy's error handling: the handler
// returns caddyhttp.Error with the status and the reason, so its body is
// empty unless the site has handle_errors; to show consumers the reason:
//
//	handle_errors {
//		respond "{err.status_code} {err.status_text}: {err.message}"
//	}
//
// Only the job's owner ({http.auth.user.id}, set by basic_auth,
// digest_auth or any authentication provider in front) may use a route;
// a credential scoped to one job ({http.auth.user.csb_job}, set by the
// csb_binding provider for an OSB binding) reaches that job only.
// Unknown, foreign, unfinished, expired and removed jobs answer 404, and
// so does a job from the moment its removal is accepted; requests a job
// may not make answer 403 (or 400); none of them reaches a provider.
//
// A route reaches its job's resource and nothing beside or above it. The
// path below the job id is cleaned first (contract.CleanRoutePath:
// dot-segments in any spelling are resolved, a climb above the route,
// encoded slashes, backslashes and control bytes are refused), and so are
// method-override headers. Nor is a route a tunnel: an Upgrade offer
// other than websocket (h2c) is withdrawn, and CONNECT answers 405. The adapter then scopes the request to what
// the job holds (contract.Fronter: openstack, aws, cimi, cdmi, occi);
// jobs of other adapters (link) reach their endpoint's path and the paths
// below it. Every upstream passes the broker's peer URL policy before
// anything is forwarded, and before the broker adds the provider's Basic,
// bearer or Digest credentials (openstack and aws sign in Front, for the
// endpoints their own configuration and Keystone catalogue name; a
// request the policy refuses goes nowhere and loses every header). The
// broker's credentials go only to the provider's own endpoints, the
// origins configured for it (caddymodule.App.ProviderOrigin): a host the
// policy allows through allowed_hosts alone, such as an app host of a
// PaaS provider, which a consumer may run, is proxied to without them.
// The provider's answers lose Set-Cookie (a session of the broker's
// account there) and WWW-Authenticate and Proxy-Authenticate (a
// challenge to the broker, which would have the consumer's client send
// credentials to the route), and their Location, Content-Location and
// Link targets on the provider's origin become route paths, or are
// dropped when outside the job (answerMap). A final 401 or 407 of the
// provider, which refused the broker's credentials (the consumer's are
// never forwarded), is answered 502 with the reason, as a refusal is.
//
// A provider with auth digest is answered from the provider's own Digest
// client (the one the broker's calls use): the request carries a response
// to the challenge that client holds, with its next nonce count, and one
// is fetched first (an unauthenticated HEAD) when it holds none. The
// password never leaves the broker. The client does not see the proxied
// answers, so when the provider's nonce goes stale the answer is a 401
// (which the consumer gets as a 502); let the reverse proxy retry it, and
// the retry carries a response to the fresh challenge (requests with a
// body also need request_buffers to be retried):
//
//	reverse_proxy {
//		dynamic csb
//		lb_retries 1
//		lb_retry_match {
//			expression `{rp.status_code} == 401`
//		}
//	}
//
// Providers that require qop=auth-int get 502 for requests whose body is
// streamed; Apache httpd's mod_auth_digest offers qop=auth only.
//
// Placeholders set: {http.csb.job.id}, {http.csb.provider.id}, and
// {http.csb.upstream.host}, the Host (host, or host:port) of the job's
// native endpoint.
type JobRoute struct {
	// Prefix is the path prefix of job routes; the path segment after it
	// is the job id and the rest of the path goes to the provider.
	// Default "/csb/jobs/".
	Prefix string `json:"prefix,omitempty"`
	// Header, when set, names the request header that carries the job id;
	// the whole path then goes to the provider, and Prefix is not used.
	Header string `json:"header,omitempty"`
	// CacheTTL is how long a resolved job endpoint is reused without
	// asking the job manager again. Every change of a job made by this
	// broker drops its entry at once, and a lease's end is checked on
	// every request; the TTL bounds only how long a change made by another
	// broker of a cluster goes unseen. Default 1s; negative disables.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	app    *caddymodule.App
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (JobRoute) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[JobRoute]("http.handlers.csb_job_route")
}

// defaultJobPrefix is where job routes are by default.
const defaultJobPrefix = "/csb/jobs/"

// Provision finds the csb app and applies defaults.
func (h *JobRoute) Provision(ctx caddy.Context) error {
	if err := caddymodule.Bind(ctx, "csb_job_route", &h.app, &h.logger); err != nil {
		return err
	}
	if h.Prefix == "" {
		h.Prefix = defaultJobPrefix
	}
	if !strings.HasPrefix(h.Prefix, "/") {
		return fmt.Errorf("csb_job_route: prefix %q must begin with /", h.Prefix)
	}
	if !strings.HasSuffix(h.Prefix, "/") {
		h.Prefix += "/"
	}
	if h.CacheTTL == 0 {
		h.CacheTTL = caddy.Duration(time.Second)
	}
	return nil
}

// ServeHTTP resolves the job of r, checks that the authenticated user
// owns it and rewrites r for the provider, then hands it on to the
// reverse proxy (whose dynamic csb source reads what was resolved). A
// refusal is returned as a caddyhttp.Error; nothing of it reaches a
// provider.
func (h *JobRoute) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	rt, err := h.resolve(r)
	if err != nil {
		return h.refusal(err)
	}
	return h.proxy(w, r, next, rt)
}

// proxy hands r, resolved to rt, to the reverse proxy behind, and the
// provider's answer to the consumer with its headers fixed (answerMap);
// a final 401 or 407 of the provider becomes a 502 (answerWriter).
func (h *JobRoute) proxy(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *routed) error {
	caddyhttp.SetVar(r.Context(), routedVar, rt)
	// The Host the front chose (and SigV4 signed): with tls, the reverse
	// proxy replaces it by the dial address, an IP when pinned, unless
	// header_up Host sets it from this placeholder.
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.csb.upstream.host", r.Host)
	}
	aw := newAnswerWriter(w, rt.answers)
	err := next.ServeHTTP(aw, r)
	if aw.refused == 0 {
		return err
	}
	// The provider asked for authentication: it refused the broker's
	// credentials (or got none), since the consumer's are never
	// forwarded. Its challenge would only invite the consumer's client
	// to send credentials to the broker, so it answers 502 instead.
	if aw.refused == http.StatusUnauthorized && rt.reauth != nil {
		// The adapter's own credential may be refused before it expires
		// (revoked): have the adapter replace it, so the next request
		// carries a fresh one.
		if rerr := rt.reauth(r.Context(), r); rerr != nil {
			if c := h.logger.Check(zapcore.DebugLevel, "job route credential not renewed"); c != nil {
				c.Write(zap.String("provider", rt.provider), zap.Error(rerr))
			}
		}
	}
	if c := h.logger.Check(zapcore.InfoLevel, "provider refused the job route's request for want of authentication"); c != nil {
		c.Write(zap.String("provider", rt.provider), zap.Int("status", aw.refused))
	}
	if err != nil {
		return err
	}
	return caddyhttp.Error(http.StatusBadGateway, fmt.Errorf("provider %s refused the broker's authentication (HTTP %d)", rt.provider, aw.refused))
}

// credentialHeaders are the consumer credentials a request may carry; none
// of them is ever forwarded to a provider.
var credentialHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie",
	"X-Auth-Token", "X-Storage-Token", "X-Service-Token", "X-Auth-User", "X-Auth-Key",
	"X-Storage-User", "X-Storage-Pass", "X-Amz-Security-Token",
}

func (h *JobRoute) resolve(r *http.Request) (*routed, error) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	owner := ""
	if repl != nil {
		owner = repl.ReplaceAll("{http.auth.user.id}", "")
	}
	jobID, rest, err := h.jobOf(r)
	if err != nil {
		return nil, err
	}
	if owner == "" {
		return nil, &contract.Error{Kind: contract.KindClient, Status: http.StatusForbidden, Op: "proxy", Err: errors.New("no authenticated consumer: put an authentication handler in front of the job routes")}
	}
	// The owner of the jobs of callers without authentication is no
	// user's to take.
	if err := caddymodule.CheckUserName(owner); err != nil {
		return nil, &contract.Error{Kind: contract.KindClient, Status: http.StatusForbidden, Op: "proxy", Err: err}
	}
	// A credential scoped to one job (an OSB binding's: csb_binding)
	// reaches that job only; any other id answers as an unknown job.
	if only := scopedJob(repl); only != "" && only != jobID {
		return nil, &contract.Error{Kind: contract.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: fmt.Errorf("no job %q here", jobID)}
	}
	// Whatever the job, the route is no tunnel.
	if err := refuseTunnel(r); err != nil {
		return nil, err
	}
	if h.app.JobManager() == nil {
		return nil, &contract.Error{Kind: contract.KindServer, Status: http.StatusServiceUnavailable, Op: "proxy", Err: errors.New("the broker's job manager is not running")}
	}
	ep, err := h.app.JobEndpoint(r.Context(), owner, jobID, time.Duration(h.CacheTTL))
	if err != nil {
		if errors.Is(err, jobs.ErrNoJob) {
			return nil, &contract.Error{Kind: contract.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: fmt.Errorf("no job %q here", jobID)}
		}
		return nil, &contract.Error{Kind: contract.KindServer, Status: http.StatusServiceUnavailable, Op: "proxy", Err: err}
	}
	if repl != nil {
		repl.Set("http.csb.job.id", ep.JobID)
		repl.Set("http.csb.provider.id", ep.ProviderID)
	}
	// The consumer's credentials stop here.
	for _, h := range credentialHeaders {
		r.Header.Del(h)
	}
	// Dot-segments, encoded slashes and the like are resolved or refused
	// before any scope check looks at the path.
	if rest, err = contract.CleanRoutePath(rest); err != nil {
		return nil, err
	}
	if err := refuseMethodOverride(r); err != nil {
		return nil, err
	}
	setPath(r, rest)
	var upstream *url.URL
	var addr upstreamAddr
	var dt *digest.Transport
	ad, ok := h.app.AdapterFor(ep.ProviderID, resourceKind(ep.Resource))
	if !ok {
		return nil, &contract.Error{Kind: contract.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: fmt.Errorf("provider %q has no adapter for job %q any more", ep.ProviderID, ep.JobID)}
	}
	if f, fronts := ad.(contract.Fronter); fronts {
		if upstream, err = f.Front(r.Context(), r, ep.Resource); err != nil {
			return nil, err
		}
		if addr, err = h.checkUpstream(ep.ProviderID, upstream, r); err != nil {
			return nil, err
		}
		if ba, ok := ad.(contract.BrokerAuthenticated); ok && ba.BrokerAuthenticates() {
			dt, err = h.addProviderAuth(r, ep.ProviderID, upstream)
		}
	} else {
		upstream, addr, dt, err = h.frontGeneric(r, ep)
	}
	if err != nil {
		return nil, err
	}
	rt := newRouted(ep.ProviderID, upstream, addr, dt)
	route := ""
	if h.Header == "" {
		route = h.Prefix + url.PathEscape(ep.JobID)
	}
	rt.answers = newAnswerMap(r, upstream, rest, route)
	if fr, ok := ad.(contract.FrontReauthenticator); ok {
		res := ep.Resource
		rt.reauth = func(ctx context.Context, r *http.Request) error { return fr.FrontRefused(ctx, r, res) }
	}
	return rt, nil
}

// newRouted is what the handler leaves the source for a request going to
// upstream at addr. The source behind (JobUpstreams) refuses an https
// upstream when the reverse proxy's transport has no tls, and an http one
// when it has, and dials an https one at the address the peer URL check
// judged when the transport does not verify the name.
func newRouted(providerID string, upstream *url.URL, addr upstreamAddr, dt *digest.Transport) *routed {
	up := &reverseproxy.Upstream{Dial: addr.dial}
	return &routed{provider: providerID, upstreams: []*reverseproxy.Upstream{up}, scheme: strings.ToLower(upstream.Scheme), pinned: addr.pinned, digest: dt}
}

// scopedJob returns the one job the authenticated credential may reach
// ({http.auth.user.csb_job}, set by the csb_binding provider), or "" for
// a credential of the owner, which reaches all of the owner's jobs.
func scopedJob(repl *caddy.Replacer) string {
	if repl == nil {
		return ""
	}
	return repl.ReplaceAll("{http.auth.user.csb_job}", "")
}

// methodOverrideHeaders make some servers run another method than the
// request's: a GET the front allowed could become a DELETE. Lower case,
// with '-' between words.
var methodOverrideHeaders = []string{"x-http-method-override", "x-http-method", "x-method-override"}

// refuseMethodOverride refuses (403) a request that names another method
// in a header, since the fronts decide by the request's own method. A
// name spelled with '_' for '-' counts too: Rack and WSGI servers read
// X_HTTP_Method_Override as X-HTTP-Method-Override (both become
// HTTP_X_HTTP_METHOD_OVERRIDE), and Go passes such a header on as sent.
func refuseMethodOverride(r *http.Request) error {
	for name := range r.Header {
		for _, h := range methodOverrideHeaders {
			if sameHeaderName(name, h) {
				return contract.Refused("header %s is not allowed through the broker", name)
			}
		}
	}
	return nil
}

// sameHeaderName reports whether name is want (lower case, '-' between
// words) in any case, with '_' taken for '-'. It allocates nothing: it
// runs on every request of the job route.
func sameHeaderName(name, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// jobOf reads the job id and the native path from the header or the path
// prefix.
func (h *JobRoute) jobOf(r *http.Request) (id, rest string, err error) {
	if h.Header != "" {
		id = r.Header.Get(h.Header)
		r.Header.Del(h.Header)
		if id == "" {
			return "", "", &contract.Error{Kind: contract.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: fmt.Errorf("no %s header", h.Header)}
		}
		return id, r.URL.EscapedPath(), nil
	}
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, h.Prefix) {
		return "", "", &contract.Error{Kind: contract.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: fmt.Errorf("%s is not a job route (%s<job-id>/...)", r.URL.Path, h.Prefix)}
	}
	id, rest, _ = strings.Cut(p[len(h.Prefix):], "/")
	if id, err = url.PathUnescape(id); err != nil || id == "" {
		return "", "", &contract.Error{Kind: contract.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: errors.New("no job id in the route")}
	}
	return id, "/" + rest, nil
}
