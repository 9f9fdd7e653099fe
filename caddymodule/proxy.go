package caddymodule

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/adapters"
	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/httpclient"
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
// provider's (a Keystone or TempAuth token, a SigV4 signature, Basic or a
// bearer token). Caddy's reverse proxy then does the rest: streaming,
// retries, load balancing, passive health checks.
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
// With passive health checks (fail_duration) and retries (lb_retries or
// lb_try_duration) on, a provider whose native endpoint keeps failing
// (UnhealthyAfter failures counted by the reverse proxy) leaves placement
// until its failures have expired. The source learns of failures when the
// reverse proxy comes back to it for a retry, which is why retries must be
// on.
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

	app     *App
	logger  *zap.Logger
	refuser *refuser

	watch *watchSet
}

// watchSet holds, per provider, the reverse proxy's shared record of the
// provider's endpoint (its passive failure count). The source learns it
// on a retry: the reverse proxy asks the source again, on the request's
// own goroutine, after counting the failure.
type watchSet struct {
	mu sync.Mutex
	m  map[string]*reverseproxy.Host // provider id → its endpoint's host record
}

// routed is what GetUpstreams keeps for a request, for its retries.
type routed struct {
	provider  string
	upstreams []*reverseproxy.Upstream
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
	u.app = appIface.(*App)
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
	mgr := u.app.JobManager()
	if mgr == nil {
		return nil, &adapters.Error{Kind: adapters.KindServer, Status: http.StatusServiceUnavailable, Op: "proxy", Err: errors.New("the broker's job manager is not running")}
	}
	ep, err := u.endpoint(r.Context(), mgr, owner, jobID)
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
	setPath(r, rest)
	var upstream *url.URL
	ad, ok := u.app.AdapterFor(ep.ProviderID, resourceKind(ep.Resource))
	if f, fronts := ad.(adapters.Fronter); ok && fronts {
		upstream, err = f.Front(r.Context(), r, ep.Resource)
		if err != nil {
			return nil, err
		}
	} else {
		upstream, err = u.frontGeneric(r, ep)
		if err != nil {
			return nil, err
		}
	}
	up := &reverseproxy.Upstream{Dial: dialAddress(upstream)}
	if upstream.Scheme == "https" {
		if c := u.logger.Check(zapcore.DebugLevel, "job upstream uses https: the reverse proxy needs transport http { tls }"); c != nil {
			c.Write(zap.String("provider", ep.ProviderID))
		}
	}
	return &routed{provider: ep.ProviderID, upstreams: []*reverseproxy.Upstream{up}}, nil
}

// endpoint resolves owner's job through the cache, else the job manager.
func (u *JobUpstreams) endpoint(ctx context.Context, mgr *jobs.Manager, owner, id string) (jobs.Endpoint, error) {
	now := time.Now()
	if u.CacheTTL > 0 {
		if v, ok := endpoints.Load(id); ok {
			e := v.(*cachedEndpoint)
			if e.owner == owner && now.Before(e.until) && (e.expires.IsZero() || now.Before(e.expires)) {
				return e.ep, nil
			}
		}
	}
	ep, err := mgr.JobEndpoint(ctx, owner, id)
	if err != nil || u.CacheTTL <= 0 {
		return ep, err
	}
	var expires time.Time
	if j, err := mgr.Get(ctx, owner, id); err == nil {
		expires = j.Expires
	}
	endpoints.Store(id, &cachedEndpoint{ep: ep, owner: owner, until: now.Add(time.Duration(u.CacheTTL)), expires: expires})
	return ep, nil
}

// cachedEndpoint is a resolved job endpoint, valid for owner until until
// and, for a leased job, until the lease ends.
type cachedEndpoint struct {
	ep      jobs.Endpoint
	owner   string
	until   time.Time
	expires time.Time
}

// endpoints caches resolved endpoints by job id, for every source of the
// process (entries are dropped by jobEndpointChanged and by their TTL).
var endpoints sync.Map

// jobEndpointChanged is the job manager's OnChange hook: a job was
// written, so its cached endpoint goes.
func jobEndpointChanged(j *jobs.Job) { endpoints.Delete(j.ID) }

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

