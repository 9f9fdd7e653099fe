package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// The catalogue's durable copy has two parts in the store:
//
//   - one record per provider under KeyPrefix (<prefix><escaped id>), the
//     compacted state;
//   - journal files under JournalPrefix, named <instance>.<seq>, each
//     holding the complete records of the providers one Flush found
//     changed.
//
// A Flush (the publish interface's acknowledgement path) writes one
// journal file, whatever the number of providers that changed, so
// concurrent notifications of many providers share one storage write (on
// Caddy's file-system storage, one synced file). Compaction folds journal
// files into the per-provider records in the background: under a storage
// lock shared by every broker of a cluster, it reads each affected
// provider's stored record, merges the journal's record into it with the
// same rules Load uses, writes the result when it differs, and only then
// deletes the journal files it covered. Load and Sync merge the
// per-provider records and every journal file, so a restart or another
// broker sees everything that was flushed, compacted or not.
//
// Crash safety, step by step:
//   - before the journal write completes, nothing was acknowledged;
//   - after it, before compaction: the journal file is read by whoever
//     loads the store next (a restart has a new instance id, so it takes
//     the file as foreign and compacts it);
//   - mid-compaction: merged records are written before any journal file
//     is deleted, and merging is idempotent, so compacting the same files
//     again gives the same records;
//   - two brokers compacting: the storage lock serialises them, and each
//     reads the record it merges into under the lock, so neither
//     overwrites the other's merge;
//   - a dead broker's journal files: a broker that loads the store
//     compacts every foreign journal file it finds; a running broker
//     compacts foreign files it has seen for orphanAge.
//
// Journal files are immutable once written, so Sync reads each foreign
// file once, and skips the files of its own instance (its memory holds
// what it wrote).

// DefaultCompactInterval is the default of Options.CompactInterval.
const DefaultCompactInterval = 5 * time.Second

// journalFile is the content of one journal file.
type journalFile struct {
	Instance string    `json:"instance"`
	Seq      uint64    `json:"seq"`
	Records  []*record `json:"records"`
}

// journal is a Catalog's bookkeeping of the journal: what this instance
// wrote and has not compacted yet, and the foreign files seen.
type journal struct {
	instance string
	seq      uint64 // last journal file written; only the group commit's leader touches it
	// bytesPerRecord is the size of the last journal file written,
	// divided by its records: encodeJournal's size hint. Only the leader
	// touches it.
	bytesPerRecord int

	mu sync.Mutex
	// pending holds, per provider, the newest record this instance
	// journaled and has not compacted yet; keys the journal files they
	// are in.
	pending map[string]*record
	keys    []string
	// foreign are other instances' journal files to compact at the next
	// compaction (all of them after Load; orphans after that).
	foreign map[string]bool
	// seen tracks other instances' journal files by key: when Sync first
	// listed them, and whether their records were merged.
	seen map[string]*seenFile

	compactMu sync.Mutex // one compaction at a time in this process
}

type seenFile struct {
	first  time.Time
	merged bool
	warned bool // logged as unreadable
}

func newJournal(instance string) *journal {
	if instance == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		instance = hex.EncodeToString(b[:])
	}
	return &journal{
		instance: instance,
		pending:  make(map[string]*record),
		foreign:  make(map[string]bool),
		seen:     make(map[string]*seenFile),
	}
}

// isPending reports whether a journal file of this instance holds a
// record of the provider that compaction has not folded in yet.
func (j *journal) isPending(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.pending[id]
	return ok
}

// journalKey is the key of journal file seq of this instance. The seq is
// zero-padded so that keys sort in writing order.
func (c *Catalog) journalKey(seq uint64) string {
	return fmt.Sprintf("%s%s.%016d", c.opt.JournalPrefix, c.j.instance, seq)
}

// journalOwner returns the instance that wrote the journal file key.
func (c *Catalog) journalOwner(key string) string {
	owner, _, _ := strings.Cut(strings.TrimPrefix(key, c.opt.JournalPrefix), ".")
	return owner
}

// compactLock is the storage lock compactions hold.
func (c *Catalog) compactLock() string { return c.opt.JournalPrefix + "compact" }

// orphanAge is how long another instance's journal file must have been
// listed before this instance compacts it: its owner compacts its own
// files every CompactInterval, so a file this old belongs to a broker
// that stopped without compacting (a crash) or cannot compact.
func (c *Catalog) orphanAge() time.Duration {
	return max(6*c.opt.CompactInterval, 30*time.Second)
}

