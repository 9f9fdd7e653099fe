package csbadapters

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
)

func init() {
	caddy.RegisterModule(OCCIAdapter{})
}

// OCCIAdapter is the csb.adapters.occi module: it brokers IaaS requests to
// a provider that speaks OGF OCCI 1.1/1.2 over the HTTP text rendering.
// The mapping between the draft's elements and OCCI is documented in
// adapters/occi/README.md.
//
// A Caddy module's Provision(caddy.Context) and an adapter's Provision
// cannot be one method, so the module is the adapter's configuration and
// Adapter returns the adapter it built.
type OCCIAdapter struct {
	// Endpoint is the OCCI server's base URL. Required. Placeholders such
	// as {env.OCCI_URL} are expanded.
	Endpoint string `json:"endpoint"`

	// Rendering is the text rendering used both ways: "text/plain"
	// (rendering in the body) or "text/occi" (in headers). Default
	// text/plain.
	Rendering string `json:"rendering,omitempty"`

	// OSTemplate is the identifier (scheme#term) of an os_tpl mixin every
	// created compute gets. Default none.
	OSTemplate string `json:"os_tpl,omitempty"`

	// Network is the location of an existing network that network
	// interfaces attach to; when set, the adapter creates and deletes no
	// networks. Default: one network per job, when the job asks for one.
	Network string `json:"network,omitempty"`

	// NoStart leaves created computes, storages and networks in the state
	// the server made them in. Default false: they are started, brought
	// online or up, unless the request asks otherwise.
	NoStart bool `json:"no_start,omitempty"`

	// ServiceID is the Cloud-Service-id of the service discovery describes
	// for the provider's kinds. Default "occi".
	ServiceID string `json:"service_id,omitempty"`

	// Offer bounds that service: OCCI cannot say how big a machine may be.
	// Default: unbounded.
	Offer *OCCIOffer `json:"offer,omitempty"`

	// Retries is how many times an idempotent request (GET, PUT, DELETE)
	// is repeated after a transport error or a 502/503/504. Default 2; 0
	// in JSON means the default, -1 means none.
	Retries int `json:"retries,omitempty"`

	// RetryBackoff is the wait before the first retry, growing linearly.
	// Default 200ms.
	RetryBackoff caddy.Duration `json:"retry_backoff,omitempty"`

	// ModelTTL is how long the server's discovered model (/-/) is reused.
	// Default 10m.
	ModelTTL caddy.Duration `json:"model_ttl,omitempty"`

	adapter *occi.Adapter
	client  *http.Client
}

// OCCIOffer is what discovery advertises for an OCCI provider's kinds.
type OCCIOffer struct {
	// Architecture is x86 or x64. Default: not advertised.
	Architecture string `json:"architecture,omitempty"`
	// Cores is the most cores a compute may have. Default: not advertised.
	Cores uint64 `json:"cores,omitempty"`
	// Memory is the most memory, in GB. Default: not advertised.
	Memory uint64 `json:"memory,omitempty"`
	// Speed is the processor speed, in GHz. Default: not advertised.
	Speed uint64 `json:"speed,omitempty"`
	// Storage is the largest storage, in GB. Default: not advertised.
	Storage uint64 `json:"storage,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (OCCIAdapter) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[OCCIAdapter]("csb.adapters.occi")
}

// Provision builds the adapter. It makes no network call.
func (o *OCCIAdapter) Provision(ctx caddy.Context) error {
	cfg := occi.Config{
		Endpoint:     o.Endpoint,
		Rendering:    o.Rendering,
		OSTemplate:   o.OSTemplate,
		Network:      o.Network,
		NoStart:      o.NoStart,
		ServiceID:    o.ServiceID,
		MaxRetries:   o.Retries,
		RetryBackoff: time.Duration(o.RetryBackoff),
		ModelTTL:     time.Duration(o.ModelTTL),
		Client:       o.client,
	}
	cfparse.ExpandAll(&cfg.Endpoint, &cfg.OSTemplate, &cfg.Network)
	if o.Offer != nil {
		cfg.Offer = occi.Offer(*o.Offer)
	}
	a, err := occi.New(cfg)
	if err != nil {
		return err
	}
	o.adapter = a
	return nil
}

// PeerOrigins returns the OCCI server's URL: its origin is the
// provider's (PeerOriginsReporter).
func (o *OCCIAdapter) PeerOrigins() []string { return []string{o.Endpoint} }

// Adapter returns the adapter Provision built.
func (o *OCCIAdapter) Adapter() contract.Adapter { return o.adapter }

// SetHTTPClient hands the adapter the provider's client (TLS trust and
// authentication).
func (o *OCCIAdapter) SetHTTPClient(c *http.Client) {
	o.client = c
	if o.adapter != nil {
		o.adapter.SetHTTPClient(c)
	}
}

// Validate checks the configuration without side effects.
func (o *OCCIAdapter) Validate() error {
	if o.Endpoint == "" {
		return fmt.Errorf("adapter occi: endpoint is required")
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*OCCIAdapter)(nil)
	_ caddy.Validator       = (*OCCIAdapter)(nil)
	_ caddyfile.Unmarshaler = (*OCCIAdapter)(nil)
	_ interface {
		Adapter() contract.Adapter
		SetHTTPClient(*http.Client)
	} = (*OCCIAdapter)(nil)
)
