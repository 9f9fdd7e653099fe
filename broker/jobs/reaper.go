package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// reapLoop runs a pass at once (reconciling what an earlier process left)
// and then every ReapInterval until Stop.
func (m *Manager) reapLoop() {
	lastErr := "" // a failing pass is logged once per change, not every pass
	m.every(func() time.Duration { return m.c().ReapInterval }, func(bool) {
		_, err := m.ReapOnce(m.base)
		switch {
		case m.base.Err() != nil:
		case err != nil && err.Error() != lastErr:
			m.logger.Warn("reaper pass failed", zap.Error(err))
			lastErr = err.Error()
		case err == nil && lastErr != "":
			m.logger.Info("reaper pass works again")
			lastErr = ""
		}
	})
}

// PassStats counts what a reaper pass did.
type PassStats struct {
	Jobs     int // jobs looked at
	Expired  int // leases reclaimed (and failed jobs expired)
	Purged   int // records deleted after retention
	Resumed  int // abandoned operations taken over
	Orphans  int // orphaned resources removed; a lost create's handle at each recheck (retryOrphans)
	Dropped  int // lost creates' handles dropped after their last recheck (lostRechecks)
	Failures int // reclaims or orphan removals that failed (retried after a wait: ReclaimRetry, Orphan.Retry)
	Deferred int // ended leases of volumes attached to live machines, left until detached
	Waiting  int // ended leases whose failed reclaim waits for its next try (ReclaimRetry)
	// OrphansWaiting counts the orphans whose failed removal waits for
	// its next try (Orphan.Retry): not contacted by this pass.
	OrphansWaiting int
}

