package openstack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/adapters/internal/front"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// tokenRefreshMargin is how long before its expiry the proxy path
// replaces a token, so a forwarded request never carries one that
// expires in flight.
const tokenRefreshMargin = 2 * time.Minute

// credentialHeaders are the OpenStack credential headers a consumer might
// send; Front removes them before adding the provider's token.
var credentialHeaders = []string{"X-Auth-Token", "X-Storage-Token", "X-Service-Token", "X-Auth-User", "X-Auth-Key", "X-Storage-User", "X-Storage-Pass", "Authorization"}

// Front prepares a consumer request for the job's native API (see
// contract.Fronter). A storage job exposes its Swift container: the route
// holds an account-like storage URL in which only the job's container
// exists, so the swift CLI and other Swift clients work unchanged. A
// server job exposes GET on its Nova server and the server actions of
// frontedNovaActions.
func (a *Adapter) Front(ctx context.Context, r *http.Request, res *contract.Resource) (*url.URL, error) {
	var base string
	switch res.Native[nativeKind] {
	case kindStorage:
		if err := checkSwiftRequest(r, res.Native[nativeContainer]); err != nil {
			return nil, err
		}
		base = res.Native[nativeStorageURL]
		front.NoReuseAfterContainerHEAD(r)
	case kindServer:
		if err := checkNovaRequest(r, res.Native[nativeServerID]); err != nil {
			return nil, err
		}
		base = res.Endpoint
		if base == "" {
			u := res.URI
			base = u[:strings.LastIndex(u, "/servers/")]
		}
	default:
		return nil, foreign(res)
	}
	tok, exp, err := a.s.token(ctx)
	if err != nil {
		return nil, err
	}
	if !exp.IsZero() && a.clock.Now().Add(tokenRefreshMargin).After(exp) {
		if err := a.s.reauth(ctx, tok); err != nil {
			return nil, err
		}
		if tok, _, err = a.s.token(ctx); err != nil {
			return nil, err
		}
	}
	return rewrite(r, base, tok)
}

// rewrite points r at base + r's path and sets the token.
func rewrite(r *http.Request, base, tok string) (*url.URL, error) {
	upstream, err := front.Rebase(r, base)
	if err != nil {
		return nil, err
	}
	for _, h := range credentialHeaders {
		r.Header.Del(h)
	}
	r.Header.Set("X-Auth-Token", tok)
	return upstream, nil
}

// swiftDeniedHeaders reach outside the job's container (ACLs that open it
// to others, sync and versioning into other containers, temp URL keys,
// account settings) or keep it from being removed (object versioning:
// Swift refuses to delete a container whose versions remain): a consumer
// request carrying one is refused.
var swiftDeniedHeaders = []string{
	"X-Container-Read", "X-Container-Write", "X-Container-Sync-To", "X-Container-Sync-Key",
	"X-Versions-Location", "X-History-Location", "X-Versions-Enabled",
	"X-Container-Meta-Temp-Url-Key", "X-Container-Meta-Temp-Url-Key-2",
	"X-Copy-From-Account", "Destination-Account", "X-Symlink-Target-Account",
}

// swiftSameContainerHeaders name another object ("container/object"):
// allowed only inside the job's container.
var swiftSameContainerHeaders = []string{"X-Copy-From", "Destination", "X-Object-Manifest", "X-Symlink-Target"}

