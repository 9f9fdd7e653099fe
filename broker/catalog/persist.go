package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"maps"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// record is the durable form of one provider: its provider-level fields
// and its published and discovered entries (static entries come from the
// configuration and are not stored). It is stored as JSON under
// <prefix><escaped provider id>.
//
// Merging (on a warm start and when syncing with other brokers sharing
// the store) uses the record's version: between two records of the same
// subscription id the higher seqnumber wins; otherwise the later
// updated_at wins. Lease expiries merge to the later one. Discovered
// entries merge by discovered_at.
type record struct {
	Provider     ProviderEntry        `json:"provider"`
	Published    bool                 `json:"published,omitempty"`
	SeqNumber    uint64               `json:"seqnumber,omitempty"`
	UpdatedAt    time.Time            `json:"updated_at"`
	DiscoveredAt time.Time            `json:"discovered_at,omitzero"`
	Services     []recordService      `json:"services,omitempty"`
	Leases       map[string]time.Time `json:"leases,omitempty"`
}

type recordService struct {
	ServiceEntry
	Lease string `json:"lease,omitempty"`

	// src is the catalogue entry the service was read from, whose cached
	// JSON appendRecord uses while the two agree.
	src *svc
}

// appendRecord appends r's JSON to buf: what json.Marshal(r) gives, with
// the services last. A service's JSON is the one cached on the catalogue
// entry it was read from while the two agree (a merge may have changed
// the copy's expiry), so a provider's unchanged services are encoded
// once, not once per notification; and encoding/json does not validate
// those bytes again, which json.Marshal of a Marshaler does.
func appendRecord(buf []byte, r *record) ([]byte, error) {
	buf, err := appendRecordHead(buf, r)
	if err != nil {
		return buf, err
	}
	if len(r.Services) > 0 {
		buf = append(buf, `,"services":[`...)
		for i := range r.Services {
			if i > 0 {
				buf = append(buf, ',')
			}
			js, err := r.Services[i].json()
			if err != nil {
				return buf, err
			}
			buf = append(buf, js...)
		}
		buf = append(buf, ']')
	}
	return append(buf, '}'), nil
}

// appendRecordHead appends what json.Marshal gives for r without its
// services (a record's head), without its closing brace. It is written out because encoding/json's
// reflection over the head (a struct, times, the leases' map) was most
// of a journal record's cost once the services' JSON is cached; a
// string needing any escape, and a time json.Marshal refuses, go through
// encoding/json itself. TestAppendRecordHead compares the two.
func appendRecordHead(buf []byte, r *record) ([]byte, error) {
	var err error
	p := &r.Provider
	buf = appendStringField(buf, `{"provider":{"id":`, p.ID, false)
	buf = appendStringField(buf, `,"status":`, string(p.Status), false)
	buf = appendStringField(buf, `,"uri":`, p.URI, true)
	if p.EncryptionSupport != nil {
		buf = append(buf, `,"encryption_support":`...)
		buf = strconv.AppendBool(buf, *p.EncryptionSupport)
	}
	buf = appendStringField(buf, `,"label":`, p.Label, true)
	buf = appendStringField(buf, `,"source":`, string(p.Source), false)
	buf = appendStringField(buf, `,"subscription_id":`, p.SubscriptionID, true)
	if !p.Expires.IsZero() {
		buf = append(buf, `,"expires":`...)
		if buf, err = appendJSONTime(buf, p.Expires); err != nil {
			return buf, err
		}
	}
	buf = append(buf, `,"updated_at":`...)
	if buf, err = appendJSONTime(buf, p.UpdatedAt); err != nil {
		return buf, err
	}
	buf = append(buf, '}')
	if r.Published {
		buf = append(buf, `,"published":true`...)
	}
	if r.SeqNumber != 0 {
		buf = append(buf, `,"seqnumber":`...)
		buf = strconv.AppendUint(buf, r.SeqNumber, 10)
	}
	buf = append(buf, `,"updated_at":`...)
	if buf, err = appendJSONTime(buf, r.UpdatedAt); err != nil {
		return buf, err
	}
	if !r.DiscoveredAt.IsZero() {
		buf = append(buf, `,"discovered_at":`...)
		if buf, err = appendJSONTime(buf, r.DiscoveredAt); err != nil {
			return buf, err
		}
	}
	if len(r.Leases) > 0 {
		buf = append(buf, `,"leases":{`...)
		var one [1]string // a provider's own lease, usually the only one
		ids := one[:0]
		if len(r.Leases) > 1 {
			ids = slices.Sorted(maps.Keys(r.Leases))
		} else {
			for id := range r.Leases {
				ids = append(ids, id)
			}
		}
		for i, id := range ids {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, id)
			buf = append(buf, ':')
			if buf, err = appendJSONTime(buf, r.Leases[id]); err != nil {
				return buf, err
			}
		}
		buf = append(buf, '}')
	}
	return buf, nil
}

