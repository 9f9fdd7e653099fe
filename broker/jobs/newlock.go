package jobs

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The lock of a new job (Config.GroupCommit).
//
// A job's lock is a storage lock: on Caddy's file-system storage a lock
// file, created and synced, kept fresh by a goroutine of its own, and
// removed, which costs a create as much as a write of the job. A new
// job's id is random (newID) and nobody can name the job before this
// process writes it somewhere another broker reads: its owner index key
// (reconcileOwners reads those, and passes over a job with records in a
// log it listed), its file, or an answer, an idempotency record or a log
// file of a peer's replay. So while a create is under way, the job's lock
// is held in this process's memory only (m.newLocks, which this process's
// own m.lock waits for), and it is taken in the storage when the job is
// announced while its work goes on:
//
//   - before an answer that the job is still in progress (await);
//   - before an idempotency key's record names it;
//   - before its record goes to its file under the quota locks (admit's
//     saveFirst), where the next admission counts it;
//   - newLockHoldAfter after the create began, if it is still running:
//     well before another broker's reaper would replay the log files that
//     hold its records (walOrphanAge) or would find its index key stale
//     twice (reconcileOwners).
//
// A create that finishes before any of these settles the job (writes its
// file) and releases the memory lock without a storage lock file ever
// being written: after the settle, the creator writes nothing more of the
// job, so another broker that takes the job's storage lock as soon as the
// file exists changes it alone.

// newLockHoldAfter bounds how long a create holds its job's lock in
// memory only.
const newLockHoldAfter = 5 * time.Second

// newLock is a new job's lock.
type newLock struct {
	m    *Manager
	id   string
	done chan struct{} // closed once released

	mu       sync.Mutex
	stored   func() // releases the storage lock once taken
	released bool
	timer    *time.Timer
}

// lockNew takes new job id's lock in memory.
func (m *Manager) lockNew(id string) *newLock {
	l := &newLock{m: m, id: id, done: make(chan struct{})}
	m.newLocksMu.Lock()
	if m.newLocks == nil {
		m.newLocks = map[string]*newLock{}
	}
	m.newLocks[id] = l
	m.newLocksMu.Unlock()
	if m.c().RespondWithin > newLockHoldAfter {
		// The await's announce may come too late: take the storage
		// lock in time.
		l.mu.Lock()
		l.timer = time.AfterFunc(newLockHoldAfter, func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(m.base), m.c().LockWait)
			defer cancel()
			if err := l.hold(ctx); err != nil {
				m.logger.Warn("taking a new job's storage lock", zap.String("job_id", id), zap.Error(err))
			}
		})
		l.mu.Unlock()
	}
	return l
}

// heldNew returns the memory lock of new job name, if this process holds
// one.
func (m *Manager) heldNew(name string) *newLock {
	m.newLocksMu.Lock()
	defer m.newLocksMu.Unlock()
	return m.newLocks[name]
}

// hold takes the job's storage lock as well (the job is being announced
// and its work goes on); a no-op once taken or released.
func (l *newLock) hold(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released || l.stored != nil {
		return nil
	}
	unlock, err := l.m.storeLock(ctx, l.id, l.m.c().LockWait)
	if err != nil {
		return err
	}
	l.stored = unlock
	return nil
}

// unlock releases the lock: the storage lock if it was taken, then the
// memory lock.
func (l *newLock) unlock() {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return
	}
	l.released = true
	if l.timer != nil {
		l.timer.Stop()
	}
	stored := l.stored
	l.mu.Unlock()
	if stored != nil {
		stored()
	}
	l.m.newLocksMu.Lock()
	delete(l.m.newLocks, l.id)
	l.m.newLocksMu.Unlock()
	close(l.done)
}

// announce takes a logged new job's storage lock and settles it: the
// job is being made known while its work goes on (see the top of this
// file).
func (m *Manager) announce(ctx context.Context, id string) error {
	if l := m.heldNew(id); l != nil {
		if err := l.hold(ctx); err != nil {
			return err
		}
	}
	m.settleLogged(ctx, id, false)
	return nil
}

// The instance lock, csb-jobs-instance-<instance>: a process that holds
// new jobs' locks in memory holds it in the storage from its first such
// create until Stop. Another broker that can take it knows the process
// is gone (on Caddy's file-system storage, its lock file went stale 10 s
// after the process died), so the new jobs of its log files are nobody's
// (replayWAL); while it is held, they may be a live create's.
func instanceLockName(inst string) string { return "instance-" + inst }

// holdInstance takes this process's instance lock if it does not hold it
// yet, and reports whether it holds it. Without it, new jobs' locks are
// taken in the storage.
func (m *Manager) holdInstance(ctx context.Context) bool {
	m.instanceMu.Lock()
	defer m.instanceMu.Unlock()
	if m.instanceUnlock != nil {
		return true
	}
	// Stop released it (or is about to, once this returns): a create
	// that comes after must not take it again, for nothing would
	// release it.
	m.mu.Lock()
	stopped := m.stopped
	m.mu.Unlock()
	if stopped {
		return false
	}
	unlock, err := m.storeLock(ctx, instanceLockName(m.instance), time.Second)
	if err != nil {
		m.logger.Warn("taking the instance lock; new jobs are locked in the storage", zap.Error(err))
		return false
	}
	m.instanceUnlock = unlock
	return true
}

// releaseInstance releases the instance lock (Stop, once no work is left).
func (m *Manager) releaseInstance() {
	m.instanceMu.Lock()
	defer m.instanceMu.Unlock()
	if m.instanceUnlock != nil {
		m.instanceUnlock()
		m.instanceUnlock = nil
	}
}

// instanceAlive reports whether instance inst may be alive: its instance
// lock cannot be taken (or the storage did not say).
func (m *Manager) instanceAlive(ctx context.Context, inst string) bool {
	if inst == m.instance || !validID(inst) {
		return true
	}
	unlock, err := m.storeLock(ctx, instanceLockName(inst), 20*time.Millisecond)
	if err != nil {
		return true
	}
	unlock()
	return false
}
