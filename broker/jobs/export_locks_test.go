package jobs

// LockWaiters returns how many takers of the storage lock name wait in
// m's process.
func LockWaiters(m *Manager, name string) int { return m.locals.waiters(name) }

// OwnerHash is the hash naming an owner's job count lock ("owner-" + it).
func OwnerHash(owner string) string { return ownerHash(owner) }
