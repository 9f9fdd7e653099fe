package placement

import (
	"sort"
	"sync"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// fakeCatalog implements Catalog with the PLAN.md semantics: Placeable
// returns active services of active providers, sorted by provider order
// then service id.
type fakeCatalog struct {
	mu        sync.Mutex
	order     []string
	providers map[string]catalog.ProviderEntry
	services  map[string][]catalog.ServiceEntry
	version   uint64
	placeable int // calls of Placeable
}

func newFake() *fakeCatalog {
	return &fakeCatalog{providers: map[string]catalog.ProviderEntry{}, services: map[string][]catalog.ServiceEntry{}}
}

func (f *fakeCatalog) addProvider(p catalog.ProviderEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.Status == "" {
		p.Status = csbmsg.ServiceActive
	}
	if _, ok := f.providers[p.ID]; !ok {
		f.order = append(f.order, p.ID)
	}
	f.providers[p.ID] = p
	f.version++
}

func (f *fakeCatalog) addService(provider string, s csbmsg.Service) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Status == "" {
		s.Status = csbmsg.ServiceActive
	}
	f.services[provider] = append(f.services[provider], catalog.ServiceEntry{
		ProviderID: provider, Kind: catalog.KindOf(&s), Service: s, UpdatedAt: time.Unix(int64(f.version), 0),
	})
	f.version++
}

func (f *fakeCatalog) setProviderStatus(id string, st csbmsg.ServiceStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.providers[id]
	p.Status = st
	f.providers[id] = p
	f.version++
}

func (f *fakeCatalog) Placeable(kind catalog.Kind) []catalog.ServiceEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.placeable++
	var out []catalog.ServiceEntry
	for _, pid := range f.order {
		if f.providers[pid].Status != csbmsg.ServiceActive {
			continue
		}
		var list []catalog.ServiceEntry
		for _, s := range f.services[pid] {
			if s.Kind == kind && s.Service.Status == csbmsg.ServiceActive {
				list = append(list, s)
			}
		}
		sort.SliceStable(list, func(a, b int) bool { return list[a].Service.ID < list[b].Service.ID })
		out = append(out, list...)
	}
	return out
}

func (f *fakeCatalog) Provider(id string) (catalog.ProviderEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.providers[id]
	return p, ok
}

// Services lists every service of a provider, whatever its status.
func (f *fakeCatalog) Services(id string) []catalog.ServiceEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]catalog.ServiceEntry(nil), f.services[id]...)
}

func (f *fakeCatalog) Version() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version
}

func ptr[T any](v T) *T { return &v }

func iaasSvc(id, arch string, cores, mem, speed, size uint64) csbmsg.Service {
	return csbmsg.Service{ID: id, IaaS: &csbmsg.IaaS{
		Compute: &csbmsg.Compute{Architecture: ptr(arch), Cores: ptr(cores), Memory: ptr(mem), Speed: ptr(speed)},
		Storage: &csbmsg.Storage{Size: ptr(size)},
	}}
}

func iaasReq(arch string, cores, mem uint64) *csbmsg.ServiceRequest {
	c := &csbmsg.Compute{Cores: ptr(cores), Memory: ptr(mem)}
	if arch != "" {
		c.Architecture = ptr(arch)
	}
	return &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: c}}
}
