package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/store"
)

// Storage layout.
const (
	jobPrefix  = "csb/jobs/job/"  // csb/jobs/job/<id>: the job as JSON
	idemPrefix = "csb/jobs/idem/" // csb/jobs/idem/<sha256(owner, key)>: {job id, request hash}
	lockPrefix = "csb-jobs-"      // lock names: csb-jobs-<id>, csb-jobs-idem-<hash>, csb-jobs-reaper
)

type idemRecord struct {
	JobID       string `json:"job_id"`
	RequestHash string `json:"request_hash"`
}

// cached is a ristretto value: the real key is kept inside, because
// ristretto identifies entries by a hash of the key.
type cached struct {
	key  string
	data []byte
}

func jobKey(id string) string { return jobPrefix + id }

func idemHash(owner, key string) string {
	h := sha256.New()
	h.Write([]byte(owner))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil))
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// save writes the job to the store and the cache. The caller holds the
// job's lock (or the job is new and not yet visible).
func (m *Manager) save(ctx context.Context, j *Job) error {
	j.Rev++
	j.Updated = m.now()
	m.accrue(j)
	evs, undo := m.stampEvents(j)
	data, err := json.Marshal(j)
	if err != nil {
		undo()
		return err
	}
	if err := m.storeRecord(ctx, j, data); err != nil {
		undo()
		return err
	}
	// The cache is filled only by reads. A write removes the entry (Del is
	// immediate in ristretto, while a Set is applied asynchronously and a
	// Set of a key whose first Set is still buffered may be dropped), and
	// the latest record of a job this process works on is kept in m.live.
	m.forget(j.ID)
	m.mu.Lock()
	if _, ok := m.running[j.ID]; ok {
		m.live[j.ID] = data
	}
	m.mu.Unlock()
	m.emit(evs)
	m.notify(j)
	return nil
}

// loadFresh reads a job from the store, bypassing the cache, and caches
// it.
func (m *Manager) loadFresh(ctx context.Context, id string) (*Job, error) {
	return m.loadStore(ctx, id, true)
}

// loadStore reads a job from the store; with fill it also caches it.
// Background passes over every job read without filling the cache.
func (m *Manager) loadStore(ctx context.Context, id string, fill bool) (*Job, error) {
	if !validID(id) {
		return nil, ErrNoJob
	}
	var gen uint64
	if fill {
		gen = m.fills.generation(id)
	}
	data, err := m.loadRecord(ctx, id)
	if errors.Is(err, store.ErrNotExist) {
		m.forget(id)
		return nil, ErrNoJob
	}
	if err != nil {
		return nil, err
	}
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("job %s: corrupt record: %w", id, err)
	}
	if fill {
		m.fills.fill(id, gen, func() {
			m.cache.SetWithTTL(id, &cached{key: id, data: data}, int64(len(data))+CacheEntryOverhead, m.c().CacheTTL)
		})
	}
	return &j, nil
}

// load reads a job: the latest record of a job this process works on,
// else a cached record of a settled job (at most CacheTTL old), else the
// store. Jobs in flight elsewhere are always read from the store, because
// another instance is changing them.
func (m *Manager) load(ctx context.Context, id string) (*Job, error) {
	if !validID(id) {
		return nil, ErrNoJob
	}
	m.mu.Lock()
	data, ok := m.live[id]
	m.mu.Unlock()
	if !ok {
		if c, hit := m.cache.Get(id); hit && c.key == id {
			data, ok = c.data, true
		}
	}
	if ok {
		var j Job
		if err := json.Unmarshal(data, &j); err == nil && (!j.Status.InFlight() && j.Op == nil || m.isRunning(id)) {
			return &j, nil
		}
	}
	return m.loadFresh(ctx, id)
}

// lock takes the job's store lock, waiting at most wait (0: until ctx
// ends). A new job this process holds in memory (newlock.go) is waited
// for first.
func (m *Manager) lock(ctx context.Context, name string, wait time.Duration) (func(), error) {
	if l := m.heldNew(name); l != nil {
		start := time.Now()
		lctx, cancel := ctx, context.CancelFunc(func() {})
		if wait > 0 {
			lctx, cancel = context.WithTimeout(ctx, wait)
		}
		select {
		case <-l.done:
			cancel()
		case <-lctx.Done():
			cancel()
			return nil, lctx.Err()
		}
		if wait > 0 {
			wait = max(wait-time.Since(start), time.Millisecond)
		}
	}
	return m.storeLock(ctx, name, wait)
}

// storeLock takes a lock of the store, waiting at most wait (0: until
// ctx ends).
func (m *Manager) storeLock(ctx context.Context, name string, wait time.Duration) (func(), error) {
	lctx := ctx
	if wait > 0 {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	if err := m.store.Lock(lctx, lockPrefix+name); err != nil {
		return nil, err
	}
	return func() {
		// Unlock with a context of its own: the caller's may be done.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.store.Unlock(uctx, lockPrefix+name); err != nil {
			m.logger.Warn("releasing job lock", zapErr(err), zapStr("lock", lockPrefix+name))
		}
	}, nil
}

// listIDs returns the ids of every stored job.
func (m *Manager) listIDs(ctx context.Context) ([]string, error) {
	keys, err := m.store.List(ctx, jobPrefix)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		id := strings.TrimPrefix(k, jobPrefix)
		if validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// fillGuard keeps a read that raced with a write from caching what it
// read. A reader notes the generation of the job's stripe before reading
// the store and fills the cache only if no write of this process touched
// the stripe since; a writer bumps the generation and removes the entry
// under the same lock. ristretto applies a Set and a later Del in order,
// so whichever comes first, the cache never keeps a record older than the
// last write (see forget). Another instance's writes are not seen: reads
// of settled jobs may lag those by CacheTTL, as documented.
type fillGuard struct {
	mu   sync.Mutex
	gens [64]uint64
}

// stripeSeed seeds the hash that spreads job ids over the guard's stripes.
var stripeSeed = maphash.MakeSeed()

func stripe(id string) int {
	return int(maphash.String(stripeSeed, id) % 64)
}

func (g *fillGuard) generation(id string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gens[stripe(id)]
}

// fill runs set if the job's stripe has not been written since gen.
func (g *fillGuard) fill(id string, gen uint64, set func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gens[stripe(id)] == gen {
		set()
	}
}

// forget removes a job's cached record after a write (or when it is gone
// from the store), and stops reads begun before it from caching theirs.
//
// ristretto applies Sets and Dels in order but in the background: until
// it has, a Set made before the Del can still become visible after Del
// returns. forget waits for the buffered operations to be applied, so a
// read after a write never sees the record the write replaced.
func (m *Manager) forget(id string) {
	m.fills.mu.Lock()
	m.fills.gens[stripe(id)]++
	m.cache.Del(id)
	m.fills.mu.Unlock()
	m.cache.Wait()
}
