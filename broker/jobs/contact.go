package jobs

// Providers the broker must leave alone (draft 4.1.2.3.1.1): a provider
// whose catalogue status is deactivated or unavailable "should not be
// contacted before it becomes 'active' again". What each operation on an
// existing job does then:
//
//   - an update that changes the resources is refused (409), the job
//     stays as it is;
//   - a lease renewal (an update without changes) renews the broker's
//     lease without calling the provider (the lease is the broker's own
//     record; nothing at the provider changes);
//   - a remove, and the reclaim of an ended lease, are queued: the job
//     becomes removed (or expired) at once, its resource is kept as an
//     orphan of the job, and the reaper removes it at the provider once
//     the provider is active again (or once the catalogue no longer knows
//     it); the record is not purged before;
//   - the periodic check for vanished resources skips the provider.

import (
	"fmt"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// heldBack reports whether provider id must not be contacted now, and
// its status for the reason.
func (m *Manager) heldBack(id string) (csbmsg.ServiceStatus, bool) {
	fn := m.c().ProviderStatus
	if fn == nil || id == "" {
		return "", false
	}
	st, ok := fn(id)
	if !ok {
		return "", false
	}
	return st, st == csbmsg.ServiceDeactivated || st == csbmsg.ServiceUnavailable
}

// queueRemoval gives j status final without calling its provider, which
// is held back with status st: j's resource becomes an orphan that the
// reaper removes once the provider may be contacted again (the caller
// holds the lock).
func (m *Manager) queueRemoval(j *Job, final Status, st csbmsg.ServiceStatus) *Result {
	prev := j.Status
	now := m.now()
	j.Orphans = append(j.Orphans, Orphan{
		ProviderID: j.ProviderID,
		Resource:   j.Resource,
		Since:      now,
		LastError:  fmt.Sprintf("queued: provider %s is %s and is not contacted until it is active again", j.ProviderID, st),
	})
	j.Resource = nil
	j.Op = nil
	j.Status = final
	j.Expires = now.Add(m.c().Retain)
	what := "removal"
	if final == StatusExpired {
		what = "lease ended; reclaim"
	}
	j.Reason = fmt.Sprintf("%s queued: provider %s is %s; the broker removes the resources there once it is active again", what, j.ProviderID, st)
	m.saveBackground(j)
	m.reclaimed(j, final, nil)
	m.logState(j, prev, "job "+string(final)+", removal queued")
	return result(csbmsg.StatusOK, j, "%s", j.Reason)
}

// renewHeld renews j's lease without calling its provider, held back
// with status st (the caller holds the lock).
func (m *Manager) renewHeld(j *Job, st csbmsg.ServiceStatus) *Result {
	j.Expires = m.now().Add(time.Duration(j.LeaseSeconds) * time.Second)
	j.Reason = fmt.Sprintf("lease renewed; provider %s is %s, so the resource was not checked", j.ProviderID, st)
	m.saveBackground(j)
	m.logState(j, j.Status, "job lease renewed")
	return result(csbmsg.StatusOK, j, "lease renewed for %d s; no resource change; provider %s is %s and was not contacted", j.LeaseSeconds, j.ProviderID, st)
}
