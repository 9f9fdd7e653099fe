package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

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

// provisionClient expands placeholders in the provider's auth and TLS
// settings and builds its HTTP client (reading the certificate files),
// restricted to what the provider's peer URL policy allows (every
// request, redirect and connection; see peer_policy.go). It makes no
// network call.
func (p *Provider) provisionClient(ctx caddy.Context) error {
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
		tc, err := providerTLS(ctx, t, expand)
		if err != nil {
			return fmt.Errorf("provider %q: tls: %v", p.ID, err)
		}
		cfg.TLS = tc
	}
	cfg.Peer = p.peer // nil for a Provider built by hand in a unit test
	client, err := httpclient.New(cfg)
	if err != nil {
		return fmt.Errorf("provider %q: %v", p.ID, err)
	}
	p.client = client
	return nil
}

// providerTLS converts the provider's TLS settings, Caddy's own
// reverseproxy.TLSConfig (as reverse_proxy's transport http { tls }
// takes them), into the broker client's: the trusted CAs of its ca
// module (tls.ca_pool.source.*), the client certificate files and the
// server name, placeholders expanded in the last two. The client keeps
// its own floor of TLS 1.2. Options the broker's client does not apply
// are refused rather than ignored.
func providerTLS(ctx caddy.Context, t *reverseproxy.TLSConfig, expand func(string) string) (httpclient.TLS, error) {
	switch {
	case t.InsecureSkipVerify:
		return httpclient.TLS{}, errors.New("insecure_skip_verify is not supported toward providers")
	case t.ClientCertificateAutomate != "", t.Renegotiation != "", len(t.Curves) > 0, len(t.ExceptPorts) > 0, t.HandshakeTimeout != 0:
		return httpclient.TLS{}, errors.New("only ca, client_certificate_file, client_certificate_key_file and server_name apply to providers")
	}
	out := httpclient.TLS{
		ClientCertFile: expand(t.ClientCertificateFile),
		ClientKeyFile:  expand(t.ClientCertificateKeyFile),
		ServerName:     expand(t.ServerName),
	}
	if t.CARaw != nil || len(t.RootCAPEMFiles) > 0 || len(t.RootCAPool) > 0 {
		// Only the trusted pool is taken from Caddy's conversion: the
		// client loads the certificate files itself.
		trust := &reverseproxy.TLSConfig{CARaw: t.CARaw, RootCAPEMFiles: t.RootCAPEMFiles, RootCAPool: t.RootCAPool}
		tc, err := trust.MakeTLSClientConfig(ctx)
		if err != nil {
			return httpclient.TLS{}, err
		}
		if tc != nil {
			out.RootCAs = tc.RootCAs
		}
	}
	return out, nil
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
