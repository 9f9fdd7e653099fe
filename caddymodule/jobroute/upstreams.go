package jobroute

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/caddymodule"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/broker/adapters"
	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

func init() {
	caddy.RegisterModule(JobUpstreams{})
}

// JobUpstreams is the dynamic upstream source
// http.reverse_proxy.upstreams.csb: the broker's transparent, job-aware
// proxy. A consumer sends the native API requests of one of its jobs to
// the job's route (by default /csb/jobs/<job-id>/...); the source resolves
// the provider that holds the job, rewrites the request onto the
// provider's native endpoint, and swaps the consumer's credentials for the
// provider's (a Keystone or TempAuth token, a SigV4 signature, Basic, a
// bearer token, or a Digest response). Caddy's reverse proxy then does the
// rest: streaming, retries, load balancing, passive health checks.
//
//	route /csb/jobs/* {
//		reverse_proxy {
//			dynamic csb
//			fail_duration 30s
//		}
//	}
//
// Only the job's owner ({http.auth.user.id}, set by basic_auth,
// digest_auth or any authentication provider in front) may use a route.
// Unknown, foreign, unfinished, expired and removed jobs answer 404, and
// requests a job may not make answer 403 (or 400); none of them reaches a
// provider. Such answers come from a small loopback responder of the
// module, because an upstream source cannot answer a request itself.
//
// A route reaches its job's resource and nothing beside or above it. The
// path below the job id is cleaned first (adapters.CleanRoutePath:
// dot-segments in any spelling are resolved, a climb above the route,
// encoded slashes, backslashes and control bytes are refused), and so are
// method-override headers. The adapter then scopes the request to what
// the job holds (adapters.Fronter: openstack, aws, cimi, cdmi, occi);
// jobs of other adapters (link) reach their endpoint's path and the paths
// below it. Every upstream passes the broker's peer URL policy before
// anything is forwarded, and before the broker adds the provider's Basic,
// bearer or Digest credentials (openstack and aws sign in Front; a request
// the policy refuses goes nowhere and loses every header).
//
// With passive health checks (fail_duration) and retries (lb_retries or
// lb_try_duration) on, a provider whose native endpoint keeps failing
// (UnhealthyAfter failures counted by the reverse proxy) leaves placement
// until its failures have expired. The source learns of failures when the
// reverse proxy comes back to it for a retry, which is why retries must be
// on.
//
// A provider with auth digest is answered from the provider's own Digest
// client (the one the broker's calls use): the request carries a response
// to the challenge that client holds, with its next nonce count, and one
// is fetched first (an unauthenticated HEAD) when it holds none. The
// password never leaves the broker. The client does not see the proxied
// answers, so when the provider's nonce goes stale the answer is a 401;
// let the reverse proxy retry it, and the retry carries a response to the
// fresh challenge (requests with a body also need request_buffers to be
// retried):
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
// Placeholders set: {http.csb.job.id}, {http.csb.provider.id}.
type JobUpstreams struct {
	// Prefix is the path prefix of job routes; the path segment after it
	// is the job id and the rest of the path goes to the provider.
	// Default "/csb/jobs/".
	Prefix string `json:"prefix,omitempty"`
	// Header, when set, names the request header that carries the job id;
	// the whole path then goes to the provider, and Prefix is not used.
	Header string `json:"header,omitempty"`
	// UnhealthyAfter is how many recent failures of a provider's native
	// endpoint (as counted by the reverse proxy's passive health checks)
	// take the provider out of placement. Default 3.
	UnhealthyAfter int `json:"unhealthy_after,omitempty"`
	// HealthInterval is how often provider health is re-examined, so a
	// provider returns to placement once its failures expire. Default 1s.
	HealthInterval caddy.Duration `json:"health_interval,omitempty"`
	// CacheTTL is how long a resolved job endpoint is reused without
	// asking the job manager again. Every change of a job made by this
	// broker drops its entry at once, and a lease's end is checked on
	// every request; the TTL bounds only how long a change made by another
	// broker of a cluster goes unseen. Default 1s; negative disables.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	app     *caddymodule.App
	logger  *zap.Logger
	refuser *refuser

	watch *watchSet
}

