package catalog

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// StaticProvider is a provider's declaration in the configuration: the
// provider-level fields and the services it offers, for providers that
// never publish (existing clouds fronted as they are).
type StaticProvider struct {
	// Status is the provider's status. Default active.
	Status            csbmsg.ServiceStatus
	URI               string
	EncryptionSupport *bool
	Label             string
	// Services are the declared services; each must carry exactly one
	// support element (its kind) and a unique id.
	Services []csbmsg.Service
}

// ProviderConfig declares one configured provider.
type ProviderConfig struct {
	// ID is the Cloud-Service-Provider-id.
	ID string
	// Static is the provider's static declaration, nil if it has none.
	Static *StaticProvider
}

// Result tells what applying a notification or a discovery changed.
type Result struct {
	Added     []string // service ids that were not in the catalogue
	Updated   []string // service ids whose description, status or expiry changed
	Withdrawn []string // service ids removed
	// Shadowed are service ids left alone because a static entry of the
	// configuration has the same id (static entries take precedence).
	Shadowed []string
	// ProviderChanged is true when a provider-level field changed.
	ProviderChanged bool
}

// Changed reports whether anything placement sees changed.
func (r Result) Changed() bool {
	return r.ProviderChanged || len(r.Added) > 0 || len(r.Updated) > 0 || len(r.Withdrawn) > 0
}

