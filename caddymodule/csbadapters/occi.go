package csbadapters

import (
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"

	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/adapters"
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
	return caddy.ModuleInfo{
		ID:  "csb.adapters.occi",
		New: func() caddy.Module { return new(OCCIAdapter) },
	}
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
func (o *OCCIAdapter) Adapter() adapters.Adapter { return o.adapter }

// SetHTTPClient hands the adapter the provider's client (TLS trust and
// authentication).
func (o *OCCIAdapter) SetHTTPClient(c *http.Client) {
	o.client = c
	if o.adapter != nil {
		o.adapter.SetHTTPClient(c)
	}
}

// UnmarshalCaddyfile sets up the module from Caddyfile tokens. Syntax, in
// a provider block:
//
//	adapter occi [<endpoint>] {
//		endpoint      <url>
//		rendering     text/plain|text/occi
//		os_tpl        <scheme#term>
//		network       <location>
//		no_start
//		service_id    <id>
//		offer         [cores <n>] [memory <GB>] [speed <GHz>] [storage <GB>] [architecture x86|x64]
//		retries       <n>
//		retry_backoff <duration>
//		model_ttl     <duration>
//	}
func (o *OCCIAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	err := adapterBlock{
		name: "occi",
		arg:  &o.Endpoint,
		single: map[string]*string{
			"endpoint": &o.Endpoint, "os_tpl": &o.OSTemplate, "network": &o.Network, "service_id": &o.ServiceID,
		},
		flags: map[string]*bool{"no_start": &o.NoStart},
		more:  o.unmarshalOption,
	}.parse(d)
	if err != nil {
		return err
	}
	if o.Endpoint == "" {
		return d.Err("adapter occi: an endpoint is required")
	}
	return nil
}

// unmarshalOption parses the options of UnmarshalCaddyfile that take
// more than a string.
func (o *OCCIAdapter) unmarshalOption(d *caddyfile.Dispenser, opt string) (bool, error) {
	switch opt {
	case "rendering":
		v, err := cfparse.ArgValue(d)
		if err != nil {
			return true, err
		}
		if v != occi.MediaTextPlain && v != occi.MediaTextOCCI {
			return true, d.Errf("adapter occi: rendering %q must be text/plain or text/occi", v)
		}
		o.Rendering = v
	case "offer":
		off, err := parseOffer(d)
		if err != nil {
			return true, err
		}
		o.Offer = off
	case "retries":
		v, err := cfparse.ArgValue(d)
		if err != nil {
			return true, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return true, d.Errf("adapter occi: retries %q is not a whole number", v)
		}
		if n == 0 {
			n = -1 // none; 0 in JSON means the default
		}
		o.Retries = n
	case "retry_backoff", "model_ttl":
		v, err := cfparse.ArgValue(d)
		if err != nil {
			return true, err
		}
		dur, err := caddy.ParseDuration(v)
		if err != nil || dur < 0 {
			return true, d.Errf("adapter occi: %s %q is not a duration", opt, v)
		}
		if opt == "retry_backoff" {
			o.RetryBackoff = caddy.Duration(dur)
		} else {
			o.ModelTTL = caddy.Duration(dur)
		}
	default:
		return false, nil
	}
	return true, nil
}

func parseOffer(d *caddyfile.Dispenser) (*OCCIOffer, error) {
	off := &OCCIOffer{}
	args := d.RemainingArgs()
	if len(args) == 0 || len(args)%2 != 0 {
		return nil, d.Err("adapter occi: offer takes pairs: cores <n> memory <GB> speed <GHz> storage <GB> architecture <x86|x64>")
	}
	for i := 0; i < len(args); i += 2 {
		k, v := args[i], args[i+1]
		if k == "architecture" {
			if v != "x86" && v != "x64" {
				return nil, d.Errf("adapter occi: offer architecture %q must be x86 or x64", v)
			}
			off.Architecture = v
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, d.Errf("adapter occi: offer %s %q is not a whole number", k, v)
		}
		switch k {
		case "cores":
			off.Cores = n
		case "memory":
			off.Memory = n
		case "speed":
			off.Speed = n
		case "storage":
			off.Storage = n
		default:
			return nil, d.Errf("adapter occi: unknown offer %q", k)
		}
	}
	return off, nil
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
		Adapter() adapters.Adapter
		SetHTTPClient(*http.Client)
	} = (*OCCIAdapter)(nil)
)
