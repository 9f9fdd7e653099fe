package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
	"github.com/caddy-csb/caddy-csb/broker/publish"
)

// CatalogOptions configure the provider catalogue. They are read when the
// broker starts (the catalogue lives on across reloads). In the
// Caddyfile:
//
//	csb {
//		catalog {
//			sync_interval <duration>
//			flush_delay   <duration>
//			retention     <duration>
//			cache_size    <services>
//			max_services  <n>
//		}
//	}
type CatalogOptions struct {
	// SyncInterval is how often the catalogue merges what other brokers
	// sharing the same Caddy storage wrote (their provider records and
	// journal files): the bound on how long a notification received by
	// one broker of a cluster takes to reach placement on the others.
	// Default 10s.
	SyncInterval caddy.Duration `json:"sync_interval,omitempty"`
	// FlushDelay is how long catalogue changes other than notifications
	// (discovery, expiry, configuration) are gathered before they are
	// written to storage. Notifications are written before they are
	// acknowledged, whatever this says: concurrent notifications share
	// one write of a journal file (csb/catalog-journal/), which the
	// broker folds into the per-provider records (csb/catalog/) every
	// 5 seconds. Default 100ms.
	FlushDelay caddy.Duration `json:"flush_delay,omitempty"`
	// Retention is how long expired published or discovered services stay
	// visible (not placeable) before they are dropped. Default 24h.
	Retention caddy.Duration `json:"retention,omitempty"`
	// CacheSize is the read cache's capacity in services. Default 100000.
	CacheSize int64 `json:"cache_size,omitempty"`
	// MaxServices is the most published services one provider may have
	// in the catalogue: a notification that would leave more is refused
	// (status 402) and changes nothing. Default 10000.
	MaxServices int `json:"max_services,omitempty"`
}

// StaticService is a service of a provider declared in the configuration,
// for providers that never publish (existing clouds fronted as they are).
// It becomes a catalogue entry with source "static" that never expires.
type StaticService struct {
	// ID is the Cloud-Service-id. Required.
	ID string `json:"id"`
	// Kind is iaas, paas, saas or dsaas. Required.
	Kind string `json:"kind"`
	// Status is active (default), deactivated or unavailable.
	Status string `json:"status,omitempty"`
	// URI is the Cloud-Service-URI.
	URI string `json:"uri,omitempty"`
	// Link is the service's Link (rel and href): the capability PaaS and
	// SaaS placement matches on.
	Link *StaticLink `json:"link,omitempty"`
	// Compute, Network, Storage, NetworkInterface and StorageLink describe
	// what an IaaS service offers.
	Compute          *StaticCompute          `json:"compute,omitempty"`
	Network          *StaticNetwork          `json:"network,omitempty"`
	Storage          *StaticStorage          `json:"storage,omitempty"`
	NetworkInterface *StaticNetworkInterface `json:"network_interface,omitempty"`
	StorageLink      *StaticStorageLink      `json:"storagelink,omitempty"`
	// Objects are the CDMI object kinds a DSaaS service supports: data,
	// container, domain, queue, capability.
	Objects []string `json:"objects,omitempty"`
}

// StaticLink is a <Link>.
type StaticLink struct {
	Rel  string `json:"rel,omitempty"`
	Href string `json:"href,omitempty"`
}

// StaticCompute is a <compute-support>: architecture, cores, memory (GB),
// speed (GHz) and hostname.
type StaticCompute struct {
	Architecture string  `json:"architecture,omitempty"`
	Cores        *uint64 `json:"cores,omitempty"`
	Memory       *uint64 `json:"memory,omitempty"`
	Speed        *uint64 `json:"speed,omitempty"`
	Hostname     string  `json:"hostname,omitempty"`
}

// StaticNetwork is a <network-support>.
type StaticNetwork struct {
	VLAN       string `json:"vlan,omitempty"`
	VLANLabel  string `json:"vlan_label,omitempty"`
	Address    string `json:"address,omitempty"`
	Gateway    string `json:"gateway,omitempty"`
	Allocation string `json:"allocation,omitempty"`
}

// StaticStorage is a <storage-support>: size in GB.
type StaticStorage struct {
	Size *uint64 `json:"size,omitempty"`
}

// StaticNetworkInterface is a <NetworkInterface-support>.
type StaticNetworkInterface struct {
	Interface  string `json:"interface,omitempty"`
	MAC        string `json:"mac,omitempty"`
	IP         string `json:"ip,omitempty"`
	Gateway    string `json:"gateway,omitempty"`
	Allocation string `json:"allocation,omitempty"`
}

