package caddymodule

import (
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// Provider is one cloud service provider the broker fronts. In the
// Caddyfile:
//
//	csb {
//		provider <id> {
//			<subdirective> ...
//		}
//	}
type Provider struct {
	// ID is the provider's Cloud-Service-Provider-id. Required.
	ID string `json:"id"`

	// AdapterRaw is the csb.adapters.* module that speaks the provider's
	// native API. Caddyfile: adapter <name> { ... }.
	AdapterRaw json.RawMessage `json:"adapter,omitempty" caddy:"namespace=csb.adapters inline_key=name"`

	// Price is the provider's price per hour per cost unit (see
	// QuotaConfig.Units), used by the cheapest placement policy when no
	// service price is known, for a request's maximum price and for job
	// costs. It overrides the "price:" item of the provider's
	// notification label. Default: the label's price, if any.
	// Caddyfile: price <number>.
	Price *float64 `json:"price,omitempty"`

	// Weight is the provider's weight for the weighted placement policy.
	// Default 1. Caddyfile: weight <n>.
	Weight int `json:"weight,omitempty"`

	// Auth is how the broker authenticates to the provider (Digest, Basic
	// or bearer). Caddyfile: auth digest|basic <user> <password>, or auth
	// bearer <token>. See ProviderAuth.
	Auth *ProviderAuth `json:"auth,omitempty"`

	// TLS is the TLS trust toward the provider, in Caddy's own shape (that
	// of reverse_proxy's transport http { tls }): the ca module (a
	// tls.ca_pool.source: only these CAs are trusted for the provider),
	// client_certificate_file and client_certificate_key_file for mutual
	// TLS, and server_name, the name the provider's certificate must
	// carry and the SNI sent (for a provider reached by IP address).
	// Other options are refused. Default: the system's trust store, with
	// TLS 1.2 at least. Caddyfile: tls { ca <file>; client_cert <cert>
	// <key>; server_name <name> }.
	TLS *reverseproxy.TLSConfig `json:"tls,omitempty"`

	// AllowedHosts are host patterns, besides the provider's configured
	// origins, that URLs from this provider or its publishers may name:
	// "api.example.org" (that host), "*.example.org" (any host below it,
	// not the domain itself), each optionally with ":port"; IP literals
	// as in URLs ("192.0.2.7", "[2001:db8::7]"). The broker's adapters
	// call them like the provider's own origins, with the provider's
	// credentials; the job route proxies to them without the provider's
	// Basic, bearer or Digest credentials, which it adds only for the
	// configured origins (such a host may be a consumer's: an app host of
	// a PaaS provider).
	// The configured origins are the scheme, host and port of the
	// adapters' URLs (endpoint, auth_url, ...), of subscribe's URL, of uri
	// and of the static services' uri and link href; they are always
	// allowed. Every other URL a peer names — a Link href or
	// Cloud-Service-URI in a notification, an href in a provider's answer,
	// a redirect, a job's endpoint — is refused: the notification gets
	// status 402, the job fails with a reason naming the URL, and the
	// job route does not proxy to it. Default: none (configured origins
	// only). Caddyfile: allowed_hosts <pattern>... (peer_policy.go).
	AllowedHosts []string `json:"allowed_hosts,omitempty"`

	// AllowPrivate lets hosts matched by AllowedHosts be, or resolve to,
	// addresses that are not public: loopback, private (RFC 1918, RFC
	// 4193), link-local (which includes the 169.254.169.254 metadata
	// service), shared and reserved ranges. Addresses are checked when
	// connecting, after name resolution. Configured origins need no
	// opt-in (configuring them is one); Caddy's admin endpoint is refused
	// even with it. Default false. Caddyfile: allow_private.
	AllowPrivate bool `json:"allow_private,omitempty"`

	// Publishers are the authenticated users (as {http.auth.user.id})
	// allowed to send notifications describing this provider; "*" allows
	// anyone who reached the publish endpoint. Default: nobody.
	// Caddyfile: publishers <user>... (subscriptions.go).
	Publishers []string `json:"publishers,omitempty"`

	// Subscribe makes the broker subscribe to the provider's notifications.
	// Caddyfile: subscribe <url> { expires <d>; frequency <d> }
	// (subscriptions.go).
	Subscribe *Subscribe `json:"subscribe,omitempty"`

	// Push accepts notifications from the provider without a subscription,
	// under the ids listed. Caddyfile: push <id>... { expires <d> }
	// (subscriptions.go).
	Push *Push `json:"push,omitempty"`

	// Services are the provider's services declared in the configuration
	// (static catalogue entries). Caddyfile: service <id> { ... }
	// (catalog.go).
	Services []StaticService `json:"services,omitempty"`

	// Status, URI, EncryptionSupport and Label are the provider's
	// catalogue entry while it has published nothing: status active
	// (default), deactivated or unavailable. Caddyfile: status, uri,
	// encryption_support, label (catalog.go).
	Status            string `json:"status,omitempty"`
	URI               string `json:"uri,omitempty"`
	EncryptionSupport *bool  `json:"encryption_support,omitempty"`
	Label             string `json:"label,omitempty"`

	// Discover has the provider's adapter discover its services.
	// Caddyfile: discover [<interval>] (catalog.go).
	Discover *Discovery `json:"discover,omitempty"`

	// MoreAdaptersRaw are further csb.adapters.* modules, for a provider
	// whose native APIs differ by service model (CIMI for IaaS, CDMI for
	// DSaaS). Caddyfile: a second adapter subdirective.
	MoreAdaptersRaw []json.RawMessage `json:"more_adapters,omitempty" caddy:"namespace=csb.adapters inline_key=name"`

	client   *http.Client       // built by provisionClient (provider_client.go)
	peer     *peerurl.Policy    // built by provisionPeerPolicy (peer_policy.go)
	modules  []any              // the adapter modules, for the client and policy hand-over
	adapter  contract.Adapter   // the primary adapter, adapters[0] (set by loadAdapters)
	adapters []contract.Adapter // loaded by loadAdapters, AdapterRaw first
	metered  []contract.Adapter // adapters[i] with its calls timed and counted (metrics.go)
}