// routed is what GetUpstreams keeps for a request, for its retries.
type routed struct {
	provider  string
	upstreams []*reverseproxy.Upstream
	digest    *digest.Transport // the provider's Digest client, when it answers challenges for the route
}

// CaddyModule returns the Caddy module information.
func (JobUpstreams) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.csb",
		New: func() caddy.Module { return new(JobUpstreams) },
	}
}

// Defaults.
const (
	defaultJobPrefix      = "/csb/jobs/"
	defaultUnhealthyAfter = 3
	defaultHealthInterval = caddy.Duration(time.Second)
)

// Provision finds the csb app, applies defaults, takes the shared refusal
// responder and starts the health watch (stopped with the config).
func (u *JobUpstreams) Provision(ctx caddy.Context) error {
	u.logger = ctx.Logger()
	appIface, err := ctx.App("csb")
	if err != nil {
		return fmt.Errorf("dynamic csb needs the csb app (the csb global option): %v", err)
	}
	u.app = appIface.(*caddymodule.App)
	if u.Prefix == "" {
		u.Prefix = defaultJobPrefix
	}
	if !strings.HasPrefix(u.Prefix, "/") {
		return fmt.Errorf("dynamic csb: prefix %q must begin with /", u.Prefix)
	}
	if !strings.HasSuffix(u.Prefix, "/") {
		u.Prefix += "/"
	}
	if u.UnhealthyAfter == 0 {
		u.UnhealthyAfter = defaultUnhealthyAfter
	}
	if u.HealthInterval == 0 {
		u.HealthInterval = defaultHealthInterval
	}
	if u.CacheTTL == 0 {
		u.CacheTTL = caddy.Duration(time.Second)
	}
	if u.UnhealthyAfter < 0 || u.HealthInterval < 0 {
		return errors.New("dynamic csb: unhealthy_after and health_interval must be positive")
	}
	u.refuser, err = loadRefuser()
	if err != nil {
		return err
	}
	u.watch = &watchSet{m: map[string]*reverseproxy.Host{}}
	go u.watchHealth(ctx)
	return nil
}

// Cleanup releases the refusal responder.
func (u *JobUpstreams) Cleanup() error {
	if u.refuser != nil {
		_, err := refusers.Delete(refuserKey)
		return err
	}
	return nil
}

// credentialHeaders are the consumer credentials a request may carry; none
// of them is ever forwarded to a provider.
var credentialHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie",
	"X-Auth-Token", "X-Storage-Token", "X-Service-Token", "X-Auth-User", "X-Auth-Key",
	"X-Storage-User", "X-Storage-Pass", "X-Amz-Security-Token", refuseStatusHeader, refuseReasonHeader,
}

// ctxKey of the caddyhttp var that keeps the chosen upstreams, so a retry
// does not rewrite the request twice.
const upstreamsVar = "csb.proxy.upstreams"

// GetUpstreams resolves the job of r, checks that the authenticated user
// owns it, rewrites r for the provider and returns the provider's address
// (or the refusal responder's).
func (u *JobUpstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	if rt, ok := caddyhttp.GetVar(r.Context(), upstreamsVar).(*routed); ok {
		// A retry: r is already rewritten. The reverse proxy provisioned
		// the upstream on this goroutine, so its host record can be read.
		if rt.provider != "" && len(rt.upstreams) == 1 && rt.upstreams[0].Host != nil {
			u.watch.mu.Lock()
			u.watch.m[rt.provider] = rt.upstreams[0].Host
			u.watch.mu.Unlock()
		}
		if rt.digest != nil {
			if err := reauthorizeDigest(r, rt.digest); err != nil {
				rt.digest, rt.upstreams = nil, u.refuse(r, err)
			}
		}
		return rt.upstreams, nil
	}
	rt, err := u.resolve(r)
	if err != nil {
		rt = &routed{upstreams: u.refuse(r, err)}
	}
	caddyhttp.SetVar(r.Context(), upstreamsVar, rt)
	return rt.upstreams, nil
}

