package catalog

// SetHealthy records the broker's own observation of a provider's health:
// the transparent proxy's passive health checks mark a provider whose
// native endpoint keeps failing unhealthy (false) and mark it healthy again
// (true) once it recovers. An unhealthy provider leaves placement, whatever
// it publishes, until it is marked healthy. The mark is local to this
// process: it is neither persisted nor shared with a cluster. SetHealthy
// reports whether the mark changed; an unknown provider is ignored.
func (c *Catalog) SetHealthy(id string, healthy bool) bool {
	c.wait()
	c.mu.Lock()
	p := c.providers[id]
	if p == nil || p.unhealthy == !healthy {
		c.mu.Unlock()
		return false
	}
	p.unhealthy = !healthy
	c.changed(p, false)
	c.mu.Unlock()
	c.afterChange(false, true)
	if fn := c.opt.OnHealth; fn != nil {
		fn(id, healthy)
	}
	return true
}

// Healthy reports whether the provider is not marked unhealthy by
// SetHealthy (unknown providers are healthy).
func (c *Catalog) Healthy(id string) bool {
	c.wait()
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := c.providers[id]
	return p == nil || !p.unhealthy
}
