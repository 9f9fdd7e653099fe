package caddymodule

// How the transparent proxy fronts a job whose adapter does not
// (adapters.Fronter): the request goes to the job's native endpoint with
// the provider's credentials.

import (
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-csb/caddy-csb/adapters"
	"github.com/caddy-csb/caddy-csb/broker/catalog"
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