// ReapOnce runs one reaper pass: it reclaims ended leases, deletes records
// past retention, retries orphan removal, takes over operations whose
// process died, and recounts provider load. Instances sharing the store
// coordinate through the store's locks: a pass runs under the lock
// "csb-jobs-reaper", and every change to a job under the job's lock after
// re-reading it, so each lease is reaped exactly once. Resumed operations
// continue in the background.
func (m *Manager) ReapOnce(ctx context.Context) (PassStats, error) {
	var st PassStats
	// Jobs other instances logged and never settled (wal.go), replayed
	// under each job's lock, outside the reaper's: the pass holds that
	// lock no longer than without the log.
	m.replayLogs(ctx)
	wait := min(m.c().ReapInterval/2, 5*time.Second)
	unlock, err := m.lock(ctx, "reaper", max(wait, time.Second))
	if err != nil {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		// Another instance is reaping: the job index is reconciled
		// with the store all the same.
		m.refreshIndexEvery(ctx, m.c().ReapInterval)
		return st, nil
	}
	defer unlock()
	// The recount below replaces this process's load figures, except for
	// the jobs it changed (track) or wrote (touch) after seq0: taken
	// before the store is listed, so that a job written after the
	// listing, which the recount misses, is always one of them.
	m.mu.Lock()
	seq0 := m.trackSeq
	m.passes++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		if m.passes--; m.passes == 0 {
			clear(m.touched)
		}
		m.mu.Unlock()
	}()
	// The owner index is listed before the jobs, so that an index key
	// whose job is not listed is either stale or a create's in progress
	// (reconcileOwners tells them apart under the job's lock).
	marks, err := m.ownerMarks(ctx)
	if err != nil {
		return st, err
	}
	gen := m.index.begin()
	ids, vers, err := m.listVersions(ctx)
	if err != nil {
		return st, err
	}
	loads := map[string]jobLoadEntry{}
	var unread []string // listed, but their records could not be read
	prev := m.memo.startPass()
	next := make(map[string]*reapMemo, len(ids))
	defer m.memo.replace(next)
	for i, id := range ids {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		// A record unchanged since an earlier pass read it, with
		// nothing due now: its memo stands for it (reapmemo.go).
		if r := m.memo.lookup(prev, id, vers[i], true); r != nil && !m.logged(id) && !m.needsLook(r, m.now()) {
			next[r.entry.id] = r
			st.Jobs++
			m.index.put(r.entry)
			m.markOwner(ctx, marks, r.entry.owner.Value(), id)
			if r.loadOK {
				loads[r.entry.id] = jobLoadEntry{provider: r.entry.provider.Value(), load: r.load}
			}
			continue
		}
		j, err := m.loadStore(ctx, id, false)
		if err != nil {
			if !errors.Is(err, ErrNoJob) {
				unread = append(unread, id)
			}
			continue
		}
		if !m.logged(id) {
			r := memoOf(j, vers[i])
			next[r.entry.id] = r
		}
		st.Jobs++
		m.indexJob(j)
		m.markOwner(ctx, marks, j.Owner, j.ID)
		if p, l, ok := jobLoad(j); ok {
			loads[j.ID] = jobLoadEntry{provider: p, load: l}
		}
		// Events whose deliveries a dead writer never stored (events.go):
		// the record of a job is read by a pass whenever it changed, so
		// every write's outbox is looked at once; one with work left is
		// read again by the next pass.
		if !m.recoverOutbox(ctx, j) {
			delete(next, j.ID)
		}
		now := m.now()
		switch {
		case j.Op != nil:
			if !m.isRunning(j.ID) && m.resume(ctx, j.ID) {
				st.Resumed++
			}
			continue
		case j.Status.InFlight():
			// In flight without an Op: cannot happen with this package;
			// treat it as abandoned provisioning.
			continue
		case j.Status == StatusSuccess && !j.Expires.IsZero() && !now.Before(j.Expires):
			if !m.reclaimDue(j, now) {
				st.Waiting++
				break
			}
			switch m.reap(ctx, j.ID) {
			case reapDone:
				st.Expired++
			case reapFailed:
				st.Failures++
			case reapDeferred:
				st.Deferred++
			}
		case j.Status == StatusSuccess && m.leaseAhead(j, now):
			m.bringLeaseBack(ctx, j.ID)
		case m.leaseWarnDue(j, now):
			m.warnLease(ctx, j.ID)
		case j.Status == StatusFailed && !now.Before(j.Expires) && len(j.Orphans) == 0:
			// A failed job holds nothing: its record goes once
			// RetainFailed has passed.
			if m.purge(ctx, j.ID) {
				st.Purged++
			}
			continue
		case j.Status == StatusFailed && !now.Before(j.Expires):
			if m.expireFailed(ctx, j.ID) {
				st.Expired++
			}
		case j.Status.Final() && !now.Before(j.Expires) && len(j.Orphans) == 0:
			if m.purge(ctx, j.ID) {
				st.Purged++
			}
			continue
		}
		due, waiting := m.orphansDue(j, now)
		st.OrphansWaiting += waiting
		if due {
			o := m.retryOrphans(ctx, j.ID)
			st.Orphans += o.removed
			st.Dropped += o.dropped
			st.Failures += o.failed
		}
	}
	m.index.end(gen, m.stillStored(ctx))
	m.reconcileOwners(ctx, marks)
	// Install the recount, except for jobs this process changed while the
	// pass ran: their local figures are newer than what the pass read.
	// A new job of this process not settled yet has no file the listing
	// could see, and its settle may write it after this: its local
	// figures stand too (one settled since is listed or touched).
	unsettled := m.unsettledIDs()
	m.mu.Lock()
	// A job whose record could not be read (a storage error) still
	// weighs on its provider: its figures from before the pass stand.
	for _, id := range unread {
		if e, ok := m.jobLoads[id]; ok {
			loads[id] = e
		}
	}
	for _, id := range unsettled {
		if _, listed := loads[id]; !listed {
			if e, ok := m.jobLoads[id]; ok {
				loads[id] = e
			}
		}
	}
	for id, s := range m.touched {
		if s > seq0 {
			if e, ok := m.jobLoads[id]; ok {
				loads[id] = e
			} else {
				delete(loads, id)
			}
		} else {
			delete(m.touched, id)
		}
	}
	m.jobLoads = loads
	m.sumLoads()
	m.mu.Unlock()
	return st, nil
}

