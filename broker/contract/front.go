package contract

import (
	"context"
	"net/http"
	"net/url"
)

// Fronter is implemented by adapters whose resources the broker's
// transparent proxy (http.reverse_proxy.upstreams.csb) can front: a
// consumer sends native API requests to the broker's job route, and the
// proxy forwards them to the provider holding the job.
//
// Front is called with r already stripped of the job route's prefix and of
// every consumer credential: r.URL.Path is the path below the route
// (starting with "/"), r.URL.RawQuery the consumer's query. The broker has
// cleaned the path with CleanRoutePath first: it holds no dot-segment,
// encoded slash, backslash or control byte, and never climbs above the
// route. Front must
//
//   - refuse (with an *Error of kind KindNotFound, or KindClient for a
//     request the job's owner may not make) anything outside what res
//     holds, including native features that reach other resources
//     (server-side copies, manifests, ACLs);
//   - rewrite r.URL.Path onto the native endpoint, set r.Host, and add the
//     provider credential (a token header or a request signature);
//   - return the upstream base URL (scheme and host) to dial.
//
// Front may be called again for the same consumer request on a retry; it
// then receives a fresh copy of the stripped request.
//
// The broker calls its peer URL policy on the upstream Front returns
// before forwarding. An adapter that does not implement Fronter has its
// jobs fronted by the broker at Resource.Endpoint (else Resource.URI):
// requests reach that URL's path and the paths below it, nothing else.
// Such an adapter must therefore set Endpoint to a URL that only the job
// reaches, never to the provider's root.
type Fronter interface {
	Front(ctx context.Context, r *http.Request, res *Resource) (*url.URL, error)
}

// BrokerAuthenticated is implemented by a Fronter whose native calls
// authenticate through the HTTP client the broker hands it
// (SetHTTPClient: Basic, bearer or Digest from the provider's auth), and
// which therefore holds no credential of its own. When
// BrokerAuthenticates reports true, Front scopes and rewrites r but adds
// no credential; the broker adds the provider's after Front returns and
// after its peer URL policy accepted the upstream.
type BrokerAuthenticated interface {
	BrokerAuthenticates() bool
}