// appendStringField appends key (with its separator and colon) and the
// string v, or nothing when v is empty and omitEmpty is set.
func appendStringField(buf []byte, key, v string, omitEmpty bool) []byte {
	if omitEmpty && v == "" {
		return buf
	}
	return appendJSONString(append(buf, key...), v)
}

// appendJSONString appends s as encoding/json writes it: quoted as it is
// when it is printable ASCII needing no escape (ids, statuses, URLs),
// otherwise by encoding/json.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON writes it (RFC 3339
// with nanoseconds, quoted), and refuses the times it refuses.
func appendJSONTime(buf []byte, t time.Time) ([]byte, error) {
	buf = append(buf, '"')
	buf, err := t.AppendText(buf)
	return append(buf, '"'), err
}

// json returns the service's JSON, from the cache of the catalogue
// entry it was read from when the two agree.
func (rs *recordService) json() ([]byte, error) {
	s := rs.src
	if s == nil || s.e != rs.ServiceEntry || s.lease != rs.Lease {
		return json.Marshal(rs)
	}
	if b := s.js.Load(); b != nil {
		return *b, nil
	}
	b, err := json.Marshal(rs)
	if err == nil {
		s.js.Store(&b)
	}
	return b, err
}

func (c *Catalog) key(providerID string) string {
	return c.opt.KeyPrefix + url.PathEscape(providerID)
}

// snapshotRecord builds the record of p. Callers hold c.mu.
func (c *Catalog) snapshotRecord(p *provider) *record {
	r := &record{
		Provider:     p.entry,
		Published:    p.published,
		SeqNumber:    p.seq,
		UpdatedAt:    p.updatedAt,
		DiscoveredAt: p.discoveredAt,
	}
	for _, id := range p.serviceIDs() {
		s := p.services[id]
		if s.e.Source == SourceStatic {
			continue
		}
		r.Services = append(r.Services, recordService{ServiceEntry: s.e, Lease: s.lease, src: s})
		if s.lease != "" {
			if r.Leases == nil {
				r.Leases = make(map[string]time.Time)
			}
			r.Leases[s.lease] = c.leases[s.lease]
		}
	}
	if p.subID != "" {
		if r.Leases == nil {
			r.Leases = make(map[string]time.Time)
		}
		r.Leases[p.subID] = c.leases[p.subID]
	}
	return r
}

// flushLoop writes changed records behind, gathering changes for
// FlushDelay. A failure is logged when writing starts failing and when it
// recovers, not on every try.
func (c *Catalog) flushLoop() {
	defer c.done.Done()
	var b background
	for {
		select {
		case <-c.stop:
			return
		case <-c.dirtyCh:
		}
		if !c.sleep(c.opt.FlushDelay) {
			return
		}
		err := b.run(c.logger, c.Flush, "catalogue records cannot be written to storage", "catalogue records written to storage again")
		if err != nil {
			// Try again after the next delay.
			select {
			case c.dirtyCh <- struct{}{}:
			default:
			}
		}
	}
}

// Load reads every provider record and every journal file from the store
// and merges them in, so a restarted broker starts warm: published
// entries keep their expiry (the time remaining is what was left),
// sequencing resumes from the stored seqnumbers. Journal files of other
// instances (a previous run of this broker among them) are compacted by
// the next compaction. It returns the number of providers and services
// loaded.
func (c *Catalog) Load(ctx context.Context) (providers, services int, err error) {
	return c.syncOnce(ctx, true)
}

func (c *Catalog) syncOnce(ctx context.Context, load bool) (int, int, error) {
	np, ns, changed, err := c.syncRecords(ctx, load)
	if changed {
		c.afterChange(true, true)
	}
	return np, ns, err
}

// Sync merges the records and journal files of other brokers sharing the
// store now. The sync loop calls it every SyncInterval.
func (c *Catalog) Sync(ctx context.Context) error {
	c.wait()
	_, _, err := c.syncOnce(ctx, false)
	return err
}

