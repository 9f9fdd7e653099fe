package caddymodule

// The peer URL policy (issue 15, item 2): every URL that comes from a
// peer — a publisher's Link href or Cloud-Service-URI, an href in a
// provider's answer, a redirect, a job's endpoint — is checked before the
// broker calls it or proxies to it. The rules are broker/peerurl's; this
// file builds one policy per provider from its configuration.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// PeerOriginsReporter is implemented by adapter modules that call URLs the
// operator configured (an endpoint, an auth URL): PeerOrigins returns
// them, placeholders unexpanded or expanded. Their scheme, host and port
// become origins of the provider's peer URL policy.
type PeerOriginsReporter interface {
	PeerOrigins() []string
}

// PeerHostsReporter is implemented by adapter modules whose defaults
// reach hosts the operator did not write (AWS's regional endpoints):
// PeerHosts returns host patterns added to the provider's allowed hosts.
type PeerHostsReporter interface {
	PeerHosts() []string
}

// PeerURLCheckSetter is implemented by adapter modules that hand out or
// follow URLs from a peer without calling them through the provider's
// HTTP client (the link adapter): the app gives them the provider's check.
type PeerURLCheckSetter interface {
	SetPeerURLCheck(func(*url.URL) error)
}

// configuredOrigins are the URLs the operator configured for the
// provider: its adapters' (PeerOriginsReporter), its subscribe URL, its
// uri, and the uri and Link href of its static services. Placeholders
// are expanded.
func (p *Provider) configuredOrigins() []string {
	var out []string
	for _, m := range p.modules {
		if r, ok := m.(PeerOriginsReporter); ok {
			out = append(out, r.PeerOrigins()...)
		}
	}
	if p.Subscribe != nil {
		out = append(out, p.Subscribe.URL)
	}
	out = append(out, p.URI)
	for _, s := range p.Services {
		out = append(out, s.URI)
		if s.Link != nil {
			out = append(out, s.Link.Href)
		}
	}
	repl := caddy.NewReplacer()
	kept := out[:0]
	for _, o := range out {
		o = strings.TrimSpace(repl.ReplaceAll(o, ""))
		if u, err := url.Parse(o); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
			kept = append(kept, o)
		}
	}
	return kept
}

// ProvisionPeerPolicy builds the provider's peer URL policy: its
// configured origins, its allowed_hosts (and those its adapters' defaults
// reach), allow_private, and Caddy's admin endpoint addresses, which are
// always refused. Refusals are logged with the provider's id.
func (p *Provider) ProvisionPeerPolicy(admin []string, logger *zap.Logger) error {
	hosts := append([]string(nil), p.AllowedHosts...)
	for _, m := range p.modules {
		if r, ok := m.(PeerHostsReporter); ok {
			hosts = append(hosts, r.PeerHosts()...)
		}
	}
	log := logger.Named("peer_url").With(zap.String("provider_id", p.ID))
	pol, err := peerurl.New(peerurl.Config{
		Origins:      p.configuredOrigins(),
		AllowedHosts: hosts,
		AllowPrivate: p.AllowPrivate,
		Admin:        admin,
		OnRefuse: func(e *peerurl.Error) {
			if ce := log.Check(zap.WarnLevel, "peer url refused"); ce != nil {
				ce.Write(zap.String("url", e.URL), zap.String("reason", e.Reason()))
			}
		},
	})
	if err != nil {
		return fmt.Errorf("provider %q: %v", p.ID, err)
	}
	p.peer = pol
	return nil
}

// handPeerPolicy gives the provider's adapter modules its HTTP client and
// its URL check.
func (p *Provider) handPeerPolicy() {
	for _, m := range p.modules {
		if s, ok := m.(HTTPClientSetter); ok && p.client != nil {
			s.SetHTTPClient(p.client)
		}
		if s, ok := m.(PeerURLCheckSetter); ok && p.peer != nil {
			pol := p.peer
			s.SetPeerURLCheck(func(u *url.URL) error {
				// Also resolve an allowed host's name now, so a job on a
				// host that resolves inside fails instead of being
				// granted a URL the route will refuse.
				ctx, cancel := context.WithTimeout(context.Background(), peerResolveTimeout)
				defer cancel()
				return pol.CheckResolved(ctx, u)
			})
		}
	}
}

// peerResolveTimeout bounds the name resolution of CheckPeerURL and the
// link adapter's check.
const peerResolveTimeout = 5 * time.Second

// errUnknownProvider refuses a URL for a provider that is not configured.
var errUnknownProvider = errors.New("provider not configured")