// encodeJournal returns the content of journal file seq: a journalFile
// in JSON.
func (c *Catalog) encodeJournal(seq uint64, recs []*record) ([]byte, error) {
	inst, _ := json.Marshal(c.j.instance)
	// Sized from the previous file's bytes per record (within bounds, so
	// that one large provider does not inflate the next file's buffer),
	// so that the buffer is not grown, and copied, record after record.
	per := min(max(c.j.bytesPerRecord, 2048), 16<<10)
	buf := make([]byte, 0, per*len(recs)+per/4+64)
	buf = append(buf, `{"instance":`...)
	buf = append(buf, inst...)
	buf = append(buf, `,"seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, `,"records":[`...)
	for i, r := range recs {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendRecord(buf, r); err != nil {
			return nil, err
		}
	}
	buf = append(buf, "]}"...)
	c.j.bytesPerRecord = len(buf) / len(recs)
	return buf, nil
}

// groupCommit coordinates Flush callers: one of them (the leader) writes
// a journal file with every change made so far, and every caller whose
// change that write covers returns when it completes, without writing
// anything itself. Callers whose change came later wait for the write in
// flight, then one of them leads the next one. (A plain mutex around the
// write would make each of them wait for the next write too: a convoy.)
//
// A leader also waits, up to Options.CommitWait, for the changes announced
// with Expect that are on their way (notifications being parsed) when it
// takes the lead, so that they share its write: with storage that writes
// faster than notifications are parsed, each write would otherwise carry
// two or three of them, and a synced file write costs as much CPU as a
// notification's parse. While notifications arrive concurrently, a leader
// also waits until Options.CommitSpacing has passed since the previous
// write started, so that under load the writes, and the files they
// create, stay few and large; it stops waiting as soon as Options.CommitBatch
// callers wait for its write, which is then large enough.
type groupCommit struct {
	mu      sync.Mutex
	durable uint64        // every change numbered up to durable is in the store
	running chan struct{} // closed when the write in flight completes; nil when none is

	lastStart time.Time // when the last write started; only the leader touches it
	lastGroup uint64    // the changes the last write covered

	// While the leader waits out the spacing, spaced is non-nil and
	// queued counts the callers (the leader included) waiting for its
	// write; the caller that brings queued to CommitBatch closes spaced.
	spaced chan struct{}
	queued int

	inflight int           // changes announced with Expect and not arrived yet
	arrived  uint64        // changes arrived so far
	waitFor  uint64        // the leader's wait ends when arrived reaches it
	waiter   chan struct{} // closed when it does; nil when no leader waits
}

// Expect announces a change on its way (a notification being parsed and
// authorised): a Flush that starts meanwhile waits for it, up to
// CommitWait, so that both share one storage write. Call the returned
// function once the change was made (before calling Flush for it), or
// once it will not be made.
func (c *Catalog) Expect() (arrived func()) {
	c.wait()
	if c.opt.Store == nil || c.opt.CommitWait <= 0 {
		return func() {}
	}
	g := &c.gc
	g.mu.Lock()
	g.inflight++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.inflight--
			g.arrived++
			if g.waiter != nil && g.arrived >= g.waitFor {
				close(g.waiter)
				g.waiter = nil
			}
			g.mu.Unlock()
		})
	}
}

// awaitSpacing is the leader's wait for CommitSpacing since the previous
// write started, cut short when CommitBatch callers wait for its write.
// Like awaitExpected it measures real time. Callers hold g.mu; it
// returns with g.mu held.
func (c *Catalog) awaitSpacing(ctx context.Context) {
	g := &c.gc
	if c.opt.CommitSpacing <= 0 {
		return
	}
	wait := time.Until(g.lastStart.Add(c.opt.CommitSpacing))
	if wait <= 0 {
		return
	}
	var full chan struct{}
	if c.opt.CommitBatch > 0 {
		full = make(chan struct{})
		g.spaced, g.queued = full, 1
	}
	g.mu.Unlock()
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-full: // nil, never ready, without CommitBatch
	case <-ctx.Done():
	}
	t.Stop()
	g.mu.Lock()
	if g.spaced == full {
		g.spaced = nil
	}
}

// queue counts a Flush caller that waits for the leader's write while the
// leader waits out the spacing, and ends that wait when the write has
// CommitBatch callers. Callers hold g.mu.
func (c *Catalog) queue() {
	g := &c.gc
	if g.spaced == nil {
		return
	}
	g.queued++
	if g.queued >= c.opt.CommitBatch {
		close(g.spaced)
		g.spaced = nil
	}
}

// awaitExpected is the leader's wait for the changes in flight when it
// took the lead. It measures real time, whatever the catalogue's clock:
// it bounds a delay, it schedules nothing. Callers hold g.mu; it returns
// with g.mu released.
func (c *Catalog) awaitExpected(ctx context.Context) {
	g := &c.gc
	if g.inflight == 0 || c.opt.CommitWait <= 0 {
		g.mu.Unlock()
		return
	}
	g.waitFor = g.arrived + uint64(g.inflight)
	w := make(chan struct{})
	g.waiter = w
	g.mu.Unlock()
	t := time.NewTimer(c.opt.CommitWait)
	select {
	case <-w:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	g.mu.Lock()
	if g.waiter == w {
		g.waiter = nil
	}
	g.mu.Unlock()
}

// Flush makes every change made before the call durable: it writes the
// records of all changed providers to one journal file. When it returns
// nil, a restart, and every broker sharing the store, finds those
// changes. Concurrent callers share one write (group commit): a call
// whose changes a write in flight already covers waits for that write
// and writes nothing. The publish interface calls it before acknowledging
// a notification. Compaction (Compact, run every CompactInterval once
// started) folds journal files into the per-provider records and carries
// out deletions of providers removed from the configuration.
func (c *Catalog) Flush(ctx context.Context) error {
	c.wait()
	if c.opt.Store == nil {
		return nil
	}
	c.mu.RLock()
	target := c.changes
	c.mu.RUnlock()
	g := &c.gc
	for {
		g.mu.Lock()
		if g.durable >= target {
			g.mu.Unlock()
			return nil
		}
		if ch := g.running; ch != nil {
			c.queue()
			g.mu.Unlock()
			select {
			case <-ch:
				continue // covered now, or lead the next write
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		g.running = ch
		// Spacing applies to concurrent notifications only: the last
		// write carried more than one change, or changes are on their
		// way. A provider notifying in sequence is not slowed down.
		if g.lastGroup > 1 || g.inflight > 0 {
			c.awaitSpacing(ctx)
		}
		c.awaitExpected(ctx) // releases g.mu

		g.lastStart = time.Now()
		upto, err := c.writeJournal(ctx)
		g.mu.Lock()
		if err == nil && upto > g.durable {
			g.lastGroup = upto - g.durable
			g.durable = upto
		}
		g.running = nil
		close(ch)
		g.mu.Unlock()
		if err != nil {
			// The callers waiting for this write try again themselves.
			return err
		}
	}
}

// writeJournal writes every changed provider's record to one journal file
// and returns the number of the last change it covers. Only the group
// commit's leader calls it.
func (c *Catalog) writeJournal(ctx context.Context) (uint64, error) {
	c.mu.Lock()
	upto := c.changes
	recs := make([]*record, 0, len(c.dirty))
	for id, p := range c.dirty {
		if c.providers[id] == p {
			recs = append(recs, c.snapshotRecord(p))
			delete(c.deleted, id)
		}
	}
	clear(c.dirty)
	c.mu.Unlock()
	if len(recs) == 0 {
		return upto, nil
	}
	slices.SortFunc(recs, func(a, b *record) int { return strings.Compare(a.Provider.ID, b.Provider.ID) })

	seq := c.j.seq + 1
	key := c.journalKey(seq)
	data, err := c.encodeJournal(seq, recs)
	if err == nil {
		err = c.opt.Store.Store(ctx, key, data)
	}
	if err != nil {
		// Written next time; the callers report the failure.
		c.mu.Lock()
		for _, r := range recs {
			if p := c.providers[r.Provider.ID]; p != nil {
				c.markDirty(p)
			}
		}
		c.mu.Unlock()
		return 0, err
	}
	c.j.seq = seq
	c.j.mu.Lock()
	for _, r := range recs {
		c.j.pending[r.Provider.ID] = r
	}
	c.j.keys = append(c.j.keys, key)
	c.j.mu.Unlock()
	return upto, nil
}

// Compact folds this instance's journal files (and foreign ones found by
// Load, or orphaned) into the per-provider records, deletes the records
// of providers removed from the configuration, and then deletes the
// journal files it covered. The compaction loop calls it every
// CompactInterval; Close calls it last. It does nothing, and takes no
// lock, when there is nothing to compact.
func (c *Catalog) Compact(ctx context.Context) error {
	c.wait()
	if c.opt.Store == nil {
		return nil
	}
	j := c.j
	j.compactMu.Lock()
	defer j.compactMu.Unlock()

	j.mu.Lock()
	own, keys := j.pending, j.keys
	j.pending, j.keys = make(map[string]*record), nil
	foreign := make([]string, 0, len(j.foreign))
	for k := range j.foreign {
		foreign = append(foreign, k)
	}
	j.mu.Unlock()
	c.mu.Lock()
	deletes := make([]string, 0, len(c.deleted))
	for id := range c.deleted {
		deletes = append(deletes, id)
	}
	clear(c.deleted)
	c.mu.Unlock()
	if len(own) == 0 && len(keys) == 0 && len(foreign) == 0 && len(deletes) == 0 {
		return nil
	}
	slices.Sort(foreign)

	undeleted, doneForeign, err := c.compactStore(ctx, own, keys, foreign, deletes)
	j.mu.Lock()
	if err != nil {
		// Nothing was lost: the journal files are all still there. Try
		// again next time with what is pending now.
		for id, r := range own {
			if _, newer := j.pending[id]; !newer {
				j.pending[id] = r
			}
		}
		j.keys = append(keys, j.keys...)
	} else {
		// Files that could not be deleted hold nothing the records lack;
		// deleting them is tried again next time.
		j.keys = append(undeleted, j.keys...)
		for _, k := range doneForeign {
			delete(j.foreign, k)
		}
	}
	j.mu.Unlock()
	if err == nil {
		// The compacted providers' services no longer need their JSON
		// kept for journal records: a provider that notifies again has
		// its services encoded once more, once per compaction at most,
		// while a quiet catalogue does not hold every service twice.
		for _, r := range own {
			for i := range r.Services {
				if s := r.Services[i].src; s != nil {
					s.js.Store(nil)
				}
			}
		}
	}
	if err != nil {
		c.mu.Lock()
		for _, id := range deletes {
			if c.providers[id] == nil {
				c.deleted[id] = true
			}
		}
		c.mu.Unlock()
	}
	return err
}

// compactStore does a compaction's storage work under the cluster-wide
// compaction lock. It returns the own journal files it could not delete
// and the foreign files that are done with (compacted, or already gone).
func (c *Catalog) compactStore(ctx context.Context, own map[string]*record, keys, foreign, deletes []string) (undeleted, doneForeign []string, err error) {
	st := c.opt.Store
	lock := c.compactLock()
	if err := st.Lock(ctx, lock); err != nil {
		return nil, nil, fmt.Errorf("catalog: compaction lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Unlock(uctx, lock)
	}()

	merged := make(map[string]*record, len(own))
	for id, r := range own {
		merged[id] = r
	}
	var foreignKeys []string // read, to delete once the records are written
	for _, k := range foreign {
		data, err := st.Load(ctx, k)
		if errors.Is(err, store.ErrNotExist) {
			doneForeign = append(doneForeign, k) // another broker compacted it
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		jf, err := parseJournal(data)
		if err != nil {
			// A storage without atomic writes may show a file being
			// written: it is left alone (Sync reads it again) until it
			// has been listed for orphanAge. Then no write of it is in
			// progress, and a file whose write did not complete was
			// never acknowledged: it holds nothing to keep.
			if c.unreadableOrphan(k) {
				c.logger.Warn("unreadable catalogue journal file removed", zap.String("key", k), zap.Error(err))
				foreignKeys = append(foreignKeys, k)
			}
			continue
		}
		for _, r := range jf.Records {
			merged[r.Provider.ID] = mergeRecords(merged[r.Provider.ID], r)
		}
		foreignKeys = append(foreignKeys, k)
	}
	for _, id := range deletes {
		delete(merged, id)
	}

	ids := make([]string, 0, len(merged))
	for id := range merged {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if err := parallel(ids, func(id string) error { return c.foldRecord(ctx, merged[id]) }); err != nil {
		return nil, nil, err
	}
	var errs []error
	for _, id := range deletes {
		if err := st.Delete(ctx, c.key(id)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	// The records now hold everything the journal files did.
	var mu sync.Mutex
	_ = parallel(keys, func(k string) error {
		if err := st.Delete(ctx, k); err != nil {
			mu.Lock()
			undeleted = append(undeleted, k)
			mu.Unlock()
		}
		return nil
	})
	_ = parallel(foreignKeys, func(k string) error {
		if err := st.Delete(ctx, k); err == nil {
			mu.Lock()
			doneForeign = append(doneForeign, k)
			mu.Unlock()
		}
		return nil
	})
	slices.Sort(undeleted)
	return undeleted, doneForeign, nil
}

// foldRecord merges r into the provider's stored record and writes the
// result if it differs. Callers hold the compaction lock.
func (c *Catalog) foldRecord(ctx context.Context, r *record) error {
	key := c.key(r.Provider.ID)
	old, err := c.opt.Store.Load(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotExist):
		old = nil
	case err != nil:
		return err
	}
	m := r
	if old != nil {
		stored := new(record)
		if err := json.Unmarshal(old, stored); err != nil || stored.Provider.ID != r.Provider.ID {
			c.logger.Warn("unreadable catalogue record replaced", zap.String("key", key), zap.Error(err))
		} else {
			m = mergeRecords(stored, r)
		}
	}
	data, err := appendRecord(nil, m)
	if err != nil {
		return err
	}
	if bytes.Equal(data, old) {
		return nil
	}
	return c.opt.Store.Store(ctx, key, data)
}

// flushParallel bounds the concurrent store operations of a compaction.
const flushParallel = 8

// parallel runs fn for every item, flushParallel at a time, and returns
// the errors joined.
func parallel(items []string, fn func(string) error) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, flushParallel)
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(it); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func parseJournal(data []byte) (*journalFile, error) {
	jf := new(journalFile)
	if err := json.Unmarshal(data, jf); err != nil {
		return nil, err
	}
	for _, r := range jf.Records {
		if r == nil || r.Provider.ID == "" {
			return nil, errors.New("journal record without a provider id")
		}
	}
	return jf, nil
}

// publishedNewer reports whether b's published part supersedes a's: the
// higher seqnumber of the same subscription (the later update on a tie),
// otherwise the later update.
func publishedNewer(a, b *record) bool {
	switch {
	case !b.Published:
		return false
	case !a.Published:
		return true
	case a.Provider.SubscriptionID == b.Provider.SubscriptionID && a.SeqNumber != b.SeqNumber:
		return b.SeqNumber > a.SeqNumber
	}
	return b.UpdatedAt.After(a.UpdatedAt)
}

// mergeRecords returns the record that holds the newer of a's and b's
// published parts, the newer of their discovered parts and the later
// expiry of every lease, with the entries' expiries following their
// leases: what merging a and b into a catalogue (Load, Sync) gives. It
// is commutative up to exact ties, associative and idempotent, so
// compacting journal files in any order, or twice, gives the same
// record. Neither argument is modified; either may be nil.
func mergeRecords(a, b *record) *record {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	pub := a
	if publishedNewer(a, b) {
		pub = b
	}
	disc := a
	if b.DiscoveredAt.After(a.DiscoveredAt) {
		disc = b
	}
	m := &record{
		Provider:     pub.Provider,
		Published:    pub.Published,
		SeqNumber:    pub.SeqNumber,
		UpdatedAt:    pub.UpdatedAt,
		DiscoveredAt: disc.DiscoveredAt,
	}
	if !a.Published && !b.Published && b.UpdatedAt.After(a.UpdatedAt) {
		m.Provider, m.UpdatedAt = b.Provider, b.UpdatedAt
	}
	for _, r := range []*record{a, b} {
		for id, x := range r.Leases {
			old, ok := m.Leases[id]
			if !ok || (!old.IsZero() && (x.IsZero() || x.After(old))) {
				if m.Leases == nil {
					m.Leases = make(map[string]time.Time)
				}
				m.Leases[id] = x
			}
		}
	}
	// Published entries beat discovered ones with the same id.
	ids := make(map[string]bool)
	for _, s := range pub.Services {
		if s.Source == SourcePublished {
			m.Services = append(m.Services, s)
			ids[s.Service.ID] = true
		}
	}
	for _, s := range disc.Services {
		if s.Source == SourceDiscovered && !ids[s.Service.ID] {
			m.Services = append(m.Services, s)
		}
	}
	slices.SortFunc(m.Services, func(x, y recordService) int { return strings.Compare(x.Service.ID, y.Service.ID) })
	for i := range m.Services {
		s := &m.Services[i]
		if x, ok := m.Leases[s.Lease]; ok && s.Lease != "" {
			s.Expires = x
		}
	}
	if sid := m.Provider.SubscriptionID; m.Published && sid != "" {
		if x, ok := m.Leases[sid]; ok {
			m.Provider.Expires = x
		}
	}
	return m
}

// readJournals reads the journal files of other instances that Sync has
// not merged yet, notes when each file was first listed, and marks for
// compaction the files that have become orphans (all of them when all is
// set, as on Load).
func (c *Catalog) readJournals(ctx context.Context, all bool) ([]*record, error) {
	keys, err := c.opt.Store.List(ctx, c.opt.JournalPrefix)
	if err != nil {
		return nil, err
	}
	now := c.clock.Now()
	j := c.j
	listed := make(map[string]bool, len(keys))
	var recs []*record
	var errs []error
	for _, k := range keys {
		if k == c.compactLock() || !strings.HasPrefix(k, c.opt.JournalPrefix) {
			continue
		}
		if c.journalOwner(k) == j.instance {
			continue
		}
		listed[k] = true
		j.mu.Lock()
		sf := j.seen[k]
		if sf == nil {
			sf = &seenFile{first: now}
			j.seen[k] = sf
		}
		merged := sf.merged
		if all || now.Sub(sf.first) >= c.orphanAge() {
			j.foreign[k] = true
		}
		j.mu.Unlock()
		if merged {
			continue
		}
		data, err := c.opt.Store.Load(ctx, k)
		if errors.Is(err, store.ErrNotExist) {
			continue // compacted meanwhile: the records have it
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		jf, err := parseJournal(data)
		if err != nil {
			j.mu.Lock()
			warn := !sf.warned
			sf.warned = true
			j.mu.Unlock()
			if warn {
				c.logger.Warn("unreadable catalogue journal file skipped", zap.String("key", k), zap.Error(err))
			}
			continue
		}
		recs = append(recs, jf.Records...)
		j.mu.Lock()
		sf.merged = true
		j.mu.Unlock()
	}
	j.mu.Lock()
	for k := range j.seen {
		if !listed[k] {
			delete(j.seen, k)
			delete(j.foreign, k)
		}
	}
	j.mu.Unlock()
	return recs, errors.Join(errs...)
}

// compactLoop compacts this instance's journal every CompactInterval.
func (c *Catalog) compactLoop() {
	c.every(c.opt.CompactInterval, c.Compact,
		"catalogue journal cannot be compacted", "catalogue journal compacted again")
}

// every runs fn each interval until the catalogue stops. A failure is
// logged when fn starts failing and when it works again, not on every
// try.
func (c *Catalog) every(interval time.Duration, fn func(context.Context) error, failed, recovered string) {
	defer c.done.Done()
	var b background
	for c.sleep(interval) {
		b.run(c.logger, fn, failed, recovered)
	}
}

// sleep waits d on the catalogue's clock; false means the catalogue
// stopped meanwhile.
func (c *Catalog) sleep(d time.Duration) bool {
	t := c.clock.NewTimer(d)
	select {
	case <-c.stop:
		t.Stop()
		return false
	case <-t.C():
		return true
	}
}

// background is a piece of background work that runs again and again
// and logs only its changes between failing and working.
type background struct{ failing bool }

// run runs fn with the background timeout, logs failed when fn starts
// failing and recovered when it works again, and returns fn's error.
func (b *background) run(logger *zap.Logger, fn func(context.Context) error, failed, recovered string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := fn(ctx)
	cancel()
	switch {
	case err != nil && !b.failing:
		b.failing = true
		logger.Error(failed, zap.Error(err))
	case err == nil && b.failing:
		b.failing = false
		logger.Info(recovered)
	}
	return err
}

// unreadableOrphan reports whether the foreign journal file key has been
// listed by Sync for orphanAge.
func (c *Catalog) unreadableOrphan(key string) bool {
	c.j.mu.Lock()
	defer c.j.mu.Unlock()
	sf := c.j.seen[key]
	return sf != nil && c.clock.Now().Sub(sf.first) >= c.orphanAge()
}

// JournalBacklog is how many providers have records in this instance's
// journal files that compaction has not folded into their provider
// records yet. It is 0 once a quiet broker has compacted; it grows while
// storage refuses compactions.
func (c *Catalog) JournalBacklog() int {
	c.wait()
	c.j.mu.Lock()
	defer c.j.mu.Unlock()
	return len(c.j.pending)
}

// journalStats is what the journal holds now, for tests.
func (c *Catalog) journalStats() (pendingProviders, pendingFiles, foreign int) {
	c.j.mu.Lock()
	defer c.j.mu.Unlock()
	return len(c.j.pending), len(c.j.keys), len(c.j.foreign)
}
