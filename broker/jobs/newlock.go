package jobs

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/store"
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
//
// Taking the storage lock may fail (the storage's Lock returns an error,
// or the wait ends). What the create does then depends on where, so that
// the job is never worked on by two brokers and nothing accepted is lost:
//
//   - at the idempotency record and at saveFirst, nothing irreversible
//     has happened yet (no provider was called): the create stops, drops
//     what it wrote and is answered ErrNotRecorded, which the consumer
//     may retry;
//   - at the await and at the newLockHoldAfter timer, the job's work is
//     under way (a provider may be creating its resource): stopping it
//     would leave that resource to nobody, and answering that the job
//     exists would tell of a job whose lock nobody sees. So the work goes
//     on under the memory lock and keepTrying takes over: every
//     newLockRetry until the lock is taken or released, it refreshes the
//     log files that hold the job's records (jobWAL.refresh) and tries
//     the lock again. Another broker's reaper replays a live instance's
//     log file walOrphanAge after it first listed it, but starts that
//     age again when it finds the file refreshed since it last looked
//     (replayWAL): it neither writes the job's file from the log nor
//     resumes the create while its creator works on it. The await
//     answers once the lock is taken (the job in progress, announced as
//     usual) or with the outcome, whichever comes first; the timer has
//     nobody to answer.
//
// Should this process die meanwhile, the refreshes stop with it and its
// instance lock goes stale: its log files are replayed as those of any
// create in flight.

// newLockHoldAfter bounds how long a create holds its job's lock in
// memory only.
const newLockHoldAfter = 5 * time.Second

// newLockRetry is how often a create whose storage lock could not be
// taken refreshes its log files and tries the lock again (keepTrying),
// and how long a try waits: the first refresh comes at most
// newLockHoldAfter+newLockRetry after the create began, the next ones
// every newLockRetry, well within walOrphanAge.
const newLockRetry = 5 * time.Second

// newLock is a new job's lock.
type newLock struct {
	m    *Manager
	id   string
	done chan struct{} // closed once released
	held chan struct{} // closed once the storage lock is taken

	// taking serializes the tries to take the storage lock; mu, held
	// only briefly, guards the fields below, so that the refreshes of
	// keepTrying never wait for a try.
	taking   sync.Mutex
	mu       sync.Mutex
	stored   func() // releases the storage lock once taken
	released bool
	retrying bool // keepTrying runs
	timer    *time.Timer
}

// lockNew takes new job id's lock in memory.
func (m *Manager) lockNew(id string) *newLock {
	l := &newLock{m: m, id: id, done: make(chan struct{}), held: make(chan struct{})}
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
		l.timer = time.AfterFunc(newLockHoldAfter, l.late)
		l.mu.Unlock()
	}
	return l
}

// late takes the storage lock of a create still running newLockHoldAfter
// after it began; when that fails, keepTrying takes over.
func (l *newLock) late() {
	if err := l.tryHold(); err != nil {
		l.m.logger.Warn("taking a new job's storage lock; its log files are kept from a replay until it is taken",
			zap.String("job_id", l.id), zap.Error(err))
		l.keepTrying()
	}
}

// keepTrying refreshes the job's log files and tries its storage lock
// again, now and every newLockRetry, until the lock is taken or released
// (see the top of this file). Called once a try failed while the job's
// work goes on; a no-op when it runs already.
func (l *newLock) keepTrying() {
	l.mu.Lock()
	start := !l.released && l.stored == nil && !l.retrying
	l.retrying = true
	l.mu.Unlock()
	if start {
		l.retry()
	}
}

// retry is one round of keepTrying: the refresh first, whatever a try
// under way waits for, then the next round is scheduled, then the try.
func (l *newLock) retry() {
	m := l.m
	if !l.pending() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.base), newLockRetry)
	defer cancel()
	if m.wal != nil {
		if err := m.wal.refresh(ctx, l.id); err != nil {
			m.logger.Warn("refreshing the log files of a new job not locked in the storage", zap.String("job_id", l.id), zap.Error(err))
		}
	}
	l.mu.Lock()
	if l.released || l.stored != nil {
		l.mu.Unlock()
		return
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer = time.AfterFunc(newLockRetry, l.retry)
	l.mu.Unlock()
	if err := l.tryHold(); err != nil {
		m.logger.Debug("taking a new job's storage lock", zap.String("job_id", l.id), zap.Error(err))
	}
}

// tryHold takes the storage lock while the job's work goes on, waiting
// at most newLockRetry (or LockWait, if shorter): nobody else takes a
// new job's lock, and keepTrying goes on trying, so a longer wait would
// only put off its first refresh.
func (l *newLock) tryHold() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.m.base), newLockRetry)
	defer cancel()
	return l.hold(ctx)
}

// pending reports whether the lock is held in memory only.
func (l *newLock) pending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.released && l.stored == nil
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
	l.taking.Lock()
	defer l.taking.Unlock()
	if !l.pending() {
		return nil
	}
	unlock, err := l.m.storeLock(ctx, l.id, l.m.c().LockWait)
	if err != nil {
		return err
	}
	l.mu.Lock()
	if l.released {
		// Released while the lock was being taken: the job is settled
		// and its creator done with it.
		l.mu.Unlock()
		unlock()
		return nil
	}
	l.stored = unlock
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	close(l.held)
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
//
// A held instance lock can be lost (store.LockKeeper): broken as stale by
// a peer while this process was paused or cut off from the storage for
// longer than the storage's stale time. It is then taken again: left
// lost, every peer's reaper found it free, took this live process for
// dead and replayed its log files at once, resuming the creates that
// this process still worked on under memory locks, for as long as the
// process lived.
func (m *Manager) holdInstance(ctx context.Context) bool {
	m.instanceMu.Lock()
	defer m.instanceMu.Unlock()
	if m.instanceUnlock != nil {
		lk, ok := m.store.(store.LockKeeper)
		if !ok || !lk.LockLost(lockPrefix+instanceLockName(m.instance)) {
			return true
		}
		m.logger.Warn("the instance lock was lost (broken as stale by another broker); taking it again")
		m.instanceUnlock()
		m.instanceUnlock = nil
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
