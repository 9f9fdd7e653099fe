package jobs

// StaleForRead reports whether a consumer's read of j would start a
// background check of its resource (checkOnRead's decision).
func (m *Manager) StaleForRead(j *Job) bool { return m.checkAged(j, 2*m.c().CheckInterval) }

// LogsUnread reports whether a listed job log file of another instance
// could not be read at the last replay.
func (m *Manager) LogsUnread() bool { return m.logsUnread() }
