package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/httpclient"
)

// ProviderAuth is how the broker authenticates to a provider, for
// subscriptions and adapter calls. Placeholders such as {env.PROVIDER_PW}
// are expanded when the configuration is loaded, so secrets need not be
// written in the Caddyfile or JSON.
type ProviderAuth struct {
	// Scheme is "digest" (RFC 7616: the client answers the provider's
	// challenges with the strongest algorithm offered), "basic" or
	// "bearer".
	Scheme string `json:"scheme"`
	// Username and Password are the credentials of digest and basic.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Token is the bearer token.
	Token string `json:"token,omitempty"`
	// AllowCleartext lets basic and bearer credentials go over plain HTTP
	// to a host that is not loopback. Default false: such requests fail.
	AllowCleartext bool `json:"allow_cleartext,omitempty"`
}

// ProviderTLS is the TLS configuration toward a provider. Without it, the
// system's trust store is used, with TLS 1.2 at least.
type ProviderTLS struct {
	// CA is a PEM file of the CA certificates that sign the provider's
	// certificate. When set, only these are trusted for this provider.
	CA string `json:"ca,omitempty"`
	// ClientCert and ClientKey are PEM files of the certificate (chain)
	// and key the broker presents for mutual TLS.
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`
	// ServerName overrides the name the provider's certificate must carry
	// (and the SNI sent), for a provider reached by IP address.
	ServerName string `json:"server_name,omitempty"`
}

// provisionClient expands placeholders in the provider's auth and TLS
// settings and builds its HTTP client (reading the certificate files),
// restricted to what the provider's peer URL policy allows (every
// request, redirect and connection; see peer_policy.go). It makes no
// network call.
func (p *Provider) provisionClient() error {
	repl := caddy.NewReplacer()
	expand := func(s string) string { return repl.ReplaceKnown(s, "") }
	var cfg httpclient.Config
	if a := p.Auth; a != nil {
		cfg.Auth = httpclient.Auth{
			Scheme:         a.Scheme,
			Username:       expand(a.Username),
			Password:       expand(a.Password),
			Token:          expand(a.Token),
			AllowCleartext: a.AllowCleartext,
		}
	}
	if t := p.TLS; t != nil {
		cfg.TLS = httpclient.TLS{
			CAFile:         expand(t.CA),
			ClientCertFile: expand(t.ClientCert),
			ClientKeyFile:  expand(t.ClientKey),
			ServerName:     expand(t.ServerName),
		}
	}
	cfg.Peer = p.peer // nil for a Provider built by hand in a unit test
	client, err := httpclient.New(cfg)
	if err != nil {
		return fmt.Errorf("provider %q: %v", p.ID, err)
	}
	p.client = client
	return nil
}

// HTTPClient returns the client for calls to this provider: its TLS
// trust, its credentials (Digest, Basic or bearer), timeouts and
// connection reuse. It is built when the csb app is provisioned; the app
// hands it to the provider's adapter (SetHTTPClient) and uses it for
// subscriptions.
func (p *Provider) HTTPClient() *http.Client {
	if p.client == nil {
		// Not provisioned (a unit test building a Provider by hand): a
		// client with system trust and no credentials.
		c, _ := httpclient.New(httpclient.Config{})
		return c
	}
	return p.client
}