// markOwner confirms job id's owner index key for a pass: listed
// (marks, which keeps the keys the pass has not seen), or else written
// (a record written before the owner index existed).
func (m *Manager) markOwner(ctx context.Context, marks map[string]string, owner, id string) {
	if k := ownerKey(owner, id); marks[k] != "" {
		delete(marks, k)
	} else if err := store.Mark(ctx, m.store, k); err != nil {
		m.logger.Warn("adding a job's owner index key", zap.String("job_id", id), zap.Error(err))
	}
}

// logged reports whether job id is a new job of this process still in
// its log: its newest record is there, not in the file a version names.
func (m *Manager) logged(id string) bool { return m.wal != nil && m.wal.known(id) }

type reapOutcome int

const (
	reapSkipped reapOutcome = iota
	reapDone
	reapFailed
	reapDeferred // an attached volume's (deferReclaim)
)

// reap reclaims one ended lease (an attached volume's waits,
// deferReclaim).
func (m *Manager) reap(ctx context.Context, id string) reapOutcome {
	// Busy (an update may be renewing it), or renewed, removed or reaped
	// meanwhile: skipped.
	j, unlock := m.lockedFresh(ctx, id, func(j *Job) bool {
		now := m.now()
		return j.Status == StatusSuccess && j.Op == nil && !now.Before(j.Expires) && m.reclaimDue(j, now)
	})
	if j == nil {
		return reapSkipped
	}
	defer unlock()
	// A machine's own attachments (Volume another job) are not its
	// volume's: its reclaim goes on.
	if a := m.attachedNow(ctx, j); a != nil && a.Volume == j.ID {
		return m.deferReclaim(ctx, j, a)
	}
	j.Op = &Op{Kind: OpReap, Instance: m.instance, Started: m.now()}
	if err := m.save(ctx, j); err != nil {
		return reapFailed
	}
	if r := m.finishRemoval(ctx, j, StatusExpired); r.Status != csbmsg.StatusOK {
		return reapFailed
	}
	return reapDone
}

// reclaimBackoffMax bounds the wait between two tries of a failed lease
// reclaim (ReclaimRetry) or orphan removal (Orphan.Retry), or one reap
// interval when that is longer: a provider back from an outage has its
// ended leases reclaimed and its orphans removed within it.
const reclaimBackoffMax = 15 * time.Minute

// backOffReclaim records on j a failed reclaim of its lease, and when the
// reaper tries again. Why not at every pass: each try may wait for
// CallTimeout, one job after the other under the reaper's lock, so a down
// provider with many ended leases held up the reclaim of every other
// provider's leases, and was called for each of its jobs every pass.
func (m *Manager) backOffReclaim(j *Job) {
	r := j.Reclaim
	if r == nil || !r.Expires.Equal(j.Expires) {
		r = &ReclaimRetry{Expires: j.Expires}
	}
	r.Failures++
	r.Next = m.now().Add(m.retryWait(r.Failures))
	j.Reclaim = r
}

// retryWait is how long the reaper waits after the failures-th failure in
// a row of a call to a provider (a lease reclaim, an orphan's removal)
// before it tries again: one reap interval, doubled after each further
// failure, up to reclaimBackoffMax or one reap interval when longer.
func (m *Manager) retryWait(failures int) time.Duration {
	wait := m.c().ReapInterval
	limit := m.retryWaitMax()
	for i := 1; i < failures && wait < limit; i++ {
		wait *= 2
	}
	return min(wait, limit)
}

// retryWaitMax is the longest wait retryWait gives.
func (m *Manager) retryWaitMax() time.Duration {
	return max(reclaimBackoffMax, m.c().ReapInterval)
}

