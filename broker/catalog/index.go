package catalog

import (
	"sort"
	"sync/atomic"
	"time"
)

// Kinds in index order.
var kinds = [...]Kind{KindIaaS, KindPaaS, KindSaaS, KindDSaaS}

const numKinds = len(kinds)

func kindIndex(k Kind) int {
	for i, kk := range kinds {
		if kk == k {
			return i
		}
	}
	return -1
}

// svc is one service in the authoritative map. It is immutable once
// stored: a change stores a new svc, so snapshots can share pointers.
type svc struct {
	e ServiceEntry
	// lease is the subscription or push id whose lease bounds a published
	// entry's expiry; "" for static and discovered entries.
	lease string
	// js caches the entry's JSON in a stored record (recordService), made
	// the first time a journal file holds it: a provider's unchanged
	// services are encoded once, not in every notification's record.
	js atomic.Pointer[[]byte]
}

// provider is one provider in the authoritative map. Callers hold the
// catalogue's lock.
type provider struct {
	entry    ProviderEntry
	services map[string]*svc

	// subID and seq identify the last notification applied for this
	// provider (the record's version for sequencing and cluster merges).
	subID string
	seq   uint64
	// published is true once a notification set the provider-level fields.
	published bool
	// static is the configuration's declaration, if any.
	static *StaticProvider
	// unhealthy is the broker's own passive-health mark (SetHealthy): the
	// provider leaves placement while it is set. Not persisted.
	unhealthy bool
	// updatedAt is when the persisted part (published and discovered
	// entries) last changed.
	updatedAt time.Time
	// discoveredAt is when an adapter's discovery last replaced the
	// discovered entries.
	discoveredAt time.Time

	// kinds holds, per kind, the services whose own status allows
	// placement, sorted by id. Expiry and the provider status are checked
	// when a view is built.
	kinds [numKinds][]*svc
	// minExpiry is the earliest non-zero expiry among kinds' entries.
	minExpiry time.Time
}

func newProvider(id string) *provider {
	return &provider{
		entry:    ProviderEntry{ID: id, Status: "active", Source: SourceStatic},
		services: make(map[string]*svc),
	}
}