// CheckPeerURL reports whether the broker may call, or proxy to, u on
// behalf of provider providerID. u came from a peer: a publisher's Link
// href or Cloud-Service-URI, a provider's answer, a job's endpoint. A
// non-nil error (a *peerurl.Error, or one naming an unknown provider)
// says why u is refused; callers turn it into the protocol status of the
// notification or job, or a 403 on the job route. The refusal is logged
// (provider_id, url, reason).
//
// The URL is judged against the provider's configured origins, its
// allowed_hosts and allow_private (see Provider). A host name matched by
// allowed_hosts is also resolved here and its addresses judged; a caller
// that dials u itself should still dial through the policy
// (peerPolicy(providerID).DialContext), since a name may resolve
// differently a moment later.
func (a *App) CheckPeerURL(providerID string, u *url.URL) error {
	_, err := a.PeerDialAddress(providerID, u)
	return err
}

// PeerDialAddress checks u as CheckPeerURL does and returns the address
// to connect to for it: for a host that is not one of the provider's
// configured origins, an address the check judged (ip:port), so that a
// client resolving the name again later cannot be sent elsewhere (DNS
// rebinding; peerurl.Policy.ResolveDial).
func (a *App) PeerDialAddress(providerID string, u *url.URL) (string, error) {
	pol := a.peerPolicy(providerID)
	if pol == nil {
		if a.logger != nil {
			a.logger.Warn("peer url refused", zap.String("provider_id", providerID), zap.String("reason", errUnknownProvider.Error()))
		}
		return "", fmt.Errorf("provider %q: %w", providerID, errUnknownProvider)
	}
	ctx, cancel := context.WithTimeout(a.ctxOrBackground(), peerResolveTimeout)
	defer cancel()
	return pol.ResolveDial(ctx, u)
}

// ProviderOrigin reports whether u's scheme, host and port are one of
// the provider's own endpoints: the origins the operator configured for
// it (its adapters' URLs, subscribe's URL, uri, and its static services'
// uri and link href). A host the peer URL policy allows only through
// allowed_hosts, or an adapter's default host patterns, is not: such a
// host may be a consumer's (an app host of a PaaS provider), and the job
// route forwards to it without the provider's credentials.
func (a *App) ProviderOrigin(providerID string, u *url.URL) bool {
	pol := a.peerPolicy(providerID)
	return pol != nil && pol.Origin(u)
}

// ctxOrBackground is the app's context, or a background one for an app
// that was not provisioned (a unit test).
func (a *App) ctxOrBackground() context.Context {
	if a.ctx.Context != nil {
		return a.ctx
	}
	return context.Background()
}

// peerPolicy returns the peer URL policy of the provider, nil when the
// provider is not configured or not provisioned.
func (a *App) peerPolicy(providerID string) *peerurl.Policy {
	if p := a.Provider(providerID); p != nil {
		return p.peer
	}
	return nil
}

// adminAddresses returns the listen addresses of Caddy's admin endpoint
// (local and remote) in the configuration being provisioned, or Caddy's
// default when the configuration sets none.
//
// Caddy exports no accessor for its admin configuration, so this reads
// the context's configuration through reflection, read-only; should
// Caddy's internals change, it falls back to caddy.DefaultAdminListen
// (which honours CADDY_ADMIN).
func adminAddresses(ctx caddy.Context) []string {
	out := []string{caddy.DefaultAdminListen}
	defer func() { _ = recover() }() // a changed Caddy: keep the default
	cfg := reflect.ValueOf(ctx).FieldByName("cfg")
	if !cfg.IsValid() || cfg.Kind() != reflect.Pointer || cfg.IsNil() {
		return out
	}
	admin := cfg.Elem().FieldByName("Admin")
	if !admin.IsValid() || admin.Kind() != reflect.Pointer || admin.IsNil() {
		return out
	}
	repl := caddy.NewReplacer()
	if l := admin.Elem().FieldByName("Listen"); l.IsValid() && l.Kind() == reflect.String && l.String() != "" {
		out = append(out, repl.ReplaceAll(l.String(), ""))
	}
	if r := admin.Elem().FieldByName("Remote"); r.IsValid() && r.Kind() == reflect.Pointer && !r.IsNil() {
		if l := r.Elem().FieldByName("Listen"); l.IsValid() && l.Kind() == reflect.String && l.String() != "" {
			out = append(out, repl.ReplaceAll(l.String(), ""))
		}
	}
	return out
}

// Provider returns the configured provider with the given id.
func (a *App) Provider(id string) *Provider {
	for _, p := range a.Providers {
		if p.ID == id {
			return p
		}
	}
	return nil
}