// setPath sets r's path from an escaped path.
func setPath(r *http.Request, escaped string) {
	dec, err := url.PathUnescape(escaped)
	if err != nil {
		dec = escaped
	}
	r.URL.Path, r.URL.RawPath = dec, escaped
	if r.URL.EscapedPath() != escaped {
		r.URL.RawPath = ""
	}
}

// resourceKind names a resource's service model as the catalogue does.
func resourceKind(res *adapters.Resource) string {
	switch g := res.Granted; {
	case g.IaaS != nil:
		return string(catalog.KindIaaS)
	case g.DSaaS != nil:
		return string(catalog.KindDSaaS)
	case g.PaaS != nil:
		return string(catalog.KindPaaS)
	case g.SaaS != nil:
		return string(catalog.KindSaaS)
	}
	return ""
}

// frontGeneric forwards to the job's endpoint for adapters that do not
// front requests themselves, adding the provider's Basic or bearer
// credentials. Digest needs a challenge per request, which a dynamic
// upstream cannot answer: such providers are refused.
func (u *JobUpstreams) frontGeneric(r *http.Request, ep jobs.Endpoint) (*url.URL, error) {
	bu, err := url.Parse(ep.URL)
	if err != nil || bu.Host == "" || (bu.Scheme != "http" && bu.Scheme != "https") {
		return nil, &adapters.Error{Kind: adapters.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: errors.New("this job has no native endpoint to front")}
	}
	// The job's endpoint is the root of what it may reach.
	base := strings.TrimRight(bu.EscapedPath(), "/")
	setPath(r, base+r.URL.EscapedPath())
	r.URL.Scheme, r.URL.Host, r.Host = bu.Scheme, bu.Host, bu.Host
	if p := u.app.provider(ep.ProviderID); p != nil && p.Auth != nil {
		switch p.Auth.Scheme {
		case httpclient.SchemeBasic:
			if bu.Scheme != "https" && !p.Auth.AllowCleartext && !isLoopbackHost(bu.Hostname()) {
				return nil, &adapters.Error{Kind: adapters.KindServer, Status: http.StatusBadGateway, Op: "proxy", Err: httpclient.ErrCleartext}
			}
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(p.Auth.Username+":"+p.Auth.Password)))
		case httpclient.SchemeBearer:
			if bu.Scheme != "https" && !p.Auth.AllowCleartext && !isLoopbackHost(bu.Hostname()) {
				return nil, &adapters.Error{Kind: adapters.KindServer, Status: http.StatusBadGateway, Op: "proxy", Err: httpclient.ErrCleartext}
			}
			r.Header.Set("Authorization", "Bearer "+p.Auth.Token)
		case httpclient.SchemeDigest:
			return nil, &adapters.Error{Kind: adapters.KindUnsupported, Status: http.StatusNotImplemented, Op: "proxy", Err: errors.New("the provider uses Digest authentication, which the transparent proxy cannot answer")}
		}
	}
	return &url.URL{Scheme: bu.Scheme, Host: bu.Host}, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// provider returns the configured provider with the given id.
