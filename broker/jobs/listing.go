package jobs

// The job index: what the admin listing, its pages and the jobs-by-state
// gauge need of every stored job, in memory, so that a page reads the
// records it shows and no others.
//
// The index holds, per job, its creation time and id (the listing's
// order), owner, provider, status, service model and revision: about a
// hundred bytes a job. It is built in the background when the manager
// starts (or on the first listing), from the store's key listing and a
// read of each record; this process's writes and deletes update it at
// once; and every reaper pass (or, when another instance holds the
// reaper's lock, a refresh of its own every ReapInterval) reconciles it
// with the store, adding what other instances of a cluster wrote and
// dropping what they purged.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/google/btree"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// Page sizes of ListPage.
const (
	// DefaultPageSize is the page size when a query sets none.
	DefaultPageSize = 100
	// MaxPageSize bounds a page; a larger limit is lowered to it.
	MaxPageSize = 1000
)

// ErrBadCursor is returned by ListPage for an After that no page gave.
var ErrBadCursor = errors.New("jobs: malformed page cursor")

// PageQuery selects one page of the stored jobs, in creation order
// (oldest first; jobs created in the same nanosecond by job id). Zero
// fields match everything.
type PageQuery struct {
	Owner      string
	ProviderID string
	// Statuses: any of these (none: every status).
	Statuses []Status
	Kind     catalog.Kind
	// After is the cursor of the previous page (Page.Next); "" starts at
	// the oldest job.
	After string
	// Limit is the page size: DefaultPageSize when 0 or less, at most
	// MaxPageSize.
	Limit int
}

// Page is one page of jobs.
type Page struct {
	Jobs []*Job
	// Total counts the jobs matching the query on every page (as the
	// index knows them when the page was made).
	Total int
	// Next is the cursor of the next page, "" on the last page. A job
	// that exists from the first page to the last is on exactly one
	// page, whatever is created or deleted meanwhile; jobs created
	// meanwhile come on later pages.
	Next string
}

// cursor is a position in the listing's order.
type cursor struct {
	created int64
	id      string
}

func (c cursor) String() string { return strconv.FormatInt(c.created, 36) + "." + c.id }

func parseCursor(s string) (cursor, error) {
	n, id, ok := strings.Cut(s, ".")
	if !ok || !validID(id) {
		return cursor{}, ErrBadCursor
	}
	created, err := strconv.ParseInt(n, 36, 64)
	if err != nil {
		return cursor{}, ErrBadCursor
	}
	return cursor{created: created, id: id}, nil
}

// indexEntry is what the index keeps of one job.
type indexEntry struct {
	created  int64 // unix nanoseconds
	id       string
	owner    unique.Handle[string]
	provider unique.Handle[string]
	rev      uint64
	gen      uint32 // the reconciliation that last confirmed it
	status   uint8  // statusCodes
	kind     uint8  // kindCodes
}

func (e indexEntry) less(o indexEntry) bool {
	if e.created != o.created {
		return e.created < o.created
	}
	return e.id < o.id
}

var (
	statusCodes = []Status{"", StatusPending, StatusProvisioning, StatusSuccess, StatusFailed, StatusExpired, StatusRemoved}
	kindCodes   = []catalog.Kind{"", catalog.KindIaaS, catalog.KindPaaS, catalog.KindSaaS, catalog.KindDSaaS}
)

func code[T comparable](codes []T, v T) uint8 {
	for i, c := range codes {
		if c == v {
			return uint8(i)
		}
	}
	return 0
}

// indexRecord is the part of a stored job the index reads.
type indexRecord struct {
	ID         string       `json:"id"`
	Owner      string       `json:"owner"`
	Status     Status       `json:"status"`
	Kind       catalog.Kind `json:"kind"`
	ProviderID string       `json:"provider_id"`
	Created    time.Time    `json:"created"`
	Rev        uint64       `json:"rev"`
}

func entryOf(id, owner, provider string, status Status, kind catalog.Kind, created time.Time, rev uint64) indexEntry {
	return indexEntry{created: created.UnixNano(), id: strings.Clone(id), owner: unique.Make(owner), provider: unique.Make(provider),
		rev: rev, status: code(statusCodes, status), kind: code(kindCodes, kind)}
}

// jobIndex is the index. Its zero value is not ready: see Manager.index.
type jobIndex struct {
	mu    sync.RWMutex
	tree  *btree.BTreeG[indexEntry]
	gen   uint32
	built chan struct{} // closed once the first build is complete
	once  sync.Once
	// refreshed is when the index was last reconciled with the store.
	refreshed time.Time
}

func newJobIndex() *jobIndex {
	return &jobIndex{tree: btree.NewG(32, indexEntry.less), built: make(chan struct{})}
}

// put adds or replaces an entry; an older revision of a job does not
// replace a newer one (a reconciliation's read may predate a write).
func (x *jobIndex) put(e indexEntry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.putLocked(e)
}