// retryDue reports whether a retry set for next (zero: none) is due at
// now. A next try further away than the longest wait was set while the
// clock ran ahead, and is not waited for.
func (m *Manager) retryDue(next, now time.Time) bool {
	return !now.Before(next) || next.Sub(now) > m.retryWaitMax()
}

// reclaimDue reports whether j's ended lease may be reclaimed at now: no
// failed reclaim of this lease end waits for its next try. A next try
// further away than the longest wait was set while the clock ran ahead,
// and is not waited for.
func (m *Manager) reclaimDue(j *Job, now time.Time) bool {
	r := j.Reclaim
	return r == nil || !r.Expires.Equal(j.Expires) || m.retryDue(r.Next, now)
}

// leaseLength is j's lease as a duration (the longest duration for a
// record beyond it).
func leaseLength(j *Job) time.Duration {
	if j.LeaseSeconds > uint64(math.MaxInt64/int64(time.Second)) {
		return math.MaxInt64
	}
	return time.Duration(j.LeaseSeconds) * time.Second
}

// leaseAheadSlack is how far beyond its length from now a lease's end
// may lie before the reaper believes the clock ran ahead when it was
// granted. An instance that cannot tell its own clock running behind from
// the writer's running ahead must not shorten leases: one an hour behind
// (a time zone mistake) would make every lease it reaps end an hour
// early, and its peers would reclaim them. A day is more than any skew a
// running cluster lives with, and catches the jumps of a host resumed
// with a wrong clock (days, years).
const leaseAheadSlack = 24 * time.Hour

// leaseSlack is leaseAheadSlack, or a reap interval when that is longer.
func (m *Manager) leaseSlack() time.Duration { return max(m.c().ReapInterval, leaseAheadSlack) }

// leaseAhead reports whether j's lease ends further ahead of now than its
// length: granted while the clock ran ahead (a host resumed with a wrong
// clock) and set right since. Left so, the lease would run that much
// longer without a renewal (a year ahead: a year), and <expires> would
// say more than lease_max.
func (m *Manager) leaseAhead(j *Job, now time.Time) bool {
	if j.Expires.IsZero() {
		return false
	}
	l := leaseLength(j)
	return l < math.MaxInt64-m.leaseSlack() && j.Expires.Sub(now) > l+m.leaseSlack()
}

// bringLeaseBack makes the lease of job id, found ahead (leaseAhead), end
// its length from now, as a renewal now would have.
func (m *Manager) bringLeaseBack(ctx context.Context, id string) {
	j, unlock := m.lockedFresh(ctx, id, func(j *Job) bool {
		return j.Status == StatusSuccess && j.Op == nil && m.leaseAhead(j, m.now())
	})
	if j == nil {
		return
	}
	defer unlock()
	was := j.Expires
	j.Expires = m.now().Add(leaseLength(j))
	if err := m.save(ctx, j); err != nil {
		m.logger.Warn("bringing back a lease end granted while the clock ran ahead", zapStr("job_id", id), zapErr(err))
		return
	}
	m.logger.Warn("lease end lay beyond the lease's length: granted while the clock ran ahead; it ends a lease from now",
		zapStr("job_id", id), zap.Time("was", was), zap.Time("expires", j.Expires))
}