func (a *App) provider(id string) *Provider {
	for _, p := range a.Providers {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// dialAddress is host:port of an upstream URL.
func dialAddress(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// refuse points r at the refusal responder with the status and reason of
// err. The request never reaches a provider.
func (u *JobUpstreams) refuse(r *http.Request, err error) []*reverseproxy.Upstream {
	status := http.StatusBadGateway
	var ae *adapters.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Status >= 400 && ae.Status < 600 && (ae.Kind == adapters.KindClient || ae.Kind == adapters.KindNotFound || ae.Op == "proxy"):
			status = ae.Status
		case ae.Kind == adapters.KindNotFound:
			status = http.StatusNotFound
		case ae.Kind == adapters.KindClient:
			status = http.StatusForbidden
		case ae.Kind == adapters.KindTimeout:
			status = http.StatusGatewayTimeout
		}
	}
	if c := u.logger.Check(zapcore.DebugLevel, "job route refused"); c != nil {
		c.Write(zap.Int("status", status), zap.Error(err))
	}
	for k := range r.Header {
		delete(r.Header, k) // nothing of the consumer's goes on, not even to loopback
	}
	r.Header.Set(refuseStatusHeader, strconv.Itoa(status))
	r.Header.Set(refuseReasonHeader, reasonOf(err))
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = "/", "", ""
	r.Host = u.refuser.addr
	return []*reverseproxy.Upstream{{Dial: u.refuser.addr}}
}

// reasonOf is the text a refused consumer sees: the cause without the
// operation prefixes.
func reasonOf(err error) string {
	var ae *adapters.Error
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

// watchHealth feeds the reverse proxy's passive health counts back into
// the catalogue until the configuration is unloaded.
func (u *JobUpstreams) watchHealth(ctx caddy.Context) {
	t := time.NewTicker(time.Duration(u.HealthInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			u.checkHealth()
		}
	}
}

func (u *JobUpstreams) checkHealth() {
	cat := u.app.catalogue()
	if cat == nil {
		return
	}
	u.watch.mu.Lock()
	type obs struct {
		provider string
		fails    int
	}
	var seen []obs
	for id, h := range u.watch.m {
		seen = append(seen, obs{id, h.Fails()})
	}
	u.watch.mu.Unlock()
	for _, o := range seen {
		healthy := o.fails < u.UnhealthyAfter
		if cat.SetHealthy(o.provider, healthy) {
			u.logger.Info("provider health changed by the transparent proxy's passive checks",
				zap.String("provider", o.provider), zap.Bool("healthy", healthy), zap.Int("recent_failures", o.fails))
		}
	}
}

// catalogue returns the engine's catalogue, or nil.
func (a *App) catalogue() *catalog.Catalog {
	if a.engine == nil {
		return nil
	}
	return a.engine.catalog
}

// UnmarshalCaddyfile sets up the source from Caddyfile tokens:
//
//	dynamic csb [<prefix>] {
//		prefix          <path>
//		header          <name>
//		unhealthy_after <n>
//		health_interval <duration>
//		cache_ttl       <duration>|off
//	}
func (u *JobUpstreams) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "csb"
	if d.NextArg() {
		u.Prefix = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "prefix", "header":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			if opt == "prefix" {
				if !strings.HasPrefix(v, "/") {
					return d.Errf("dynamic csb: prefix %q must begin with /", v)
				}
				u.Prefix = v
			} else {
				u.Header = v
			}
		case "unhealthy_after":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("dynamic csb: unhealthy_after %q is not a positive integer", v)
			}
			u.UnhealthyAfter = n
		case "health_interval":
			if err := durationArg(d, &u.HealthInterval); err != nil {
				return err
			}
		case "cache_ttl":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			if v == "off" {
				u.CacheTTL = -1
				break
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("dynamic csb: cache_ttl %q: want a positive duration or off", v)
			}
			u.CacheTTL = caddy.Duration(dur)
		default:
			return d.Errf("dynamic csb: unrecognized option %q", opt)
		}
	}
	return nil
}

// Headers between the source and its refusal responder.
const (
	refuseStatusHeader = "X-Csb-Refuse-Status"
	refuseReasonHeader = "X-Csb-Refuse-Reason"
)

// refuser is a loopback HTTP responder shared by every configuration: it
// answers refused job-route requests with the status and reason the
// source put in the request.
type refuser struct {
	addr string
	srv  *http.Server
}

func (r *refuser) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}

var refusers = caddy.NewUsagePool()

const refuserKey = "csb.proxy.refuser"

func loadRefuser() (*refuser, error) {
	v, _, err := refusers.LoadOrNew(refuserKey, func() (caddy.Destructor, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dynamic csb: refusal responder: %v", err)
		}
		rf := &refuser{addr: ln.Addr().String()}
		rf.srv = &http.Server{
			ReadHeaderTimeout: 5 * time.Second,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				status, err := strconv.Atoi(req.Header.Get(refuseStatusHeader))
				if err != nil || status < 400 || status > 599 {
					status = http.StatusNotFound
				}
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("Connection", "close")
				w.WriteHeader(status)
				fmt.Fprintf(w, "%d %s: %s\n", status, http.StatusText(status), req.Header.Get(refuseReasonHeader))
			}),
		}
		go rf.srv.Serve(ln)
		return rf, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*refuser), nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*JobUpstreams)(nil)
	_ caddy.CleanerUpper          = (*JobUpstreams)(nil)
	_ caddyfile.Unmarshaler       = (*JobUpstreams)(nil)
	_ reverseproxy.UpstreamSource = (*JobUpstreams)(nil)
)