// syncRecords merges the stored records and journal files (Load, Sync).
// It reports whether anything changed; the caller announces it.
func (c *Catalog) syncRecords(ctx context.Context, load bool) (int, int, bool, error) {
	if c.opt.Store == nil {
		return 0, 0, false, nil
	}
	keys, err := c.opt.Store.List(ctx, c.opt.KeyPrefix)
	if err != nil {
		return 0, 0, false, err
	}
	// A Sync decodes only the records whose bytes changed since it last
	// merged them: merging the same record again changes nothing (a
	// published record wins by a higher seqnumber or a later updated_at,
	// discovered entries by a later discovered_at, leases merge to the
	// later expiry), and with 100,000 services every Sync (10 s) decoded
	// tens of megabytes of JSON. A Load reads them all; so does the Sync
	// after a Configure (a record of a provider not configured was read
	// and left). Records of providers this broker no longer holds are
	// read again too.
	var skip map[string]mergedRecord
	c.mu.RLock()
	gen := c.mergedGen
	if !load {
		for k, m := range c.merged {
			if c.providers[m.provider] != nil {
				if skip == nil {
					skip = make(map[string]mergedRecord, len(c.merged))
				}
				skip[k] = m
			}
		}
	}
	c.mu.RUnlock()
	read := c.readRecords(ctx, keys, skip)
	recs, errs := read.recs, read.errs
	sort.Slice(recs, func(i, j int) bool { return recs[i].Provider.ID < recs[j].Provider.ID })
	// Journal files after the records: they hold what compaction has not
	// folded into the records yet.
	jrecs, err := c.readJournals(ctx, load)
	if err != nil {
		errs = append(errs, err)
	}
	adopted := make(map[string]bool)
	changed := false
	c.mu.Lock()
	for i, r := range append(recs, jrecs...) {
		a, ch := c.merge(r, i < len(recs))
		if a {
			adopted[r.Provider.ID] = true
		}
		changed = changed || ch
	}
	// A record left unread still has its leases refreshed: another
	// record may have moved one of them.
	for _, id := range read.unchanged {
		if p := c.providers[id]; p != nil && c.refreshLeases(p) {
			p.reindex()
			c.changed(p, false)
			changed = true
		}
	}
	if changed {
		c.resort()
	}
	if c.mergedGen == gen { // no Configure meanwhile
		c.merged = read.merged
		for k, m := range c.merged {
			_, held := c.providers[m.provider]
			_, configured := c.order[m.provider]
			if !held || len(c.order) > 0 && !configured {
				delete(c.merged, k) // left by merge: read it again
			}
		}
	}
	ns := 0
	for id := range adopted {
		for _, s := range c.providers[id].services {
			if s.e.Source != SourceStatic {
				ns++
			}
		}
	}
	c.mu.Unlock()
	return len(adopted), ns, changed, errors.Join(errs...)
}

// merge folds a stored record (a per-provider record, or one from a
// journal file) into the map. It reports whether the record's entries were
// adopted and whether anything changed. When repair is set (a per-provider
// record) and the record is older than what this broker holds, and no
// journal file of this broker waits to be compacted into it, the
// provider is marked for writing again. Callers hold c.mu.
func (c *Catalog) merge(r *record, repair bool) (adopted, changed bool) {
	id := r.Provider.ID
	if len(c.order) > 0 {
		if _, ok := c.order[id]; !ok {
			return false, false // not configured here
		}
	}
	// Leases merge to the later expiry (zero: never, the latest).
	for lid, x := range r.Leases {
		old, ok := c.leases[lid]
		if !ok || (!old.IsZero() && (x.IsZero() || x.After(old))) {
			c.leases[lid] = x
		}
		if _, ok := c.leaseUse[lid]; !ok {
			c.leaseUse[lid] = id
		}
	}
	p := c.providers[id]
	if p == nil {
		p = newProvider(id)
		c.providers[id] = p
		changed = true
	}
	published := false
	switch {
	case !r.Published:
	case !p.published:
		published = true
	case r.Provider.SubscriptionID == p.subID:
		published = r.SeqNumber > p.seq
	default:
		published = r.UpdatedAt.After(p.updatedAt)
	}
	discovered := r.DiscoveredAt.After(p.discoveredAt)
	if published {
		p.entry = r.Provider
		p.published = true
		p.subID, p.seq = r.Provider.SubscriptionID, r.SeqNumber
		p.updatedAt = r.UpdatedAt
		if p.subID != "" {
			c.leaseUse[p.subID] = id
		}
		c.replaceSource(p, r, SourcePublished)
		adopted, changed = true, true
	}
	if discovered {
		p.discoveredAt = r.DiscoveredAt
		c.replaceSource(p, r, SourceDiscovered)
		adopted, changed = true, true
	}
	if c.refreshLeases(p) {
		changed = true
	}
	// A record older than what this broker holds is repaired by writing
	// ours again.
	if repair && c.opt.Store != nil && !published && (p.published || !p.discoveredAt.IsZero()) {
		older := false
		if r.Provider.SubscriptionID == p.subID {
			older = p.seq > r.SeqNumber
		} else {
			older = p.updatedAt.After(r.UpdatedAt)
		}
		if (older || (!discovered && p.discoveredAt.After(r.DiscoveredAt))) && !c.j.isPending(id) {
			c.markDirty(p)
		}
	}
	if changed {
		p.reindex()
		c.changed(p, false)
		c.logger.Debug("catalogue record merged from storage", zapProvider(id),
			zap.Uint64("seqnumber", r.SeqNumber), zap.Bool("published", published), zap.Bool("discovered", discovered))
	}
	return adopted, changed
}