// StaticStorageLink is a <storagelink-support>.
type StaticStorageLink struct {
	DeviceID   string `json:"device_id,omitempty"`
	Mountpoint string `json:"mountpoint,omitempty"`
}

// Discovery has a provider's adapter read the provider's services from
// its native API (contract.Discoverer), for providers that do not
// publish. Discovered services expire after three intervals without a
// successful discovery.
type Discovery struct {
	// Interval is how often discovery runs. Default 5m.
	Interval caddy.Duration `json:"interval,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optAllocation(s string) (*csbmsg.Allocation, error) {
	switch csbmsg.Allocation(s) {
	case "":
		return nil, nil
	case csbmsg.AllocationDynamic, csbmsg.AllocationStatic:
		return ptr(csbmsg.Allocation(s)), nil
	}
	return nil, fmt.Errorf("allocation %q is not dynamic or static", s)
}

func serviceStatus(s string) (csbmsg.ServiceStatus, error) {
	switch csbmsg.ServiceStatus(s) {
	case "":
		return csbmsg.ServiceActive, nil
	case csbmsg.ServiceActive, csbmsg.ServiceDeactivated, csbmsg.ServiceUnavailable:
		return csbmsg.ServiceStatus(s), nil
	}
	return "", fmt.Errorf("status %q is not active, deactivated or unavailable", s)
}

// toService turns the declaration into the catalogue's typed service.
func (s StaticService) toService() (csbmsg.Service, error) {
	out := csbmsg.Service{ID: s.ID, URI: s.URI}
	where := fmt.Sprintf("service %q", s.ID)
	if s.ID == "" {
		return out, fmt.Errorf("service without an id")
	}
	st, err := serviceStatus(s.Status)
	if err != nil {
		return out, fmt.Errorf("%s: %v", where, err)
	}
	out.Status = st
	var link *csbmsg.Link
	if s.Link != nil {
		link = &csbmsg.Link{Rel: s.Link.Rel, Href: s.Link.Href}
	}
	iaasOnly := s.Compute != nil || s.Network != nil || s.Storage != nil || s.NetworkInterface != nil || s.StorageLink != nil
	kind := strings.ToLower(s.Kind)
	if iaasOnly && kind != "iaas" {
		return out, fmt.Errorf("%s: compute, network, storage, network_interface and storagelink are for kind iaas", where)
	}
	if len(s.Objects) > 0 && kind != "dsaas" {
		return out, fmt.Errorf("%s: objects are for kind dsaas", where)
	}
	switch kind {
	case "iaas":
		i := &csbmsg.IaaS{Link: link}
		if c := s.Compute; c != nil {
			i.Compute = &csbmsg.Compute{Architecture: optString(c.Architecture), Cores: c.Cores, Memory: c.Memory,
				Speed: c.Speed, Hostname: optString(c.Hostname)}
		}
		if n := s.Network; n != nil {
			alloc, err := optAllocation(n.Allocation)
			if err != nil {
				return out, fmt.Errorf("%s: network: %v", where, err)
			}
			i.Network = &csbmsg.Network{VLAN: optString(n.VLAN), VLANLabel: optString(n.VLANLabel),
				Address: optString(n.Address), Gateway: optString(n.Gateway), Allocation: alloc}
		}
		if st := s.Storage; st != nil {
			i.Storage = &csbmsg.Storage{Size: st.Size}
		}
		if n := s.NetworkInterface; n != nil {
			alloc, err := optAllocation(n.Allocation)
			if err != nil {
				return out, fmt.Errorf("%s: network_interface: %v", where, err)
			}
			i.NetworkInterface = &csbmsg.NetworkInterface{Interface: optString(n.Interface), MAC: optString(n.MAC),
				IP: optString(n.IP), Gateway: optString(n.Gateway), Allocation: alloc}
		}
		if l := s.StorageLink; l != nil {
			i.StorageLink = &csbmsg.StorageLink{DeviceID: optString(l.DeviceID), Mountpoint: optString(l.Mountpoint)}
		}
		out.IaaS = i
	case "paas":
		out.PaaS = &csbmsg.PaaS{Link: link}
	case "saas":
		out.SaaS = &csbmsg.SaaS{Link: link}
	case "dsaas":
		ds := &csbmsg.DSaaS{Link: link}
		for _, o := range s.Objects {
			switch o {
			case "data":
				ds.DataObject = &csbmsg.DataObject{}
			case "container":
				ds.ContainerObject = &csbmsg.ContainerObject{}
			case "domain":
				ds.DomainObject = &csbmsg.DomainObject{}
			case "queue":
				ds.QueueObject = &csbmsg.QueueObject{}
			case "capability":
				ds.CapabilityObject = &csbmsg.CapabilityObject{}
			default:
				return out, fmt.Errorf("%s: object kind %q is not data, container, domain, queue or capability", where, o)
			}
		}
		out.DSaaS = ds
	case "":
		return out, fmt.Errorf("%s: kind is required (iaas, paas, saas or dsaas)", where)
	default:
		return out, fmt.Errorf("%s: kind %q is not iaas, paas, saas or dsaas", where, s.Kind)
	}
	return out, nil
}

// catalogConfig returns the catalogue's view of the configured providers,
// in configuration order.
func (a *App) catalogConfig() ([]catalog.ProviderConfig, error) {
	out := make([]catalog.ProviderConfig, 0, len(a.Providers))
	for _, p := range a.Providers {
		pc := catalog.ProviderConfig{ID: p.ID}
		st, err := serviceStatus(p.Status)
		if err != nil {
			return nil, fmt.Errorf("provider %q: %v", p.ID, err)
		}
		if len(p.Services) > 0 || p.Status != "" || p.URI != "" || p.EncryptionSupport != nil || p.Label != "" {
			sp := &catalog.StaticProvider{Status: st, URI: p.URI, EncryptionSupport: p.EncryptionSupport, Label: p.Label}
			for _, s := range p.Services {
				svc, err := s.toService()
				if err != nil {
					return nil, fmt.Errorf("provider %q: %v", p.ID, err)
				}
				sp.Services = append(sp.Services, svc)
			}
			pc.Static = sp
		}
		out = append(out, pc)
	}
	return out, nil
}

// discoveryLoops runs the adapters' discovery of one configuration. It is
// started by the app's Start with that configuration's adapters and
// stopped by its Stop.
type discoveryLoops struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// discoverer returns the provider's adapter when it can discover services.
// The adapter loader (adapters.go) stores the provisioned adapter in
// p.adapter.
func (p *Provider) discoverer() (contract.Discoverer, bool) {
	d, ok := p.adapter.(contract.Discoverer)
	return d, ok
}

// startDiscovery starts one loop per provider configured with discover.
// The loops are the app's before any starts: when a provider cannot
// discover, those started already are stopped, and waited for, by the
// Cleanup of the app whose Start failed (retire), before the running
// configuration gets the engine back.
func (a *App) startDiscovery(e *engine) error {
	ctx, cancel := context.WithCancel(context.Background())
	loops := &discoveryLoops{cancel: cancel}
	a.discovery = loops
	for _, p := range a.Providers {
		if p.Discover == nil {
			continue
		}
		disc, ok := p.discoverer()
		if !ok {
			return fmt.Errorf("provider %q: discover needs an adapter that can discover services", p.ID)
		}
		interval := time.Duration(p.Discover.Interval)
		if interval <= 0 {
			interval = catalog.DefaultDiscoveryInterval
		}
		loops.wg.Add(1)
		go runDiscovery(ctx, &loops.wg, e, p.ID, disc, interval, p.peer, a.logger.Named("discovery").With(zap.String("provider_id", p.ID)))
	}
	return nil
}

func (a *App) stopDiscovery() {
	if a.discovery != nil {
		a.discovery.cancel()
		a.discovery.wg.Wait()
		a.discovery = nil
	}
}

func runDiscovery(ctx context.Context, wg *sync.WaitGroup, e *engine, pid string, disc contract.Discoverer,
	interval time.Duration, peer *peerurl.Policy, logger *zap.Logger) {
	defer wg.Done()
	failing := false
	for {
		dctx, cancel := context.WithTimeout(ctx, interval)
		services, err := disc.Discover(dctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				logger.Warn("discovery failed", zap.Error(err))
			}
			failing = true
		default:
			if failing {
				logger.Info("discovery works again")
			}
			failing = false
			e.catalog.SetDiscovered(pid, allowedServices(services, peer, logger), time.Now().Add(3*interval))
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// allowedServices drops the discovered services naming a URL the
// provider's peer URL policy refuses (a provider's answer is a peer's
// word, like a notification), logging each.
func allowedServices(services []csbmsg.Service, peer *peerurl.Policy, logger *zap.Logger) []csbmsg.Service {
	if peer == nil {
		return services
	}
	kept := services[:0:0]
	for _, s := range services {
		if err := publish.CheckServiceURLs(s, peer.Check); err != nil {
			logger.Warn("discovered service dropped: peer url not allowed", zap.String("service_id", s.ID), zap.String("reason", err.Error()))
			continue
		}
		kept = append(kept, s)
	}
	return kept
}
