package jobstest

import (
	"sync"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Catalog is a small in-memory catalogue implementing placement.Catalog:
// providers in insertion order, every entry placeable unless its status
// says otherwise.
type Catalog struct {
	mu        sync.Mutex
	order     []string
	providers map[string]catalog.ProviderEntry
	services  map[string][]catalog.ServiceEntry
	version   uint64
}

// AddProvider adds or replaces a provider (status active when unset).
func (c *Catalog) AddProvider(p catalog.ProviderEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.providers == nil {
		c.providers = map[string]catalog.ProviderEntry{}
		c.services = map[string][]catalog.ServiceEntry{}
	}
	if p.Status == "" {
		p.Status = csbmsg.ServiceActive
	}
	if _, ok := c.providers[p.ID]; !ok {
		c.order = append(c.order, p.ID)
	}
	c.providers[p.ID] = p
	c.version++
}

// AddService adds a service to a provider (status active when unset).
func (c *Catalog) AddService(provider string, s csbmsg.Service) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.Status == "" {
		s.Status = csbmsg.ServiceActive
	}
	c.services[provider] = append(c.services[provider], catalog.ServiceEntry{ProviderID: provider, Kind: catalog.KindOf(&s), Service: s})
	c.version++
}

// SetServiceStatus changes the status of a provider's service.
func (c *Catalog) SetServiceStatus(provider, id string, st csbmsg.ServiceStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.services[provider] {
		if s.Service.ID == id {
			c.services[provider][i].Service.Status = st
		}
	}
	c.version++
}

// ServiceStatus returns the status of a provider's service.
func (c *Catalog) ServiceStatus(provider, id string) (csbmsg.ServiceStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.services[provider] {
		if s.Service.ID == id {
			return s.Service.Status, true
		}
	}
	return "", false
}

// Placeable implements placement.Catalog.
func (c *Catalog) Placeable(kind catalog.Kind) []catalog.ServiceEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []catalog.ServiceEntry
	for _, id := range c.order {
		if c.providers[id].Status != csbmsg.ServiceActive {
			continue
		}
		for _, s := range c.services[id] {
			if s.Kind == kind && s.Service.Status == csbmsg.ServiceActive {
				out = append(out, s)
			}
		}
	}
	return out
}

// Provider implements placement.Catalog.
func (c *Catalog) Provider(id string) (catalog.ProviderEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.providers[id]
	return p, ok
}

// Version implements placement.Catalog.
func (c *Catalog) Version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// VM returns an IaaS service offering the given cores and memory on x64.
func VM(id string, cores, memory uint64) csbmsg.Service {
	arch := "x64"
	return csbmsg.Service{ID: id, IaaS: &csbmsg.IaaS{
		Compute: &csbmsg.Compute{Architecture: &arch, Cores: &cores, Memory: &memory},
		Storage: &csbmsg.Storage{Size: ptr(uint64(100))},
		Network: &csbmsg.Network{},
	}}
}

// VMRequest returns an IaaS request for cores and memory.
func VMRequest(cores, memory uint64) *csbmsg.ServiceRequest {
	return &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: &cores, Memory: &memory}}}
}

func ptr[T any](v T) *T { return &v }
