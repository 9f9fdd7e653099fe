package jobs

// StaleForRead reports whether a consumer's read of j would start a
// background check of its resource (checkOnRead's decision).
func (m *Manager) StaleForRead(j *Job) bool { return m.checkAged(j, 2*m.c().CheckInterval) }

// LogsUnread reports whether a listed job log file of another instance
// could not be read at the last replay.
func (m *Manager) LogsUnread() bool { return m.logsUnread() }

// FireNewLockTimer runs what new job id's newLockHoldAfter timer runs, as
// if it had fired: the create is still running and its job's storage
// lock is taken now.
func (m *Manager) FireNewLockTimer(id string) {
	if l := m.heldNew(id); l != nil {
		l.late()
	}
}

// RetryNewLock runs one round of new job id's retries of its storage
// lock (keepTrying), as if its timer had fired.
func (m *Manager) RetryNewLock(id string) {
	if l := m.heldNew(id); l != nil {
		l.retry()
	}
}

// WALOrphanAge is walOrphanAge: how long a peer leaves a live instance's
// job log file alone.
const WALOrphanAge = walOrphanAge

// WaitWork waits until the background work on job id, if any runs, has
// ended and released the job's lock.
func (m *Manager) WaitWork(id string) {
	m.mu.Lock()
	done := m.running[id]
	m.mu.Unlock()
	if done != nil {
		<-done
	}
}

// CleanupRechecked is cleanupRechecked: the Cleanup of an attempt whose
// lost create's handle was removed and is removed again later.
const CleanupRechecked = cleanupRechecked

// LostRechecks are lostRechecks' delays.
var LostRechecks = lostRechecks[:]
