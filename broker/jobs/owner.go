package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// The owner index: csb/jobs/owner/<sha256(owner)>/<job id> exists for
// every stored job. It serves two purposes.
//
// A consumer's lookup reads the index key of (owner, id) before anything
// else, and only on a hit reads the job. A job id that does not exist and
// one that belongs to someone else then take the same path: one store
// read of a key that does not exist, with the same key length, the same
// work and the same allocations. Reading the job first and comparing its
// owner (what the broker did before) costs a parse of the record for a
// foreign id and nothing for an unknown one, which a consumer can time.
//
// Counting an owner's index keys (store.Count, once per session of the
// owner's job-count lock: ownerCount) tells the records the owner holds,
// without reading them, for Config.MaxJobsPerOwner.
//
// The index key is written under the job's lock before the job's first
// record, and is durable once that record is (store.MarkLazy); it is
// deleted after its record; the reaper adds the keys of
// records written before the index existed and deletes keys whose record
// is gone (see reconcileOwners).
const ownerPrefix = "csb/jobs/owner/"

func ownerHash(owner string) string {
	s := sha256.Sum256([]byte(owner))
	return hex.EncodeToString(s[:])
}

func ownerKey(owner, id string) string { return ownerPrefix + ownerHash(owner) + "/" + id }

// ownJob returns owner's job id, or ErrNoJob when it does not exist or is
// someone else's: both are one read of a missing index key.
func (m *Manager) ownJob(ctx context.Context, owner, id string) (*Job, error) {
	if !validID(id) {
		return nil, ErrNoJob
	}
	if _, err := m.store.Load(ctx, ownerKey(owner, id)); err != nil {
		if errors.Is(err, store.ErrNotExist) {
			return nil, ErrNoJob
		}
		return nil, err
	}
	j, err := m.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Owner != owner {
		return nil, ErrNoJob // an index key pointing at another's job: never written so
	}
	return j, nil
}

// errQuota refuses a create beyond Config.MaxJobsPerOwner.
type errQuota struct{ held, max int }

func (e errQuota) Error() string {
	return fmt.Sprintf("job limit reached: the user holds %d job records, at most %d are allowed (remove jobs, or wait until failed and ended ones are purged)", e.held, e.max)
}

// admit checks owner's quota and writes the index key of new job j. The
// caller holds j's lock. It returns a Result for a refused create.
func (m *Manager) admit(ctx context.Context, j *Job) (*Result, error) {
	// The owner's quotas (limits.go) first: their locks are taken before
	// the owner's, always in that order.
	qr, qunlock, saveFirst, err := m.admitQuota(ctx, j)
	if qr != nil || err != nil {
		return qr, err
	}
	defer qunlock()
	h := ownerHash(j.Owner)
	var session uint64 // of the job-count lock; 0: unknown
	if max := m.c().MaxJobsPerOwner; max > 0 {
		unlock, s, err := m.storeLockSession(ctx, "owner-"+h, m.c().LockWait)
		if err != nil {
			return nil, fmt.Errorf("%w: locking the user's job count: %v", ErrNotRecorded, err)
		}
		defer unlock()
		session = s
		held, err := m.ownerCount(ctx, h, session, max)
		if err != nil {
			return nil, fmt.Errorf("%w: counting the user's jobs: %v", ErrNotRecorded, err)
		}
		if held >= max {
			q := errQuota{held: held, max: max}
			m.logger.Info("job refused: owner at the job limit", zap.String("owner", j.Owner), zap.Int("jobs", held), zap.Int("max_jobs_per_owner", max))
			return result(csbmsg.StatusUnableToFindResource, nil, "%s", q.Error()), nil
		}
	}
	// The key is made without a sync of its own: whatever follows
	// stores the job's record (its write-ahead record, or its file)
	// before the job is answered as existing or a provider is called,
	// and that write makes the key durable too (store.LazyMarker). A
	// crash before it leaves at most a key without a record, which
	// nothing reads as a job and the reaper's pass deletes.
	if err := store.MarkLazy(ctx, m.store, ownerPrefix+h+"/"+j.ID); err != nil {
		m.counts.forget(h)
		m.dropIndex(j)
		return nil, fmt.Errorf("%w: %v", ErrNotRecorded, err)
	}
	m.counts.added(h, session)
	if saveFirst {
		// Under the quota locks: the next admission counts this job,
		// so the record goes to its file, not to the log, under the
		// job's storage lock (newlock.go).
		err := m.announce(ctx, j.ID)
		if err == nil {
			err = m.save(ctx, j)
		}
		if err != nil {
			if derr := m.dropRecord(j); derr != nil {
				m.logger.Error("job record neither written nor deleted", zap.String("job_id", j.ID), zap.Error(derr))
			}
			return nil, fmt.Errorf("%w: %v", ErrNotRecorded, err)
		}
	}
	return nil, nil
}

// dropIndex deletes j's index key (its record is gone or was never
// written).
func (m *Manager) dropIndex(j *Job) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.base), 30*time.Second)
	defer cancel()
	if err := m.store.Delete(ctx, ownerKey(j.Owner, j.ID)); err != nil {
		m.logger.Warn("deleting a job's owner index key; the reaper retries", zap.String("job_id", j.ID), zap.Error(err))
	}
}