// deferReclaim leaves the ended lease of volume j, attached to a live
// machine (a), unreclaimed (the caller holds j's lock).
//
// Why defer rather than detach and remove: removing the volume destroys
// its data, and detaching it pulls a disk from under a running machine,
// neither of which can be undone, while the consumer who keeps the
// machine's lease is evidently still using the pair; a consumer's own
// remove of an attached volume is refused ("detach it first"), as
// clouds refuse to delete a volume in use, and the lease's reclaim does
// not do what the consumer may not. The deferral is bounded: once the
// volume is detached, or the machine ends (its own lease reclaimed, or
// removed, or its resource vanished), the next pass reclaims the volume;
// a renewal of the volume's lease ends it too. Until then the volume
// runs at its provider, so it stays successful and its cost accrues.
//
// The job's reason says the reclaim is deferred and why, and a lease
// warning (EventLeaseWarning, carrying that reason) tells its observers,
// once per deferral: a pass finding the same attachment writes nothing.
func (m *Manager) deferReclaim(ctx context.Context, j *Job, a *VolumeAttachment) reapOutcome {
	reason := fmt.Sprintf("lease ended; reclaim deferred: volume %s is attached to machine %s (attachment %s); the broker reclaims it once it is detached or the machine ends; a renewal keeps it", j.ID, a.Machine, a.ID)
	if j.Reason == reason {
		return reapDeferred
	}
	j.Reason = reason
	j.Events.LeaseWarned = j.Expires
	m.queueEvent(j, EventLeaseWarning)
	if err := m.save(ctx, j); err != nil {
		m.logger.Warn("recording a deferred lease reclaim", zap.String("job_id", j.ID), zap.Error(err))
		return reapFailed
	}
	m.logState(j, j.Status, "job's lease reclaim deferred: volume attached")
	return reapDeferred
}

func (m *Manager) expireFailed(ctx context.Context, id string) bool {
	j, unlock := m.lockedFresh(ctx, id, func(j *Job) bool {
		return j.Status == StatusFailed && !m.now().Before(j.Expires)
	})
	if j == nil {
		return false
	}
	defer unlock()
	j.Status = StatusExpired
	j.Expires = m.now().Add(m.c().Retain)
	j.Reason = "lease of a failed job ended"
	if err := m.save(ctx, j); err != nil {
		return false
	}
	m.logState(j, StatusFailed, "job expired")
	return true
}

func (m *Manager) purge(ctx context.Context, id string) bool {
	unlock, err := m.lock(ctx, id, time.Second)
	if err != nil {
		return false
	}
	defer unlock()
	j, err := m.loadStore(ctx, id, false)
	if err != nil || !(j.Status.Final() || j.Status == StatusFailed && j.Op == nil) || m.now().Before(j.Expires) || len(j.Orphans) > 0 {
		return false
	}
	// What the job cost still counts against its owner's spend limits
	// for the rest of their periods (limits.go): kept before the record
	// goes, or the record stays for the next pass.
	if err := m.keepSpend(ctx, j); err != nil {
		m.logger.Warn("keeping a purged job's spend; the record stays until the next pass", zap.String("job_id", id), zap.Error(err))
		return false
	}
	if j.IdempotencyKey != "" {
		_ = m.store.Delete(ctx, idemPrefix+idemHash(j.Owner, j.IdempotencyKey))
	}
	if err := m.store.Delete(ctx, jobKey(id)); err != nil {
		return false
	}
	m.forget(id)
	m.index.remove(j.Created, id)
	// The index key goes after the record; if this fails, the next pass
	// deletes it (reconcileOwners).
	_ = m.store.Delete(ctx, ownerKey(j.Owner, id))
	m.logger.Info("job purged", zap.String("job_id", id), zap.String("status", string(j.Status)))
	return true
}

// orphansDue reports whether a pass has work on j's orphans at now: one
// that is not a lost create's handle waiting for its recheck (lostDue),
// nor a failed removal waiting for its retry (Orphan.Retry), of which it
// counts the latter.
func (m *Manager) orphansDue(j *Job, now time.Time) (due bool, waiting int) {
	for i := range j.Orphans {
		o := &j.Orphans[i]
		switch {
		case o.Lost && !lostDue(j, o, now):
		case !m.retryDue(o.Retry, now):
			waiting++
		default:
			due = true
		}
	}
	return due, waiting
}

// orphanCounts is what retryOrphans did.
type orphanCounts struct{ removed, dropped, failed int }