// Configure declares the configured providers, in configuration order
// (the order Placeable sorts by). Providers not listed are removed from
// the catalogue together with their entries, whatever their source.
// Static entries are replaced by the declarations given. Configure may be
// called again on every configuration load; entries of providers that
// stay are kept.
func (c *Catalog) Configure(cfg []ProviderConfig) error {
	seen := make(map[string]bool, len(cfg))
	for _, pc := range cfg {
		if pc.ID == "" {
			return fmt.Errorf("catalog: provider without an id")
		}
		if seen[pc.ID] {
			return fmt.Errorf("catalog: provider %q configured twice", pc.ID)
		}
		seen[pc.ID] = true
		if pc.Static == nil {
			continue
		}
		ids := make(map[string]bool)
		for i := range pc.Static.Services {
			s := &pc.Static.Services[i]
			if s.ID == "" {
				return fmt.Errorf("catalog: provider %q: static service without an id", pc.ID)
			}
			if ids[s.ID] {
				return fmt.Errorf("catalog: provider %q: static service %q declared twice", pc.ID, s.ID)
			}
			ids[s.ID] = true
			if KindOf(s) == "" {
				return fmt.Errorf("catalog: provider %q: static service %q has no kind", pc.ID, s.ID)
			}
		}
	}

	c.mu.Lock()
	if c.loading {
		// Applied once the load has merged the stored records
		// (LoadInBackground), as after a Load.
		c.pendingConfig = &cfg
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	c.apply(cfg)
	c.afterChange(true, true)
	return nil
}

// apply applies a validated configuration (Configure) without the
// change announcements, which the caller makes.
func (c *Catalog) apply(cfg []ProviderConfig) {
	now := c.clock.Now()
	c.mu.Lock()
	c.order = make(map[string]int, len(cfg))
	c.merged = nil // a record left as not configured may be merged now
	c.mergedGen++
	for i, pc := range cfg {
		c.order[pc.ID] = i
	}
	for id, p := range c.providers {
		if _, ok := c.order[id]; ok {
			continue
		}
		delete(c.providers, id)
		delete(c.dirty, id)
		c.deleted[id] = true
		c.logger.Info("provider removed from catalogue: no longer configured", zapProvider(id), zapCount(len(p.services)))
		c.changed(p, false)
	}
	for _, pc := range cfg {
		// A provider added back before the compaction that was to
		// delete its record keeps the record: the next Sync merges it
		// again.
		delete(c.deleted, pc.ID)
		p := c.providers[pc.ID]
		if p == nil {
			p = newProvider(pc.ID)
			c.providers[pc.ID] = p
		}
		if c.applyStatic(p, pc.Static, now) {
			p.reindex()
			c.changed(p, false)
		}
	}
	c.resort()
	c.version.Add(1) // the order may have changed
	c.mu.Unlock()
}

// applyStatic reconciles a provider's static entries with its declaration.
// Callers hold c.mu.
func (c *Catalog) applyStatic(p *provider, st *StaticProvider, now time.Time) bool {
	changed := false
	p.static = st
	if !p.published {
		e := ProviderEntry{ID: p.entry.ID, Status: csbmsg.ServiceActive, Source: SourceStatic, UpdatedAt: p.entry.UpdatedAt}
		if st != nil {
			if st.Status != "" {
				e.Status = st.Status
			}
			e.URI, e.EncryptionSupport, e.Label = st.URI, st.EncryptionSupport, st.Label
		}
		if !sameProvider(p.entry, e) {
			e.UpdatedAt = now
			p.entry = e
			changed = true
		}
	}
	declared := make(map[string]bool)
	if st != nil {
		for _, s := range st.Services {
			declared[s.ID] = true
			old := p.services[s.ID]
			if old != nil && old.e.Source == SourceStatic && sameService(&old.e.Service, &s) {
				continue
			}
			p.services[s.ID] = &svc{e: ServiceEntry{
				ProviderID: p.entry.ID, Kind: KindOf(&s), Service: s, Source: SourceStatic, UpdatedAt: now,
			}}
			changed = true
		}
	}
	for id, s := range p.services {
		if s.e.Source == SourceStatic && !declared[id] {
			delete(p.services, id)
			c.logger.Info("service withdrawn: no longer declared", zapProvider(p.entry.ID), zap.String("service_id", id))
			changed = true
		}
	}
	return changed
}

// ApplyNotification applies a notification the caller has already
// authorised and sequenced: it upserts the provider and every service the
// notification carries, as published entries bound to the lease of the
// notification's id (see SetLease). When full is true the notification is
// the provider's complete offer and published services of the provider it
// does not list are withdrawn. Static entries are never replaced by
// published ones. A service without a support element keeps the
// description the catalogue has for its id and takes the new status
// (withDescriptionOf). The catalogue keeps references into n; the caller
// must not modify it afterwards.
func (c *Catalog) ApplyNotification(n *csbmsg.Notification, full bool) Result {
	c.wait()
	now := c.clock.Now()
	var r Result
	c.mu.Lock()
	lease := c.leases[n.ID]
	p := c.providers[n.Provider.ID]
	isNew := p == nil
	if isNew {
		p = newProvider(n.Provider.ID)
		c.providers[n.Provider.ID] = p
		c.resort()
	}
	e := ProviderEntry{
		ID:                n.Provider.ID,
		Status:            n.Provider.Status,
		URI:               n.Provider.URI,
		EncryptionSupport: n.EncryptionSupport,
		Label:             n.Label,
		Source:            SourcePublished,
		SubscriptionID:    n.ID,
		Expires:           lease,
		UpdatedAt:         now,
	}
	oldStatus := p.entry.Status
	r.ProviderChanged = isNew || !sameProvider(p.entry, e)
	p.entry = e
	p.published = true
	p.subID, p.seq = n.ID, n.SeqNumber
	p.updatedAt = now
	c.leaseUse[n.ID] = p.entry.ID

	var listed map[string]bool
	if full {
		listed = make(map[string]bool, len(n.Services))
	}
	for i := range n.Services {
		s := n.Services[i]
		if full {
			listed[s.ID] = true
		}
		old := p.services[s.ID]
		if old != nil && old.e.Source == SourceStatic {
			r.Shadowed = append(r.Shadowed, s.ID)
			continue
		}
		if old != nil && KindOf(&s) == "" && old.e.Kind != "" {
			s = withDescriptionOf(s, &old.e.Service)
		}
		if old != nil && old.e.Source == SourcePublished && old.lease == n.ID &&
			old.e.Expires.Equal(lease) && sameService(&old.e.Service, &s) {
			continue
		}
		p.services[s.ID] = &svc{lease: n.ID, e: ServiceEntry{
			ProviderID: p.entry.ID, Kind: KindOf(&s), Service: s, Source: SourcePublished, Expires: lease, UpdatedAt: now,
		}}
		if old == nil {
			r.Added = append(r.Added, s.ID)
		} else {
			r.Updated = append(r.Updated, s.ID)
		}
	}
	if full {
		for id, s := range p.services {
			if s.e.Source == SourcePublished && !listed[id] {
				delete(p.services, id)
				r.Withdrawn = append(r.Withdrawn, id)
			}
		}
	}
	if r.Changed() {
		p.reindex()
		c.changed(p, true)
	} else {
		// Only the sequence moved: persist it, no placement change.
		c.bumpGen(p.entry.ID)
		c.markDirty(p)
	}
	c.mu.Unlock()
	c.afterChange(true, r.Changed())

	quiet := !isNew && oldStatus == e.Status && len(r.Added) == 0 && len(r.Withdrawn) == 0 && len(r.Shadowed) == 0
	if quiet && !c.logger.Core().Enabled(zap.DebugLevel) {
		return r // the usual case: nothing to log, no logger built
	}
	l := c.logger.With(zapProvider(n.Provider.ID), zapSubscription(n.ID))
	switch {
	case isNew:
		l.Info("provider added to catalogue", zap.String("status", string(e.Status)), zapCount(len(r.Added)))
	case oldStatus != e.Status:
		l.Info("provider status changed", zap.String("from", string(oldStatus)), zap.String("status", string(e.Status)))
	}
	if !isNew {
		for _, id := range r.Added {
			l.Info("service added to catalogue", zap.String("service_id", id))
		}
	}
	for _, id := range r.Withdrawn {
		l.Info("service withdrawn: absent from full notification", zap.String("service_id", id))
	}
	for _, id := range r.Shadowed {
		l.Warn("published service ignored: a static service has its id", zap.String("service_id", id))
	}
	if ce := l.Check(zap.DebugLevel, "notification applied"); ce != nil {
		ce.Write(zap.Uint64("seqnumber", n.SeqNumber), zap.Bool("full", full),
			zap.Int("updated", len(r.Updated)), zap.Bool("changed", r.Changed()))
	}
	return r
}

// ErrTooManyServices is CheckNotification's refusal of a notification
// that would leave its provider with more published services than
// Options.MaxPublishedServices.
var ErrTooManyServices = errors.New("too many published services")

// CheckNotification reports whether ApplyNotification(n, full) would
// leave n's provider within Options.MaxPublishedServices; the error wraps
// ErrTooManyServices and gives the numbers. The publish interface calls
// it before it changes anything for the notification.
func (c *Catalog) CheckNotification(n *csbmsg.Notification, full bool) error {
	c.wait()
	limit := c.opt.MaxPublishedServices
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := c.providers[n.Provider.ID]
	var have map[string]*svc
	if p != nil {
		have = p.services
	}
	if len(have)+len(n.Services) <= limit {
		return nil // the usual case: no count needed
	}
	count := 0
	if !full { // a full notification withdraws every other published service
		for _, s := range have {
			if s.e.Source == SourcePublished {
				count++
			}
		}
	}
	for i := range n.Services {
		old := have[n.Services[i].ID]
		switch {
		case old != nil && old.e.Source == SourceStatic: // shadowed, not published
		case full || old == nil || old.e.Source != SourcePublished:
			count++
		}
	}
	if count > limit {
		return fmt.Errorf("%w: provider %q would have %d published services, the broker keeps at most %d",
			ErrTooManyServices, n.Provider.ID, count, limit)
	}
	return nil
}

// withDescriptionOf returns s, a published <Cloud-Service> without a
// support element, with the description of old, the entry it replaces:
// its support element (and so its kind) and, when s names none, its URI.
// The schema lets a <Cloud-Service> carry only its id and status (the
// support elements are a choice of optional members), which is how a
// provider says that a service it described before is now deactivated,
// unavailable or active again; taken as a new description, it would
// leave an entry of no kind that placement never offers again, and the
// provider would have been told its notification was applied.
func withDescriptionOf(s csbmsg.Service, old *csbmsg.Service) csbmsg.Service {
	s.IaaS, s.PaaS, s.SaaS, s.DSaaS = old.IaaS, old.PaaS, old.SaaS, old.DSaaS
	if s.URI == "" {
		s.URI = old.URI
	}
	return s
}

// SetLease records when the entries published under a lease id (a
// subscription id, or a push id) expire; zero means never. Entries already
// published under the id take the new expiry at once; notifications
// applied later under the id carry it. The subscription manager calls it
// whenever a subscription is granted, renewed, or lapses.
func (c *Catalog) SetLease(id string, expires time.Time) {
	c.wait()
	c.mu.Lock()
	changed := c.setLeaseLocked(id, expires)
	c.mu.Unlock()
	if changed {
		c.afterChange(true, true)
	}
}

func (c *Catalog) setLeaseLocked(id string, expires time.Time) bool {
	if old, ok := c.leases[id]; ok && old.Equal(expires) {
		return false
	}
	c.leases[id] = expires
	pid, ok := c.leaseUse[id]
	if !ok {
		return false
	}
	p := c.providers[pid]
	if p == nil {
		return false
	}
	if c.refreshLeases(p) {
		p.updatedAt = c.clock.Now()
		p.reindex()
		c.changed(p, true)
		return true
	}
	return false
}

// refreshLeases sets every published entry's expiry to its lease's.
// Callers hold c.mu.
func (c *Catalog) refreshLeases(p *provider) bool {
	changed := false
	for id, s := range p.services {
		if s.lease == "" {
			continue
		}
		x, ok := c.leases[s.lease]
		if !ok || x.Equal(s.e.Expires) {
			continue
		}
		ns := &svc{e: s.e, lease: s.lease}
		ns.e.Expires = x
		p.services[id] = ns
		changed = true
	}
	if p.subID != "" {
		if x, ok := c.leases[p.subID]; ok && !x.Equal(p.entry.Expires) {
			p.entry.Expires = x
			changed = true
		}
	}
	return changed
}

// SetDiscovered replaces the discovered entries of a provider with what an
// adapter's discovery found, each expiring at expires (zero: never). Ids
// that a static or published entry already has are left alone.
func (c *Catalog) SetDiscovered(providerID string, services []csbmsg.Service, expires time.Time) Result {
	c.wait()
	now := c.clock.Now()
	var r Result
	c.mu.Lock()
	p := c.providers[providerID]
	if p == nil {
		p = newProvider(providerID)
		c.providers[providerID] = p
		c.resort()
		r.ProviderChanged = true
	}
	found := make(map[string]bool, len(services))
	for _, s := range services {
		if s.ID == "" || KindOf(&s) == "" {
			continue
		}
		found[s.ID] = true
		old := p.services[s.ID]
		if old != nil && old.e.Source != SourceDiscovered {
			r.Shadowed = append(r.Shadowed, s.ID)
			continue
		}
		if old != nil && old.e.Expires.Equal(expires) && sameService(&old.e.Service, &s) {
			continue
		}
		p.services[s.ID] = &svc{e: ServiceEntry{
			ProviderID: providerID, Kind: KindOf(&s), Service: s, Source: SourceDiscovered, Expires: expires, UpdatedAt: now,
		}}
		if old == nil {
			r.Added = append(r.Added, s.ID)
		} else {
			r.Updated = append(r.Updated, s.ID)
		}
	}
	for id, s := range p.services {
		if s.e.Source == SourceDiscovered && !found[id] {
			delete(p.services, id)
			r.Withdrawn = append(r.Withdrawn, id)
		}
	}
	p.discoveredAt = now
	if r.Changed() {
		p.reindex()
		c.changed(p, true)
	} else {
		c.markDirty(p)
	}
	c.mu.Unlock()
	c.afterChange(true, r.Changed())
	l := c.logger.With(zapProvider(providerID))
	for _, id := range r.Added {
		l.Info("service discovered", zap.String("service_id", id))
	}
	for _, id := range r.Withdrawn {
		l.Info("service withdrawn: no longer discovered", zap.String("service_id", id))
	}
	return r
}

// collect drops published and discovered entries that expired longer
// than the retention ago, and lease records nothing refers to.
func (c *Catalog) collect() {
	now := c.clock.Now()
	cut := now.Add(-c.opt.Retention)
	changed := false
	c.mu.Lock()
	used := make(map[string]bool)
	for _, p := range c.providers {
		n := 0
		for id, s := range p.services {
			if s.e.Source != SourceStatic && !s.e.Expires.IsZero() && s.e.Expires.Before(cut) {
				delete(p.services, id)
				n++
				continue
			}
			if s.lease != "" {
				used[s.lease] = true
			}
		}
		if p.subID != "" {
			used[p.subID] = true
		}
		if n > 0 {
			c.logger.Info("expired services dropped after retention", zapProvider(p.entry.ID), zapCount(n))
			p.updatedAt = now
			p.reindex()
			c.changed(p, true)
			changed = true
		}
	}
	for id, x := range c.leases {
		if !used[id] && !x.IsZero() && x.Before(cut) {
			delete(c.leases, id)
			delete(c.leaseUse, id)
		}
	}
	c.mu.Unlock()
	if changed {
		c.afterChange(true, true)
	}
}

func sameProvider(a, b ProviderEntry) bool {
	return a.ID == b.ID && a.Status == b.Status && a.URI == b.URI && a.Label == b.Label &&
		a.Source == b.Source && a.SubscriptionID == b.SubscriptionID && a.Expires.Equal(b.Expires) &&
		((a.EncryptionSupport == nil) == (b.EncryptionSupport == nil)) &&
		(a.EncryptionSupport == nil || *a.EncryptionSupport == *b.EncryptionSupport)
}

func zapProvider(id string) zap.Field     { return zap.String("provider_id", id) }
func zapSubscription(id string) zap.Field { return zap.String("subscription_id", id) }
func zapCount(n int) zap.Field            { return zap.Int("services", n) }