func (x *jobIndex) putLocked(e indexEntry) {
	e.gen = x.gen
	if old, found := x.tree.Get(e); found {
		if old.rev > e.rev {
			e = old
			e.gen = x.gen
		}
		e.id = old.id // keep one copy of the id
	}
	x.tree.ReplaceOrInsert(e)
}

// remove drops a job (its creation time and id: a job's creation time
// never changes).
func (x *jobIndex) remove(created time.Time, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.tree.Delete(indexEntry{created: created.UnixNano(), id: id})
}

// begin starts a reconciliation: entries neither confirmed by it nor
// written meanwhile are dropped by its end.
func (x *jobIndex) begin() uint32 {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	return x.gen
}

// end drops the entries reconciliation gen did not confirm and exists
// does not vouch for. A job missing from the reconciliation's listing
// may still exist: a create of this process whose record is still in its
// log (no job file yet), or one that settled to its file after the
// listing; exists tells those from a job purged by another instance.
func (x *jobIndex) end(gen uint32, exists func(id string) bool) {
	x.mu.RLock()
	var stale []indexEntry
	x.tree.Ascend(func(e indexEntry) bool {
		if e.gen < gen {
			stale = append(stale, e)
		}
		return true
	})
	x.mu.RUnlock()
	var gone []indexEntry
	for _, e := range stale {
		if !exists(e.id) {
			gone = append(gone, e)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range gone {
		// Dropped only if no write confirmed it meanwhile.
		if cur, found := x.tree.Get(e); found && cur.gen < gen {
			x.tree.Delete(e)
		}
	}
	x.refreshed = time.Now()
}

// counts returns the indexed jobs by status.
func (x *jobIndex) counts() map[Status]int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var n [8]int
	x.tree.Ascend(func(e indexEntry) bool {
		n[e.status]++
		return true
	})
	out := make(map[Status]int, len(statusCodes))
	for i, s := range statusCodes {
		if n[i] > 0 && s != "" {
			out[s] = n[i]
		}
	}
	return out
}

// len returns the number of indexed jobs.
func (x *jobIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.tree.Len()
}

// indexMatcher is a PageQuery compiled for the index's entries.
type indexMatcher struct {
	owner, provider       unique.Handle[string]
	anyOwner, anyProvider bool
	statuses              uint16 // bit per status code; 0: any
	kind                  uint8  // 0: any
}

func matcherOf(q PageQuery) indexMatcher {
	m := indexMatcher{anyOwner: q.Owner == "", anyProvider: q.ProviderID == ""}
	if !m.anyOwner {
		m.owner = unique.Make(q.Owner)
	}
	if !m.anyProvider {
		m.provider = unique.Make(q.ProviderID)
	}
	for _, s := range q.Statuses {
		c := code(statusCodes, s.canonical())
		if c == 0 {
			c = 15 // an unknown status matches nothing
		}
		m.statuses |= 1 << c
	}
	if q.Kind != "" {
		m.kind = code(kindCodes, q.Kind)
		if m.kind == 0 {
			m.kind = 255
		}
	}
	return m
}

// all reports whether m matches every entry.
func (m indexMatcher) all() bool {
	return m.anyOwner && m.anyProvider && m.statuses == 0 && m.kind == 0
}

func (m indexMatcher) match(e indexEntry) bool {
	return (m.anyOwner || e.owner == m.owner) && (m.anyProvider || e.provider == m.provider) &&
		(m.statuses == 0 || m.statuses&(1<<e.status) != 0) && (m.kind == 0 || e.kind == m.kind)
}

// matchJob checks a record read for the page against the query (the
// index may lag another instance's write).
func (q PageQuery) matchJob(j *Job) bool {
	if q.Owner != "" && j.Owner != q.Owner || q.ProviderID != "" && j.ProviderID != q.ProviderID || q.Kind != "" && j.Kind != q.Kind {
		return false
	}
	if len(q.Statuses) == 0 {
		return true
	}
	for _, s := range q.Statuses {
		if j.Status == s {
			return true
		}
	}
	return false
}

// scan returns the first limit entries after the cursor matching m,
// whether more follow, and the total number of matches.
func (x *jobIndex) scan(m indexMatcher, after *cursor, limit int) (page []cursor, more bool, total int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	collect := func(e indexEntry) bool {
		if after != nil && !(indexEntry{created: after.created, id: after.id}).less(e) {
			return true
		}
		if len(page) < limit {
			page = append(page, cursor{created: e.created, id: e.id})
			return true
		}
		more = true
		return false
	}
	if m.all() {
		// Every entry matches: the total is the tree's size, and the
		// page starts at the cursor.
		total = x.tree.Len()
		if after == nil {
			x.tree.Ascend(collect)
		} else {
			x.tree.AscendGreaterOrEqual(indexEntry{created: after.created, id: after.id}, collect)
		}
		return page, more, total
	}
	x.tree.Ascend(func(e indexEntry) bool {
		if !m.match(e) {
			return true
		}
		total++
		if !more {
			collect(e)
		}
		return true
	})
	return page, more, total
}

// ---------------------------------------------------------------------------
// The Manager's side

// ensureIndex starts the index's first build in the background, once.
func (m *Manager) ensureIndex() {
	m.index.once.Do(func() {
		m.mu.Lock()
		stopped := m.stopped
		if !stopped {
			m.wg.Add(1) // under m.mu: Stop's Wait starts after it set stopped
		}
		m.mu.Unlock()
		if stopped {
			close(m.index.built)
			return
		}
		go func() {
			defer m.wg.Done()
			defer close(m.index.built)
			for m.base.Err() == nil {
				if err := m.refreshIndex(m.base); err == nil {
					return
				} else if m.base.Err() == nil {
					m.logger.Warn("building the job index; trying again", zapErr(err))
				}
				select {
				case <-m.base.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	})
}

// IndexReady returns a channel closed once the job index is built (the
// listings and the jobs-by-state counts cover every stored job).
func (m *Manager) IndexReady() <-chan struct{} {
	m.ensureIndex()
	return m.index.built
}

// refreshIndex reconciles the index with the store: it reads the part of
// every record the index keeps.
func (m *Manager) refreshIndex(ctx context.Context) error {
	gen := m.index.begin()
	ids, vers, err := m.listVersions(ctx)
	if err != nil {
		return err
	}
	prev := m.memo.current()
	next := make(map[string]*reapMemo, len(ids))
	defer m.memo.replace(next)
	for i, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A record unchanged since it was last read (reapmemo.go).
		if r := m.memo.lookup(prev, id, vers[i], false); r != nil && !m.logged(id) {
			next[r.entry.id] = r
			m.index.put(r.entry)
			continue
		}
		data, err := m.store.Load(ctx, jobKey(id))
		if err != nil {
			continue // purged since the listing, or unreadable
		}
		var r indexRecord
		if json.Unmarshal(data, &r) != nil || r.ID != id {
			continue
		}
		e := entryOf(r.ID, r.Owner, r.ProviderID, r.Status, r.Kind, r.Created, r.Rev)
		m.index.put(e)
		if !m.logged(id) {
			next[e.id] = &reapMemo{ver: vers[i], entry: e}
		}
	}
	m.index.end(gen, m.stillStored(ctx))
	return nil
}

// stillStored returns the check a reconciliation's end makes of a job its
// listing missed: the job is this process's and still in its log, or its
// record is in the store now. The log is asked first: a job settles from
// the log to its file, never back.
func (m *Manager) stillStored(ctx context.Context) func(id string) bool {
	return func(id string) bool {
		if m.wal != nil && m.wal.known(id) {
			return true
		}
		_, err := m.store.Load(ctx, jobKey(id))
		return err == nil || !errors.Is(err, store.ErrNotExist)
	}
}

// indexJob records a job this process wrote or read whole.
func (m *Manager) indexJob(j *Job) {
	m.index.put(entryOf(j.ID, j.Owner, j.ProviderID, j.Status, j.Kind, j.Created, j.Rev))
}

// JobCounts returns the stored jobs by status, as the index knows them
// (every job once IndexReady is closed).
func (m *Manager) JobCounts() map[Status]int {
	m.ensureIndex()
	return m.index.counts()
}

// ListPage returns one page of the stored jobs matching q, for the admin
// API. It waits for the index's first build (or ctx), then reads only the
// records of the page.
func (m *Manager) ListPage(ctx context.Context, q PageQuery) (*Page, error) {
	var after *cursor
	if q.After != "" {
		c, err := parseCursor(q.After)
		if err != nil {
			return nil, err
		}
		after = &c
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	select {
	case <-m.IndexReady():
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the job index: %w", ctx.Err())
	}
	entries, more, total := m.index.scan(matcherOf(q), after, limit)
	p := &Page{Jobs: make([]*Job, 0, len(entries)), Total: total}
	for _, e := range entries {
		// Read from the store without filling the read cache: a listing
		// must not push out the jobs consumers are reading.
		j, err := m.loadStore(ctx, e.id, false)
		if errors.Is(err, ErrNoJob) {
			m.index.remove(time.Unix(0, e.created), e.id) // purged by another instance
			continue
		}
		if err != nil {
			return nil, err
		}
		if !q.matchJob(j) {
			continue // changed elsewhere since the index saw it
		}
		p.Jobs = append(p.Jobs, j)
	}
	if more {
		p.Next = entries[len(entries)-1].String()
	}
	return p, nil
}

// refreshIndexEvery reconciles the index with the store when it was last
// reconciled longer than every ago (an instance that does not reap).
func (m *Manager) refreshIndexEvery(ctx context.Context, every time.Duration) {
	m.index.mu.RLock()
	due := time.Since(m.index.refreshed) >= every
	m.index.mu.RUnlock()
	if !due {
		return
	}
	if err := m.refreshIndex(ctx); err != nil && ctx.Err() == nil {
		m.logger.Warn("refreshing the job index", zapErr(err))
	}
}
