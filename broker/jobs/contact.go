package jobs

// Providers the broker must leave alone (draft 4.1.2.3.1.1 and
// 4.1.2.3.2): a provider, or the service of a provider that holds a job,
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
//     it); the record is not purged before. The job's reason says the
//     removal is queued until it is done, and then that it is; a queued
//     reclaim is reported as one (Config.OnReclaim, EventReclaimed) when
//     the resource is removed. A provider that left the configuration
//     (no adapter) keeps the resource until it is configured again, and
//     the reason says so; a remove or reclaim of a job whose provider has
//     no adapter any more is queued the same way (queueUnconfigured). A
//     remove of a job whose removal is queued answers with that reason,
//     not "already removed": its resource still runs;
//   - the periodic check for vanished resources skips the provider.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// heldBack reports whether a job's resource at provider, placed on
// service (may be ""), must not be contacted now, and why ("provider a
// is deactivated", "service vm of provider a is unavailable").
func (m *Manager) heldBack(provider, service string) (string, bool) {
	if provider == "" {
		return "", false
	}
	if fn := m.c().ProviderStatus; fn != nil {
		if st, ok := fn(provider); ok && withdrawn(st) {
			return fmt.Sprintf("provider %s is %s", provider, st), true
		}
	}
	if fn := m.c().ServiceStatus; fn != nil && service != "" {
		if st, ok := fn(provider, service); ok && withdrawn(st) {
			return fmt.Sprintf("service %s of provider %s is %s", service, provider, st), true
		}
	}
	return "", false
}

func withdrawn(st csbmsg.ServiceStatus) bool {
	return st == csbmsg.ServiceDeactivated || st == csbmsg.ServiceUnavailable
}

// queueRemoval gives j status final without calling its provider, which
// is held back (why): j's resource becomes an orphan that the reaper
// removes once the provider may be contacted again (the caller holds the
// lock).
func (m *Manager) queueRemoval(j *Job, final Status, why string) *Result {
	return m.queueOrphan(j, final, "queued: "+why+" and is not contacted until it is active again",
		why+"; the broker removes the resources at "+j.ProviderID+" once it is active again")
}

// queueUnconfigured gives j status final although its provider has no
// adapter configured (it left the configuration), as queueRemoval does
// for a provider held back: the resource may still run there, and the
// reaper removes it if the provider is configured again (retryOrphans).
// Were the job left successful, its cost would run on, and the reaper
// would fail its reclaim, and rewrite the job, on every pass.
// The orphan's error and the job's reason are the ones retryOrphans
// writes for such a provider, so that its passes rewrite nothing.
func (m *Manager) queueUnconfigured(j *Job, final Status) *Result {
	m.logger.Warn("removal queued: the job's provider is no longer configured", zap.String("job_id", j.ID), zap.String("provider_id", j.ProviderID), zap.String("uri", j.Resource.URI))
	return m.queueOrphan(j, final, unconfiguredOrphan(j.ProviderID), unconfiguredOwn(j.ProviderID))
}

// unconfiguredOrphan is the LastError of an orphan whose provider has no
// adapter configured.
func unconfiguredOrphan(provider string) string {
	return "provider " + provider + " has no adapter configured; the broker removes the resource if it is configured again"
}

// unconfiguredOwn is why a queued removal of a job's own resource waits
// while its provider has no adapter configured (the reason's tail after
// queuedWhat).
func unconfiguredOwn(provider string) string {
	return "provider " + provider + " has no adapter configured; the broker removes the resources at " + provider + " if it is configured again"
}

// queueOrphan gives j status final without calling its provider: j's
// resource becomes an orphan (its LastError orphanErr) and the job's
// reason says the removal is queued and why (own) (the caller holds the
// lock).
func (m *Manager) queueOrphan(j *Job, final Status, orphanErr, own string) *Result {
	prev := j.Status
	now := m.now()
	j.Orphans = append(j.Orphans, Orphan{
		ProviderID: j.ProviderID,
		ServiceID:  j.ServiceID,
		Resource:   j.Resource,
		Since:      now,
		LastError:  orphanErr,
	})
	j.Resource = nil
	j.Op = nil
	j.Status = final
	j.Expires = now.Add(m.c().Retain)
	j.Reason = queuedWhat(final) + ": " + own
	// Not a reclaim yet (Config.OnReclaim, EventReclaimed): the resources
	// still run. The reaper reports it when it removed them (retryOrphans).
	m.saveBackground(j)
	m.logState(j, prev, "job "+string(final)+", removal queued")
	return result(csbmsg.StatusOK, j, "%s", j.Reason)
}

// queuedWhat is how the reason of a job whose removal was queued (status
// final) begins, for as long as its resource is left at its provider:
// retryOrphans tells such a job by it, and rewrites the reason when the
// removal fails or is done (a final job's reason changes nowhere else).
func queuedWhat(final Status) string {
	if final == StatusExpired {
		return "lease ended; reclaim queued"
	}
	return "removal queued"
}

// queuedRemoval reports whether j is final with its own resource's
// removal queued and not done yet.
func queuedRemoval(j *Job) bool {
	return j.Status.Final() && strings.HasPrefix(j.Reason, queuedWhat(j.Status)+":")
}

// queuedDone is the reason of a job whose queued removal is done.
func queuedDone(j *Job) string {
	if j.Status == StatusExpired {
		return fmt.Sprintf("lease ended; resources reclaimed once %s could be contacted again", j.ProviderID)
	}
	return fmt.Sprintf("removed; the resources at %s were removed once it could be contacted again", j.ProviderID)
}

// renewHeld renews j's lease without calling its provider, held back
// (why) (the caller holds the lock). A renewal not stored is an error, as
// at an active provider: answered 200, the consumer would stop worrying
// while the reaper reclaims the job at the old lease's end.
func (m *Manager) renewHeld(ctx context.Context, j *Job, why string) (*Result, error) {
	j.Expires = m.now().Add(time.Duration(j.LeaseSeconds) * time.Second)
	j.Reason = fmt.Sprintf("lease renewed; %s, so the resource was not checked", why)
	if err := m.save(ctx, j); err != nil {
		return nil, fmt.Errorf("%w: the renewal: %v", ErrNotRecorded, err)
	}
	m.logState(j, j.Status, "job lease renewed")
	return result(csbmsg.StatusOK, j, "lease renewed for %d s; no resource change; %s and was not contacted", j.LeaseSeconds, why), nil
}
