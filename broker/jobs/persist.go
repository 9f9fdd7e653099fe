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
	"sync/atomic"
	"time"

	"go.uber.org/zap"

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
// ristretto identifies entries by a hash of the key, and so is the fill
// generation of the job's stripe the record was read under (fillGuard).
type cached struct {
	key  string
	gen  uint64
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

// save writes the job to the store and the cache, and announces its
// events once the record is stored. The caller holds the job's lock (or
// the job is new and not yet visible).
func (m *Manager) save(ctx context.Context, j *Job) error {
	j.Rev++
	j.Updated = m.now()
	m.accrue(j)
	evs, undo := m.stampEvents(j)
	if j.deferWrite && m.wal != nil && m.wal.holdBehind(j.ID, j.Rev, m.heard(evs)) {
		// A deferred write of a job nobody knows of yet: the record is
		// encoded once, by the job's worker, before its settle
		// (catchUp); meanwhile readers get the job's previous record.
		// Its events are held with it: they are announced once a
		// record that carries them is stored (wal.go).
		j.deferWrite = false
		m.forget(j.ID)
		m.notify(j)
		return nil
	}
	data, err := json.Marshal(j)
	if err != nil {
		undo()
		return err
	}
	held, err := m.storeRecord(ctx, j, data, evs)
	if err != nil {
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
	if !held {
		// The record carries the events held of the job's deferred
		// writes (wal.go): they come first.
		var earlier []Event
		if m.wal != nil {
			earlier = m.wal.takeEvents(j.ID, j.Events.Seq)
		}
		m.emit(earlier, evs)
	}
	m.notify(j)
	return nil
}

// catchUp encodes the record of a logged job whose deferred writes were
// held without it (holdBehind) and holds it, for the settle that follows.
// Only the job's worker calls it: the worker owns j.
func (m *Manager) catchUp(j *Job) {
	if m.wal == nil || !m.wal.isBehind(j.ID) {
		return
	}
	data, err := json.Marshal(j)
	if err != nil {
		m.logger.Error("encoding job", zap.String("job_id", j.ID), zap.Error(err))
		return
	}
	m.wal.hold(j.ID, j.Rev, j.Events.Seq, data, nil)
	m.mu.Lock()
	if _, ok := m.running[j.ID]; ok {
		m.live[j.ID] = data
	}
	m.mu.Unlock()
	m.notify(j)
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
	if fill && m.fills.current(id, gen) {
		m.cache.Set(id, &cached{key: id, gen: gen, data: data}, int64(len(data))+CacheEntryOverhead, m.c().CacheTTL)
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
		if c, hit := m.cache.Get(id); hit && c.key == id && m.fills.current(id, c.gen) {
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
	unlock, _, err := m.storeLockSession(ctx, name, wait)
	return unlock, err
}

// storeLockSession is storeLock, and returns the lock's session when the
// store numbers them (store.SessionLocker), else 0.
func (m *Manager) storeLockSession(ctx context.Context, name string, wait time.Duration) (func(), uint64, error) {
	lctx := ctx
	if wait > 0 {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	var session uint64
	var err error
	if sl, ok := m.store.(store.SessionLocker); ok {
		session, err = sl.LockSession(lctx, lockPrefix+name)
	} else {
		err = m.store.Lock(lctx, lockPrefix+name)
	}
	if err != nil {
		return nil, 0, err
	}
	return func() {
		// Unlock with a context of its own: the caller's may be done.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.store.Unlock(uctx, lockPrefix+name); err != nil {
			m.logger.Warn("releasing job lock", zapErr(err), zapStr("lock", lockPrefix+name))
		}
	}, session, nil
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

// fillGuard keeps a read that raced with a write from serving what it
// read. A reader notes the generation of the job's stripe before reading
// the store and caches the record with it; a writer bumps the generation
// after writing the store. A cached record is served only while its
// stripe's generation is the one it was read under, so whatever order
// ristretto applies a Set and a later Del in (it buffers both and applies
// them in the background), a read after a write never gets the record
// the write replaced. Another instance's writes are not seen: reads of
// settled jobs may lag those by CacheTTL, as documented.
//
// A write makes the cached records of its stripe's other jobs misses
// too (read again from the store once); 1024 stripes keep that rare.
// The guard used to wait for ristretto's buffers to drain after every
// write instead (Cache.Wait): one goroutine applies them, and under
// concurrent creates most of the broker's goroutines queued there.
type fillGuard struct {
	gens [fillStripes]atomic.Uint64
}

const fillStripes = 1024

// stripeSeed seeds the hash that spreads job ids over stripes.
var stripeSeed = maphash.MakeSeed()

func fillStripe(id string) int {
	return int(maphash.String(stripeSeed, id) % fillStripes)
}

func (g *fillGuard) generation(id string) uint64 {
	return g.gens[fillStripe(id)].Load()
}

// current reports whether no write of this process touched job id's
// stripe since gen.
func (g *fillGuard) current(id string, gen uint64) bool {
	return g.gens[fillStripe(id)].Load() == gen
}

// forget makes a job's cached record stale after a write (or when it is
// gone from the store), and stops reads begun before it from serving
// theirs; the entry itself is removed to free its memory.
func (m *Manager) forget(id string) {
	m.fills.gens[fillStripe(id)].Add(1)
	m.cache.Del(id)
}
