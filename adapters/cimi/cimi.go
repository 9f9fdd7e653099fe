// Package cimi is the cloud service adapter for providers that speak DMTF
// CIMI (DSP0263, JSON binding). It discovers offers through the
// CloudEntryPoint, creates Machines from inline MachineTemplates, Volumes
// (attached through MachineVolume) and Networks, runs machine and network
// actions, and polls Machine and Job state. The CSB <-> CIMI mapping is in
// mapping.go and README.md.
//
// This package does not import Caddy.
package cimi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Config configures the adapter.
type Config struct {
	// Endpoint is the URL of the provider's CloudEntryPoint. Required.
	Endpoint string `json:"endpoint"`
	// Image is the MachineImage new machines boot: its href, or its name
	// in the machineImages collection. Default: the collection's first.
	Image string `json:"image,omitempty"`
	// NamePrefix prefixes the names of created resources; the job id
	// follows, so a crash mid-provisioning can be reconciled by name.
	// Default "csb-".
	NamePrefix string `json:"name_prefix,omitempty"`
}

// Adapter talks to one CIMI provider. It is safe for concurrent use.
type Adapter struct {
	contract.BrokerAuth
	cfg  Config
	http httpx.Slot

	mu  sync.Mutex
	cep *CloudEntryPoint // cached after the first successful read
	img string           // resolved image href
}

// New returns an adapter for the provider at cfg.Endpoint.
func New(cfg Config) (*Adapter, error) {
	if err := httpx.CheckEndpoint("cimi", cfg.Endpoint); err != nil {
		return nil, err
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "csb-"
	}
	a := &Adapter{cfg: cfg}
	a.SetHTTPClient(nil)
	return a, nil
}

// SetHTTPClient sets the client used for every call (TLS trust and
// authentication for this provider). Nil means a shared default client.
func (a *Adapter) SetHTTPClient(c *http.Client) {
	a.http.Set(c, http.Header{VersionHeader: {Version}})
}

// SetRetryPolicy tunes the retries of idempotent calls (tests).
func (a *Adapter) SetRetryPolicy(fn func(*httpx.Client)) {
	a.http.Tune(fn)
}

func (a *Adapter) client() *httpx.Client { return a.http.Get() }

// call performs one CIMI call with JSON in and out.
func (a *Adapter) call(ctx context.Context, op, method, url string, in, out any) (*httpx.Response, error) {
	return a.client().Do(ctx, httpx.Call{Op: op, Method: method, URL: url, JSON: in, ContentType: MediaType, Accept: MediaType, Out: out})
}

func (a *Adapter) entryPoint(ctx context.Context, op string) (*CloudEntryPoint, error) {
	a.mu.Lock()
	cep := a.cep
	a.mu.Unlock()
	if cep != nil {
		return cep, nil
	}
	cep = new(CloudEntryPoint)
	if _, err := a.call(ctx, op+": read CloudEntryPoint", http.MethodGet, a.cfg.Endpoint, nil, cep); err != nil {
		return nil, err
	}
	for _, r := range []**Ref{&cep.Machines, &cep.MachineConfigs, &cep.MachineImages, &cep.Volumes, &cep.VolumeConfigs, &cep.Networks, &cep.Jobs, &cep.MachineTemplates} {
		if *r != nil {
			(*r).Href = a.resolve((*r).Href)
		}
	}
	a.mu.Lock()
	a.cep = cep
	a.mu.Unlock()
	return cep, nil
}

func (a *Adapter) resolve(href string) string {
	u, err := httpx.Resolve(a.cfg.Endpoint, href)
	if err != nil {
		return href
	}
	return u
}

func (a *Adapter) list(ctx context.Context, op string, ref *Ref) ([]json.RawMessage, error) {
	if ref == nil || ref.Href == "" {
		return nil, nil
	}
	var col collection
	if _, err := a.call(ctx, op, http.MethodGet, ref.Href, nil, &col); err != nil {
		return nil, err
	}
	return col.Members, nil
}

// image returns the href of the MachineImage to boot.
func (a *Adapter) image(ctx context.Context, cep *CloudEntryPoint) (string, error) {
	a.mu.Lock()
	img := a.img
	a.mu.Unlock()
	if img != "" {
		return img, nil
	}
	want := a.cfg.Image
	if strings.Contains(want, "/") {
		img = a.resolve(want)
	} else {
		items, err := a.list(ctx, "provision: machineImages", cep.MachineImages)
		if err != nil {
			return "", err
		}
		for _, raw := range items {
			var mi MachineImage
			if json.Unmarshal(raw, &mi) != nil {
				continue
			}
			if want == "" || mi.Name == want {
				img = a.resolve(mi.ID)
				break
			}
		}
		if img == "" {
			return "", &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: fmt.Errorf("no machine image %q at the provider", want)}
		}
	}
	a.mu.Lock()
	a.img = img
	a.mu.Unlock()
	return img, nil
}

// Native keys of a Resource.
const (
	keyMachine       = "machine"
	keyVolume        = "volume"
	keyNetwork       = "network"
	keyMachineVolume = "machine_volume"
	keyLocation      = "initial_location"
	keyJob           = "job"
	keyJobID         = "csb_job"
)

// location is where a create put the resource: the Location header, else
// the returned representation's id.
func (a *Adapter) location(resp *httpx.Response, id string) string {
	if l := resp.Header.Get("Location"); l != "" {
		return a.resolve(l)
	}
	return a.resolve(id)
}

func unsupported(op string, format string, args ...any) error {
	return contract.Errorf(contract.KindUnsupported, op, format, args...)
}

// ServiceKinds reports the service model the adapter serves.
func (a *Adapter) ServiceKinds() []string { return []string{"IaaS"} }

// Interface guards.
var (
	_ contract.KindReporter = (*Adapter)(nil)
	_ contract.Adapter      = (*Adapter)(nil)
	_ contract.Discoverer   = (*Adapter)(nil)
	_ contract.Finder       = (*Adapter)(nil)
)
