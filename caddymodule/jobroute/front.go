package jobroute

// How the transparent proxy fronts a job whose adapter does not
// (contract.Fronter): the request goes to the job's native endpoint with
// the provider's credentials.

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

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

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
func resourceKind(res *contract.Resource) string {
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
// front requests themselves: the endpoint's path and the cleaned route
// path below it, never anything beside or above it. The provider's
// credentials go only to an upstream the peer URL policy accepts.
func (h *JobRoute) frontGeneric(r *http.Request, ep jobs.Endpoint) (*url.URL, upstreamAddr, *digest.Transport, error) {
	bu, err := url.Parse(ep.URL)
	if err != nil || bu.Host == "" || (bu.Scheme != "http" && bu.Scheme != "https") {
		return nil, upstreamAddr{}, nil, &contract.Error{Kind: contract.KindNotFound, Status: http.StatusNotFound, Op: "proxy", Err: errors.New("this job has no native endpoint to front")}
	}
	// The job's endpoint is the root of what it may reach; r's path is
	// clean (contract.CleanRoutePath), so base + path stays below it.
	base := strings.TrimRight(bu.EscapedPath(), "/")
	setPath(r, base+r.URL.EscapedPath())
	r.URL.Scheme, r.URL.Host, r.Host = bu.Scheme, bu.Host, bu.Host
	upstream := &url.URL{Scheme: bu.Scheme, Host: bu.Host}
	addr, err := h.checkUpstream(ep.ProviderID, upstream, r)
	if err != nil {
		return nil, upstreamAddr{}, nil, err
	}
	dt, err := h.addProviderAuth(r, ep.ProviderID, upstream)
	return upstream, addr, dt, err
}

// upstreamAddr is where the reverse proxy may connect for an upstream
// the peer URL check accepted.
type upstreamAddr struct {
	// dial is the address handed to the reverse proxy: for plain HTTP,
	// pinned; for HTTPS, the upstream's name, which the provider's
	// certificate is verified against.
	dial string
	// pinned is the address the check judged (ip:port), or the name of a
	// configured origin (which the check trusts whatever it resolves
	// to). The reverse proxy dials it for HTTPS too when its transport
	// does not verify the certificate against the name it dials
	// (JobUpstreams.pin).
	pinned string
}

// checkUpstream refuses (403) an upstream the peer URL policy does not
// accept for the provider, before any credential is added or any request
// made toward it. It returns the addresses the reverse proxy may dial:
// for plain HTTP to a host that is not a configured origin, an address
// the check judged, not the name, which the proxy would resolve again
// (DNS rebinding: a name that answered a public address to the check and
// a private one to the proxy's lookup). HTTPS keeps the name, which the
// provider's certificate is verified against, unless the reverse proxy's
// transport verifies no such thing (see upstreamAddr.pinned).
func (h *JobRoute) checkUpstream(providerID string, upstream *url.URL, r *http.Request) (upstreamAddr, error) {
	target := &url.URL{Scheme: upstream.Scheme, Host: upstream.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	pinned, err := h.app.PeerDialAddress(providerID, target)
	if err != nil {
		return upstreamAddr{}, &contract.Error{Kind: contract.KindClient, Status: http.StatusForbidden, Op: "proxy", Err: fmt.Errorf("the job's native endpoint is refused: %w", err)}
	}
	if !strings.EqualFold(upstream.Scheme, "http") {
		return upstreamAddr{dial: dialAddress(upstream), pinned: pinned}, nil
	}
	return upstreamAddr{dial: pinned, pinned: pinned}, nil
}

// addProviderAuth adds the provider's credentials to r, bound for
// upstream: Basic or a bearer token, or Digest answered from the
// provider's own Digest client, which it returns for the retries of the
// request. They go only to the provider's own endpoints
// (App.ProviderOrigin): an upstream the peer URL policy allows through
// allowed_hosts alone, such as a PaaS provider's app host, may be run by
// a consumer, and is sent the request without them.
func (h *JobRoute) addProviderAuth(r *http.Request, providerID string, upstream *url.URL) (*digest.Transport, error) {
	p := h.app.Provider(providerID)
	if p == nil || p.Auth == nil {
		return nil, nil
	}
	if !h.app.ProviderOrigin(providerID, upstream) {
		if c := h.logger.Check(zapcore.DebugLevel, "job route upstream is not the provider's own endpoint: no provider credentials"); c != nil {
			c.Write(zap.String("provider", providerID), zap.String("upstream", upstream.Scheme+"://"+upstream.Host))
		}
		return nil, nil
	}
	cleartext := func() error {
		if upstream.Scheme != "https" && !p.Auth.AllowCleartext && !isLoopbackHost(upstream.Hostname()) {
			return &contract.Error{Kind: contract.KindServer, Status: http.StatusBadGateway, Op: "proxy", Err: httpclient.ErrCleartext}
		}
		return nil
	}
	expand := caddy.NewReplacer().ReplaceKnown // as provisionClient expands them
	switch p.Auth.Scheme {
	case httpclient.SchemeBasic:
		if err := cleartext(); err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(expand(p.Auth.Username, "")+":"+expand(p.Auth.Password, ""))))
	case httpclient.SchemeBearer:
		if err := cleartext(); err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "Bearer "+expand(p.Auth.Token, ""))
	case httpclient.SchemeDigest:
		dt, _ := p.HTTPClient().Transport.(*digest.Transport)
		if dt == nil {
			return nil, &contract.Error{Kind: contract.KindServer, Status: http.StatusBadGateway, Op: "proxy", Err: errors.New("the provider's Digest client is not set up")}
		}
		if err := authorizeDigest(r, dt); err != nil {
			return nil, err
		}
		return dt, nil
	}
	return nil, nil
}

// authorizeDigest answers the provider's Digest challenge for r with the
// provider's Digest client (digest.Transport.Authorize): the challenge
// its own calls hold, else one it fetches now. The password never leaves
// the broker; the provider sees a response computed for r alone.
func authorizeDigest(r *http.Request, dt *digest.Transport) error {
	r.Header.Del("Authorization")
	if _, err := dt.Authorize(r.Context(), r); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		return &contract.Error{Kind: contract.KindServer, Status: status, Op: "proxy", Err: fmt.Errorf("answering the provider's Digest challenge: %w", err)}
	}
	return nil
}

// reauthorizeDigest gives a retried request to a Digest provider new
// credentials: when the try before got a 401 (a stale nonce), the
// challenge that came with it first; in any case the next nonce count,
// since the provider takes a repeated count for a replay.
func reauthorizeDigest(r *http.Request, dt *digest.Transport) error {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if status, _ := repl.Get("http.reverse_proxy.status_code"); fmt.Sprint(status) == "401" {
			if chal, ok := repl.GetString("http.reverse_proxy.header.Www-Authenticate"); ok && chal != "" {
				dt.Challenged(r, []string{chal})
			}
		}
	}
	return authorizeDigest(r, dt)
}

// lastStatus is the status of the reverse proxy's previous try of r, or
// 0 before the first.
func lastStatus(r *http.Request) int {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if status, ok := repl.Get("http.reverse_proxy.status_code"); ok {
			n, _ := strconv.Atoi(fmt.Sprint(status))
			return n
		}
	}
	return 0
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
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
