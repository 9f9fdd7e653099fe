// Package front holds what the adapters' Front methods (contract.Fronter)
// share: the scoped route of the adapters whose route stands for the
// directory of their native endpoint (cdmi, cimi, occi), the rebasing of
// a request onto a native endpoint (aws, openstack), and the bounded
// reading of a body Front checks.
package front

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Scoped is the Front of an adapter whose route stands for the directory
// of its native endpoint, in which only the job's resources exist. check
// allows r, whose path p is a cleaned route path, or refuses it; base
// gives the route paths of the hrefs the job's resource holds
// (FrontBase.RoutePath). An allowed r is pointed at base and the
// upstream to dial returned. No credential is added: the broker adds its
// own (BrokerAuthenticated).
func Scoped(endpoint string, r *http.Request, check func(base *contract.FrontBase, p string) error) (*url.URL, error) {
	base, err := contract.NewFrontBase(endpoint)
	if err != nil {
		return nil, err
	}
	if err := check(base, r.URL.Path); err != nil {
		return nil, err
	}
	return base.Rewrite(r), nil
}

// MaxActionBody bounds the body of a fronted action (or query API form),
// which Front reads whole to check.
const MaxActionBody = 64 << 10

// ReadAction reads the body of a fronted action for Front to check, at
// most MaxActionBody bytes; a longer one is refused ("<what> body larger
// than ... bytes"). Front puts an allowed body back with
// contract.ResetBody.
func ReadAction(r *http.Request, what string) ([]byte, error) {
	body, over, err := contract.ReadBody(r, MaxActionBody)
	if err != nil {
		return nil, err
	}
	if over {
		return nil, contract.Refused("%s body larger than %d bytes", what, MaxActionBody)
	}
	return body, nil
}

// Rebase points r, whose path is relative to a native endpoint, at base
// (scheme, host, base's path + r's path) and returns the upstream to
// dial. It adds no credential and leaves the query as it is.
func Rebase(r *http.Request, base string) (*url.URL, error) {
	bu, err := url.Parse(base)
	if err != nil || bu.Host == "" {
		return nil, &contract.Error{Kind: contract.KindServer, Op: "front", Err: fmt.Errorf("bad native endpoint %q", base)}
	}
	raw := strings.TrimRight(bu.EscapedPath(), "/") + r.URL.EscapedPath()
	r.URL.Path = strings.TrimRight(bu.Path, "/") + r.URL.Path
	r.URL.RawPath = raw
	if r.URL.EscapedPath() != raw {
		// Not a valid encoding of Path: let Go encode Path itself.
		r.URL.RawPath = ""
	}
	r.URL.Scheme, r.URL.Host = bu.Scheme, bu.Host
	r.Host = bu.Host
	return &url.URL{Scheme: bu.Scheme, Host: bu.Host}, nil
}

// NoReuseAfterContainerHEAD marks a HEAD on a container or bucket (a
// route path of one segment) Close: Swift 2.30 on eventlet 0.33, and its
// s3api, answer it with a chunked 204 that carries a body, whose bytes a
// reused connection would read as the next response.
func NoReuseAfterContainerHEAD(r *http.Request) {
	if r.Method == http.MethodHead && !strings.Contains(strings.Trim(r.URL.Path, "/"), "/") {
		r.Close = true
	}
}