func (u *JobUpstreams) resolve(r *http.Request) (*routed, error) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	owner := ""
	if repl != nil {
		owner = repl.ReplaceAll("{http.auth.user.id}", "")
	}
	jobID, rest, err := u.jobOf(r)
	if err != nil {
		return nil, err
	}
	if owner == "" {
		return nil, &adapters.Error{Kind: adapters.KindClient, Status: http.StatusForbidden, Op: "proxy", Err: errors.New("no authenticated consumer: put an authentication handler in front of the job routes")}
	}
	if u.app.JobManager() == nil {
		return nil, &adapters.Error{Kind: adapters.KindServer, Status: http.StatusServiceUnavailable, Op: "proxy", Err: errors.New("the broker's job manager is not running")}
	}
	ep, err := u.app.JobEndpoint(r.Context(), owner, jobID, time.Duration(u.CacheTTL))
	if err != nil {
		if errors.Is(err, jobs.ErrNoJob) {
			return nil, &adapters.Error{Kind: adapters.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: fmt.Errorf("no job %q here", jobID)}
		}
		return nil, &adapters.Error{Kind: adapters.KindServer, Status: http.StatusServiceUnavailable, Op: "proxy", Err: err}
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
	if rest, err = adapters.CleanRoutePath(rest); err != nil {
		return nil, err
	}
	if err := refuseMethodOverride(r); err != nil {
		return nil, err
	}
	setPath(r, rest)
	var upstream *url.URL
	var dt *digest.Transport
	ad, ok := u.app.AdapterFor(ep.ProviderID, resourceKind(ep.Resource))
	if !ok {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: fmt.Errorf("provider %q has no adapter for job %q any more", ep.ProviderID, ep.JobID)}
	}
	if f, fronts := ad.(adapters.Fronter); fronts {
		if upstream, err = f.Front(r.Context(), r, ep.Resource); err != nil {
			return nil, err
		}
		if err := u.checkUpstream(ep.ProviderID, upstream, r); err != nil {
			return nil, err
		}
		if ba, ok := ad.(adapters.BrokerAuthenticated); ok && ba.BrokerAuthenticates() {
			dt, err = u.addProviderAuth(r, ep.ProviderID, upstream)
		}
	} else {
		upstream, dt, err = u.frontGeneric(r, ep)
	}
	if err != nil {
		return nil, err
	}
	up := &reverseproxy.Upstream{Dial: dialAddress(upstream)}
	if upstream.Scheme == "https" {
		if c := u.logger.Check(zapcore.DebugLevel, "job upstream uses https: the reverse proxy needs transport http { tls }"); c != nil {
			c.Write(zap.String("provider", ep.ProviderID))
		}
	}
	return &routed{provider: ep.ProviderID, upstreams: []*reverseproxy.Upstream{up}, digest: dt}, nil
}

// methodOverrideHeaders make some servers run another method than the
// request's: a GET the front allowed could become a DELETE.
var methodOverrideHeaders = []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// refuseMethodOverride refuses (403) a request that names another method
// in a header, since the fronts decide by the request's own method.
func refuseMethodOverride(r *http.Request) error {
	for _, h := range methodOverrideHeaders {
		if _, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			return adapters.Refused("header %s is not allowed through the broker", h)
		}
	}
	return nil
}

// jobOf reads the job id and the native path from the header or the path
// prefix.
func (u *JobUpstreams) jobOf(r *http.Request) (id, rest string, err error) {
	if u.Header != "" {
		id = r.Header.Get(u.Header)
		r.Header.Del(u.Header)
		if id == "" {
			return "", "", &adapters.Error{Kind: adapters.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: fmt.Errorf("no %s header", u.Header)}
		}
		return id, r.URL.EscapedPath(), nil
	}
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, u.Prefix) {
		return "", "", &adapters.Error{Kind: adapters.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: fmt.Errorf("%s is not a job route (%s<job-id>/...)", r.URL.Path, u.Prefix)}
	}
	id, rest, _ = strings.Cut(p[len(u.Prefix):], "/")
	if id, err = url.PathUnescape(id); err != nil || id == "" {
		return "", "", &adapters.Error{Kind: adapters.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: errors.New("no job id in the route")}
	}
	return id, "/" + rest, nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*JobUpstreams)(nil)
	_ caddy.CleanerUpper          = (*JobUpstreams)(nil)
	_ caddyfile.Unmarshaler       = (*JobUpstreams)(nil)
	_ reverseproxy.UpstreamSource = (*JobUpstreams)(nil)
)