// replaceSource replaces p's entries of one source with the record's.
// Static entries keep precedence, and published ones over discovered
// ones (as in SetDiscovered and mergeRecords): another broker may have
// discovered an id before it learnt that the provider publishes it.
// Callers hold c.mu.
func (c *Catalog) replaceSource(p *provider, r *record, src Source) {
	for id, s := range p.services {
		if s.e.Source == src {
			delete(p.services, id)
		}
	}
	for _, rs := range r.Services {
		if rs.Source != src {
			continue
		}
		if old := p.services[rs.Service.ID]; old != nil && (old.e.Source == SourceStatic ||
			src == SourceDiscovered && old.e.Source == SourcePublished) {
			continue
		}
		rs.ProviderID = p.entry.ID
		p.services[rs.Service.ID] = &svc{e: rs.ServiceEntry, lease: rs.Lease}
	}
}

// syncLoop merges records of other brokers every SyncInterval.
func (c *Catalog) syncLoop() {
	c.every(c.opt.SyncInterval, c.Sync,
		"catalogue records cannot be read from storage", "catalogue records read from storage again")
}

// mergedRecord is what a sync merged of one provider record: the
// provider and a hash of the record's bytes.
type mergedRecord struct {
	provider string
	sum      uint64
}

// recordSeed seeds the hashes of mergedRecord.
var recordSeed = maphash.MakeSeed()

// readResult is what readRecords read.
type readResult struct {
	recs []*record
	errs []error
	// unchanged are the providers whose records skip listed with the
	// bytes they still have: not decoded.
	unchanged []string
	// merged is what the records read and left unread make of
	// Catalog.merged.
	merged map[string]mergedRecord
}

// readRecords reads the provider records of keys and decodes those
// whose bytes differ from what skip holds, on every core: a catalogue
// of a hundred thousand services is tens of megabytes of JSON, which a
// broker decodes before it serves (Load).
func (c *Catalog) readRecords(ctx context.Context, keys []string, skip map[string]mergedRecord) readResult {
	out := make([]*record, len(keys))
	errs := make([]error, len(keys))
	sums := make([]mergedRecord, len(keys))
	same := make([]bool, len(keys))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := min(runtime.GOMAXPROCS(0), len(keys)); w > 0; w-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(keys) {
					return
				}
				k := keys[i]
				data, err := c.opt.Store.Load(ctx, k)
				if errors.Is(err, store.ErrNotExist) {
					continue // deleted meanwhile
				}
				if err != nil {
					errs[i] = err
					continue
				}
				sum := maphash.Bytes(recordSeed, data)
				if m, ok := skip[k]; ok && m.sum == sum {
					sums[i], same[i] = m, true
					continue
				}
				c.decoded.Add(1)
				r := new(record)
				if err := json.Unmarshal(data, r); err != nil || r.Provider.ID == "" {
					c.logger.Warn("unreadable catalogue record skipped", zap.String("key", k), zap.Error(err))
					continue
				}
				out[i], sums[i] = r, mergedRecord{provider: r.Provider.ID, sum: sum}
			}
		}()
	}
	wg.Wait()
	res := readResult{merged: make(map[string]mergedRecord, len(keys))}
	for i, k := range keys {
		switch {
		case same[i]:
			res.unchanged = append(res.unchanged, sums[i].provider)
		case out[i] != nil:
			res.recs = append(res.recs, out[i])
		case errs[i] != nil:
			res.errs = append(res.errs, errs[i])
			continue
		default:
			continue
		}
		res.merged[k] = sums[i]
	}
	return res
}