// checkSwiftRequest allows requests on the job's container c and the
// objects in it, and refuses what would reach other containers.
func checkSwiftRequest(r *http.Request, c string) error {
	if c == "" {
		return contract.NotInJob(r.URL.Path)
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	first, rest, _ := strings.Cut(p, "/")
	if first != c {
		// The account level (listing, metadata) and other containers do
		// not exist for this job.
		return contract.NotInJob("/" + first)
	}
	if rest == "" && r.Method == http.MethodDelete {
		return contract.Refused("the job's container is deleted by removing the job through the broker")
	}
	for k := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-account-") || strings.HasPrefix(strings.ToLower(k), "x-remove-account-") {
			return contract.Refused("header %s changes the provider's account", k)
		}
	}
	for _, h := range swiftDeniedHeaders {
		if r.Header.Get(h) != "" {
			return contract.Refused("header %s is not allowed through the broker", h)
		}
	}
	for _, h := range swiftSameContainerHeaders {
		v := r.Header.Get(h)
		if v == "" {
			continue
		}
		if dec, err := url.PathUnescape(v); err == nil {
			v = dec
		}
		target, _, _ := strings.Cut(strings.TrimPrefix(v, "/"), "/")
		if target != c {
			return contract.Refused("header %s must name an object of container %q", h, c)
		}
	}
	q := r.URL.Query()
	if q.Has("bulk-delete") {
		// Swift's bulk middleware (in its default proxy pipeline) deletes
		// what the body lists, "/container/object" paths relative to the
		// account, whatever container the request's path names.
		return contract.Refused("bulk deletes (bulk-delete) reach the whole account and are not allowed through the broker")
	}
	if q.Get("multipart-manifest") == "put" {
		// A static large object manifest lists segments by path, which
		// could name other containers; refuse rather than parse it.
		return contract.Refused("static large object manifests (multipart-manifest=put) are not allowed through the broker")
	}
	return nil
}

// frontedNovaActions are the server actions a job's owner may send through
// the proxy: power and console operations on the job's own server. Actions
// that change what the server is built from or attached to (rebuild,
// resize, attach, migrate) go through the broker.
var frontedNovaActions = map[string]bool{
	"os-start": true, "os-stop": true, "reboot": true, "suspend": true, "resume": true,
	"pause": true, "unpause": true, "os-getConsoleOutput": true,
}

// checkNovaRequest allows reading the job's server (and its
// sub-resources) and a few actions on it.
func checkNovaRequest(r *http.Request, id string) error {
	prefix := "/servers/" + id
	if id == "" || (r.URL.Path != prefix && !strings.HasPrefix(r.URL.Path, prefix+"/")) {
		return contract.NotInJob(r.URL.Path)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return nil
	case http.MethodPost:
		if r.URL.Path == prefix+"/remote-consoles" {
			return nil
		}
		if r.URL.Path != prefix+"/action" {
			return contract.Refused("POST %s is not allowed through the broker", r.URL.Path)
		}
	default:
		return contract.Refused("%s on the server goes through the broker", r.Method)
	}
	if r.Body == nil {
		return contract.Refused("server action without a body")
	}
	body, err := front.ReadAction(r, "server action")
	if err != nil {
		return err
	}
	var action map[string]json.RawMessage
	if err := json.Unmarshal(body, &action); err != nil || len(action) != 1 {
		return contract.Refused("server action body must be a JSON object with one action")
	}
	for name := range action {
		if !frontedNovaActions[name] {
			return contract.Refused("server action %q goes through the broker", name)
		}
	}
	contract.ResetBody(r, body)
	return nil
}

// FrontRefused obtains a new token after Nova or Swift refused the one a
// fronted request carried (contract.FrontReauthenticator), and puts it on
// r. When the refused token was already replaced (another request, or a
// native call, re-authenticated first), it only puts the current one on r.
func (a *Adapter) FrontRefused(ctx context.Context, r *http.Request, res *contract.Resource) error {
	switch res.Native[nativeKind] {
	case kindServer, kindStorage:
	default:
		return foreign(res)
	}
	refused := r.Header.Get("X-Auth-Token")
	if refused == "" {
		return nil
	}
	if err := a.s.reauth(ctx, refused); err != nil {
		return err
	}
	tok, _, err := a.s.token(ctx)
	if err != nil {
		return err
	}
	r.Header.Set("X-Auth-Token", tok)
	return nil
}

var (
	_ contract.Fronter              = (*Adapter)(nil)
	_ contract.FrontReauthenticator = (*Adapter)(nil)
)