func (p *provider) serviceIDs() []string {
	ids := make([]string, 0, len(p.services))
	for id := range p.services {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// reindex recomputes kinds and minExpiry after a change of services.
func (p *provider) reindex() {
	for i := range p.kinds {
		p.kinds[i] = p.kinds[i][:0]
	}
	p.minExpiry = time.Time{}
	for _, s := range p.services {
		k := kindIndex(s.e.Kind)
		if k < 0 || !statusPlaceable(s.e.Service.Status) {
			continue
		}
		p.kinds[k] = append(p.kinds[k], s)
		if !s.e.Expires.IsZero() && (p.minExpiry.IsZero() || s.e.Expires.Before(p.minExpiry)) {
			p.minExpiry = s.e.Expires
		}
	}
	for i := range p.kinds {
		l := p.kinds[i]
		sort.Slice(l, func(a, b int) bool { return l[a].e.Service.ID < l[b].e.Service.ID })
	}
}

// nextExpiry returns the earliest expiry after now among the provider's
// placeable entries, or zero.
func (p *provider) nextExpiry(now time.Time) time.Time {
	if !statusPlaceable(p.entry.Status) {
		return time.Time{}
	}
	if p.minExpiry.IsZero() || p.minExpiry.After(now) {
		return p.minExpiry
	}
	var next time.Time
	for i := range p.kinds {
		for _, s := range p.kinds[i] {
			if x := s.e.Expires; x.After(now) && (next.IsZero() || x.Before(next)) {
				next = x
			}
		}
	}
	return next
}

// placeableAt reports whether placement may choose s at now.
func (p *provider) placeableAt(s *svc, now time.Time) bool {
	return statusPlaceable(p.entry.Status) && !p.unhealthy && statusPlaceable(s.e.Service.Status) &&
		kindIndex(s.e.Kind) >= 0 && (s.e.Expires.IsZero() || now.Before(s.e.Expires))
}

// kindView is the placement index of one kind: a snapshot valid for one
// catalogue version until validUntil (the earliest expiry in it).
type kindView struct {
	version    uint64
	validUntil time.Time
	list       []ServiceEntry
}

// buildKindView builds the placement index of kind. Callers hold c.mu
// (read).
func (c *Catalog) buildKindView(kind Kind, now time.Time) *kindView {
	k := kindIndex(kind)
	v := &kindView{version: c.version.Load()}
	n := 0
	for _, p := range c.sorted {
		n += len(p.kinds[k])
	}
	v.list = make([]ServiceEntry, 0, n)
	for _, p := range c.sorted {
		if !statusPlaceable(p.entry.Status) || p.unhealthy {
			continue
		}
		for _, s := range p.kinds[k] {
			x := s.e.Expires
			if !x.IsZero() {
				if !now.Before(x) {
					continue
				}
				if v.validUntil.IsZero() || x.Before(v.validUntil) {
					v.validUntil = x
				}
			}
			v.list = append(v.list, s.e)
		}
	}
	return v
}

// recomputeExpiry sets nextExpiry to the earliest future expiry of any
// placeable entry. Callers hold c.mu (write).
func (c *Catalog) recomputeExpiry() {
	now := c.clock.Now()
	var next time.Time
	for _, p := range c.providers {
		if x := p.nextExpiry(now); !x.IsZero() && (next.IsZero() || x.Before(next)) {
			next = x
		}
	}
	if next.IsZero() {
		c.nextExpiry.Store(0)
	} else {
		c.nextExpiry.Store(next.UnixNano())
	}
}

// checkExpiry turns the passing of an expiry into a change: it bumps the
// version, logs the providers whose entries left placement and tells the
// subscribers. It is called by readers and by the expiry loop, so
// placement sees an expiry even if the loop is late.
func (c *Catalog) checkExpiry() {
	ne := c.nextExpiry.Load()
	if ne == 0 || c.clock.Now().UnixNano() < ne {
		return
	}
	c.mu.Lock()
	ne = c.nextExpiry.Load()
	now := c.clock.Now()
	if ne == 0 || now.UnixNano() < ne {
		c.mu.Unlock()
		return
	}
	for _, p := range c.providers {
		if !statusPlaceable(p.entry.Status) {
			continue
		}
		n := 0
		for i := range p.kinds {
			for _, s := range p.kinds[i] {
				if x := s.e.Expires; !x.IsZero() && x.UnixNano() > c.lastExpiryCheck && !x.After(now) {
					n++
				}
			}
		}
		if n > 0 {
			c.bumpGen(p.entry.ID)
			c.logger.Info("services left placement: expired",
				zapProvider(p.entry.ID), zapSubscription(p.subID), zapCount(n))
		}
	}
	c.lastExpiryCheck = now.UnixNano()
	c.version.Add(1)
	c.recomputeExpiry()
	c.mu.Unlock()
	c.notify()
}

// expiryLoop wakes at the next expiry (and whenever it moves earlier) so
// subscribers learn about expiries without polling, and drops entries
// past their retention at least every hour. The collection has its own
// deadline: a change restarts the wait for the next expiry, and while
// providers keep changing the catalogue (every renewal is a change) a
// collection that waited for a quiet hour would never run.
func (c *Catalog) expiryLoop() {
	defer c.done.Done()
	const idle = time.Hour
	nextCollect := c.clock.Now().Add(idle)
	for {
		now := c.clock.Now()
		if !now.Before(nextCollect) {
			c.collect()
			nextCollect = now.Add(idle)
		}
		wait := nextCollect.Sub(now)
		if ne := c.nextExpiry.Load(); ne != 0 {
			wait = min(wait, time.Duration(ne-now.UnixNano()))
		}
		t := c.clock.NewTimer(wait)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-c.expiryCh:
			t.Stop()
		case <-t.C():
			c.checkExpiry()
		}
	}
}