// retryOrphans removes job id's orphans at the providers that may be
// contacted. An orphan whose provider has no adapter (the provider left
// the configuration) is kept, and says so: its resource may still run
// there, and goes if the provider is configured again. A lost create's
// handle (Orphan.Lost) is removed again when its recheck is due
// (lostDue), and dropped, with a log line, after a successful Remove at
// the last one; each successful Remove counts as a removal, as the
// contract does not say whether it found anything. When the job's own
// resource is among them (its removal was queued, contact.go), the job's
// reason follows what happens to it, and a queued reclaim is reported
// (Config.OnReclaim, EventReclaimed) when the resource is removed, not
// before. A pass writes the job only when something changed.
func (m *Manager) retryOrphans(ctx context.Context, id string) (n orphanCounts) {
	j, unlock := m.lockedFresh(ctx, id, func(j *Job) bool { return j.Op == nil })
	if j == nil {
		return n
	}
	defer unlock()
	queued := queuedRemoval(j)
	own := "" // the reason the job's own resource is still there
	var ownErr error
	changed := false
	var keep []Orphan
	now := m.now()
	for _, o := range j.Orphans {
		if o.Lost && !lostDue(j, &o, now) {
			// Not due yet, or the job holds a resource its Remove would
			// take too: the provider is not contacted.
			keep = append(keep, o)
			continue
		}
		// A lost create's handle is never the job's own resource.
		mine := o.ProviderID == j.ProviderID && !o.Lost
		if why, held := m.heldBack(o.ProviderID, o.ServiceID); held {
			// A provider held back is not contacted: its removal stays
			// queued until it is active again (contact.go).
			keep = append(keep, o)
			if mine {
				own = why + "; the broker removes the resources at " + o.ProviderID + " once it is active again"
			}
			continue
		}
		ad, ok := m.c().Adapter(o.ProviderID, j.Kind)
		if !ok {
			why := unconfiguredOrphan(o.ProviderID)
			if o.LastError != why {
				o.LastError, changed = why, true
				m.logger.Warn("orphaned resource left at a provider that is no longer configured", zap.String("job_id", j.ID), zap.String("provider_id", o.ProviderID), zap.String("uri", o.Resource.URI))
			}
			keep = append(keep, o)
			if mine {
				own = unconfiguredOwn(o.ProviderID)
			}
			continue
		}
		if !m.retryDue(o.Retry, now) {
			// Its last removal failed: the provider is not called again
			// before its retry (a provider down would have each pass wait
			// for CallTimeout on every one of its orphans, under the
			// reaper's lock). The reason stays the one that failure set.
			keep = append(keep, o)
			if mine {
				own = fmt.Sprintf("removing the resources at %s failed: %s; the broker tries again", o.ProviderID, o.LastError)
			}
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
		err := ad.Remove(cctx, o.Resource)
		cancel()
		if err != nil {
			o.LastError, changed = err.Error(), true
			o.Failures++
			o.Retry = now.Add(m.retryWait(o.Failures))
			keep = append(keep, o)
			n.failed++
			if mine {
				own, ownErr = fmt.Sprintf("removing the resources at %s failed: %v; the broker tries again", o.ProviderID, err), err
			}
			continue
		}
		n.removed++
		o.Failures, o.Retry = 0, time.Time{}
		if o.Lost {
			if o.removedLost(now) {
				keep = append(keep, o)
				continue
			}
			n.dropped++
			m.logger.Info("lost create's handle dropped after its last recheck; the broker does not remove what its provider lists for it later: check the provider for a resource named or tagged with the job id",
				zap.String("job_id", j.ID), zap.String("provider_id", o.ProviderID), zap.String("uri", o.Resource.URI), zap.Int("removals", o.Removals))
			continue
		}
		m.logger.Info("orphaned resource removed", zap.String("job_id", j.ID), zap.String("provider_id", o.ProviderID), zap.String("uri", o.Resource.URI))
	}
	done := false // the queued removal of the job's own resource is done
	if queued {
		reason := queuedWhat(j.Status) + ": " + own
		if done = own == ""; done {
			reason = queuedDone(j)
			if j.Status == StatusExpired {
				m.queueEvent(j, EventReclaimed)
			}
			// The record is kept for the retention from now, when the
			// job holds nothing: a provider held back longer than the
			// retention must not make the record go with the pass that
			// says the removal is done.
			if exp := m.now().Add(m.c().Retain); exp.After(j.Expires) {
				j.Expires = exp
			}
		}
		if reason != j.Reason {
			j.Reason, changed = reason, true
		}
	}
	if n.removed > 0 || changed {
		j.Orphans = keep
		if err := m.save(ctx, j); err != nil {
			// The next pass tries again: a removal of what is gone
			// succeeds (contract.Adapter), and is reported then.
			m.logger.Warn("recording orphan removals", zap.String("job_id", j.ID), zap.Error(err))
			done = false
		}
	}
	switch {
	case done:
		m.reclaimed(j, j.Status, nil)
		m.logState(j, j.Status, "job's queued removal done")
	case queued && ownErr != nil:
		m.reclaimed(j, j.Status, ownErr)
	}
	return n
}

// resume takes over an operation whose process is gone: it can take the
// job's lock only when no live process holds it.
func (m *Manager) resume(ctx context.Context, id string) bool {
	unlock, err := m.lock(ctx, id, time.Second)
	if err != nil {
		return false
	}
	j, err := m.loadFresh(ctx, id)
	if err != nil || j.Op == nil {
		unlock()
		return false
	}
	m.logger.Info("resuming an interrupted job operation", zap.String("job_id", j.ID), zap.String("op", string(j.Op.Kind)),
		zap.String("status", string(j.Status)), zap.String("from_instance", j.Op.Instance))
	j.Op.Instance = m.instance
	done := m.goWork(j.ID, unlock, func(ctx context.Context) {
		switch j.Op.Kind {
		case OpCreate, OpMove:
			m.provision(ctx, j)
		case OpUpdate:
			ad, ok := m.c().Adapter(j.ProviderID, j.Kind)
			if !ok {
				j.Op = nil
				j.Reason = "update interrupted; provider " + j.ProviderID + " is no longer configured"
				m.saveBackground(j)
				return
			}
			m.applyUpdate(ctx, ad, j)
		case OpRemove:
			m.finishRemoval(ctx, j, StatusRemoved)
		case OpReap:
			m.finishRemoval(ctx, j, StatusExpired)
		default:
			j.Op = nil
			m.saveBackground(j)
		}
	})
	return done != nil
}

// jobLoad is what a job weighs on its provider.
func jobLoad(j *Job) (string, placement.Load, bool) {
	provider := j.ProviderID
	switch {
	case j.Status == StatusSuccess:
	case j.Status.InFlight():
		if a := j.lastAttempt(); a != nil && a.Outcome == OutcomeInProgress {
			provider = a.ProviderID
		} else if len(j.Plan) > 0 {
			provider = j.Plan[0].ProviderID
		}
	default:
		return "", placement.Load{}, false
	}
	if provider == "" {
		return "", placement.Load{}, false
	}
	g := j.Granted()
	l := placement.Load{Jobs: 1}
	if g.IaaS != nil {
		if c := g.IaaS.Compute; c != nil {
			l.Cores, l.MemoryGB = deref(c.Cores), deref(c.Memory)
		}
		if s := g.IaaS.Storage; s != nil {
			l.StorageGB = deref(s.Size)
		}
	}
	return provider, l, true
}

func deref(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// jobLoadEntry is what one live job weighs on its provider.
type jobLoadEntry struct {
	provider string
	load     placement.Load
}

// track updates the load contribution of j after this process wrote it
// (the caller does not hold m.mu). It adjusts the provider sums by the
// job's change rather than summing every job again: a write costs the
// same with ten live jobs or a hundred thousand.
func (m *Manager) track(j *Job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trackSeq++
	if m.passes > 0 {
		// Only a reaper pass asks which jobs changed while it ran.
		m.touched[j.ID] = m.trackSeq
	}
	if old, ok := m.jobLoads[j.ID]; ok {
		m.addLoad(old, -1)
	}
	if p, l, ok := jobLoad(j); ok {
		e := jobLoadEntry{provider: p, load: l}
		m.jobLoads[j.ID] = e
		m.addLoad(e, 1)
	} else {
		delete(m.jobLoads, j.ID)
	}
}

// touch records that job id's file was written now, for a reaper pass
// under way: a new job's file is written (settled) after its last
// track, and a pass that listed the store before that write must keep
// this process's figures for it.
func (m *Manager) touch(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trackSeq++
	if m.passes > 0 {
		m.touched[id] = m.trackSeq
	}
}

// addLoad adds (sign 1) or removes (sign -1) a job's load to or from its
// provider's sum (the caller holds m.mu).
func (m *Manager) addLoad(e jobLoadEntry, sign int) {
	sum := m.loads[e.provider]
	if sign > 0 {
		sum.Jobs += e.load.Jobs
		sum.Cores += e.load.Cores
		sum.MemoryGB += e.load.MemoryGB
		sum.StorageGB += e.load.StorageGB
	} else {
		sum.Jobs -= e.load.Jobs
		sum.Cores -= e.load.Cores
		sum.MemoryGB -= e.load.MemoryGB
		sum.StorageGB -= e.load.StorageGB
	}
	if sum == (placement.Load{}) {
		delete(m.loads, e.provider)
	} else {
		m.loads[e.provider] = sum
	}
}

// sumLoads recomputes m.loads from m.jobLoads (the caller holds m.mu).
func (m *Manager) sumLoads() {
	loads := make(map[string]placement.Load)
	for _, e := range m.jobLoads {
		sum := loads[e.provider]
		sum.Jobs += e.load.Jobs
		sum.Cores += e.load.Cores
		sum.MemoryGB += e.load.MemoryGB
		sum.StorageGB += e.load.StorageGB
		loads[e.provider] = sum
	}
	m.loads = loads
}

// logState logs one line per job state change.
func (m *Manager) logState(j *Job, from Status, msg string, fields ...zap.Field) {
	fs := append([]zap.Field{
		zap.String("job_id", j.ID),
		zap.String("status", string(j.Status)),
		zap.String("owner", j.Owner),
	}, fields...)
	if from != "" && from != j.Status {
		fs = append(fs, zap.String("from", string(from)))
	}
	if j.ProviderID != "" && !hasField(fields, "provider_id") {
		fs = append(fs, zap.String("provider_id", j.ProviderID))
	}
	if j.Reason != "" {
		fs = append(fs, zap.String("reason", j.Reason))
	}
	m.logger.Info(msg, fs...)
}

func hasField(fs []zap.Field, key string) bool {
	for _, f := range fs {
		if f.Key == key {
			return true
		}
	}
	return false
}

// logDecision writes every candidate of a decision to the debug log.
func (m *Manager) logDecision(d *placement.Decision) {
	ce := m.logger.Check(zap.DebugLevel, "placement decision")
	if ce == nil {
		return
	}
	ce.Write(zap.String("kind", string(d.Kind)), zap.String("policy", d.Policy), zap.Any("candidates", d.Explain()))
}

func zapErr(err error) zap.Field   { return zap.Error(err) }
func zapStr(k, v string) zap.Field { return zap.String(k, v) }

// lockedFresh takes job id's lock for a pass (waiting at most a second:
// a job busy longer is left to the next pass) and reads the job fresh.
// It returns the job and the unlock when due(job) holds, or nil (and no
// lock held) when the job is busy, unreadable or not due.
func (m *Manager) lockedFresh(ctx context.Context, id string, due func(*Job) bool) (*Job, func()) {
	unlock, err := m.lock(ctx, id, time.Second)
	if err != nil {
		return nil, nil
	}
	j, err := m.loadFresh(ctx, id)
	if err != nil || !due(j) {
		unlock()
		return nil, nil
	}
	return j, unlock
}
