package catalog

// providerView is a provider's read view as the ristretto cache holds it.
// ristretto keys by hash, so the view carries its real key; gen is the
// provider's generation when the view was built, so a view that a reader
// built from older data (and stored after a writer moved on) is never
// served.
type providerView struct {
	key      string
	gen      uint64
	Entry    ProviderEntry
	Services []ServiceEntry
}

// view returns the provider's current read view, from the cache when it
// is there and current, otherwise built from the authoritative map.
func (c *Catalog) view(id string) *providerView {
	gen := c.gen(id)
	if v, ok := c.cache.Get(id); ok && v.key == id && v.gen == gen {
		return v
	}
	c.mu.RLock()
	p := c.providers[id]
	if p == nil {
		c.mu.RUnlock()
		return nil
	}
	v := &providerView{key: id, gen: c.gen(id), Entry: p.entry}
	v.Services = make([]ServiceEntry, 0, len(p.services))
	for _, sid := range p.serviceIDs() {
		v.Services = append(v.Services, p.services[sid].e)
	}
	c.mu.RUnlock()
	c.cache.Set(id, v, int64(1+len(v.Services)), 0)
	return v
}