// ownerMarks lists the index: index key → job id.
func (m *Manager) ownerMarks(ctx context.Context) (map[string]string, error) {
	keys, err := m.store.List(ctx, ownerPrefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		rest := strings.TrimPrefix(k, ownerPrefix)
		if i := strings.IndexByte(rest, '/'); i > 0 {
			out[k] = rest[i+1:]
		}
	}
	return out, nil
}

// reconcileOwners deletes index keys left without a record (a purge or a
// failed create that could not delete its key), each under its job's lock
// after checking the record is still missing: a create holds that lock
// from its index key to its first record.
//
// A key is deleted only when it was found stale by this process's
// previous pass too. A storage may list a key that is being written: Caddy's
// file system storage writes through a temporary file in the key's
// directory, named with digits (a valid job id), and deleting that file
// fails the write it belongs to. Such a file lives for the length of one
// write, far less than ReapInterval; a leftover one (a crash mid-write)
// is deleted one pass later.
func (m *Manager) reconcileOwners(ctx context.Context, stale map[string]string) {
	m.mu.Lock()
	seen := m.staleOwnerKeys
	m.mu.Unlock()
	next := make(map[string]bool)
	defer func() {
		m.mu.Lock()
		m.staleOwnerKeys = next
		m.mu.Unlock()
	}()
	logged := m.loggedIDs()
	unread := m.logsUnread()
	for key, id := range stale {
		if ctx.Err() != nil {
			return
		}
		if !validID(id) {
			m.dropStaleOwnerKey(ctx, key, seen, next)
			continue
		}
		if logged[id] || unread {
			// A create in flight with its records in a job log, or
			// records a replay writes (wal.go): not stale. While a
			// log file could not be read, any job may be one of its:
			// without its index key, the replay would drop it.
			continue
		}
		unlock, err := m.lock(ctx, id, time.Second)
		if err != nil {
			continue
		}
		if _, err := m.store.Load(ctx, jobKey(id)); errors.Is(err, store.ErrNotExist) {
			m.dropStaleOwnerKey(ctx, key, seen, next)
		}
		unlock()
	}
}

// logsUnread reports whether a job log file of another instance that
// the last replay listed could not be read (its jobs are not known).
func (m *Manager) logsUnread() bool {
	m.walSeenMu.Lock()
	defer m.walSeenMu.Unlock()
	for _, ids := range m.walIDs {
		if ids == nil {
			return true
		}
	}
	return false
}

// dropStaleOwnerKey deletes index key when the previous pass found it
// stale (it is in seen), else notes it in next for the next pass.
func (m *Manager) dropStaleOwnerKey(ctx context.Context, key string, seen, next map[string]bool) {
	if seen[key] {
		_ = m.store.Delete(ctx, key)
		return
	}
	next[key] = true
}

// ListOwned returns owner's stored jobs, newest first, read through the
// owner index: it never reads another owner's record. The front-ends (the
// Consumer interface's listing, CIMI, OSB, the console) list with it.
func (m *Manager) ListOwned(ctx context.Context, owner string) ([]*Job, error) {
	prefix := ownerPrefix + ownerHash(owner) + "/"
	keys, err := m.store.List(ctx, prefix)
	if err != nil {
		if errors.Is(err, store.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]*Job, 0, len(keys))
	for _, k := range keys {
		id := strings.TrimPrefix(k, prefix)
		if !validID(id) {
			continue
		}
		j, err := m.load(ctx, id)
		if err != nil || j.Owner != owner {
			continue // removed since the listing, or an index key not written so
		}
		out = append(out, j)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Created.After(out[b].Created) })
	return out, nil
}

// ownerCount returns how many index keys owner hash h holds, its
// job-count lock held in session (store.SessionLocker; 0: unknown). The
// keys are counted in the store once per session: while the lock passes
// from create to create of this process without being released in the
// storage, nobody else adds keys, and the count goes on from this
// process's own (ownerCounts). Keys deleted meanwhile (a purge does not
// take the lock) make the count high, never low, so a count at the limit
// is taken again from the store before a create is refused.
func (m *Manager) ownerCount(ctx context.Context, h string, session uint64, max int) (int, error) {
	if n, ok := m.counts.get(h, session); ok && n < max {
		return n, nil
	}
	n, err := store.Count(ctx, m.store, ownerPrefix+h+"/")
	if err == nil {
		m.counts.set(h, session, n)
	}
	return n, err
}

// ownerCounts caches, per owner hash, the count of its index keys taken
// in a session of its job-count lock.
type ownerCounts struct {
	mu sync.Mutex
	m  map[string]ownerCountEntry
}

type ownerCountEntry struct {
	session uint64
	n       int
}

// maxOwnerCounts bounds the cache: it is emptied when it grows beyond.
const maxOwnerCounts = 4096

func (c *ownerCounts) get(h string, session uint64) (int, bool) {
	if session == 0 {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[h]
	return e.n, ok && e.session == session
}

func (c *ownerCounts) set(h string, session uint64, n int) {
	if session == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxOwnerCounts {
		c.m = map[string]ownerCountEntry{}
	}
	c.m[h] = ownerCountEntry{session: session, n: n}
}

// added counts a key just stored in session.
func (c *ownerCounts) added(h string, session uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[h]; ok && session != 0 && e.session == session {
		e.n++
		c.m[h] = e
	}
}

func (c *ownerCounts) forget(h string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, h)
}
