package jobs

// Resources that vanished at the provider. A successful job's resource
// can disappear behind the broker's back (an operator deletes it, a
// sandbox cloud restarts empty). The broker asks the provider (the
// adapter's Status; in a pass, first the adapter's listing where it has
// one, contract.Census) on three occasions:
//
//   - periodically: every Config.CheckInterval, a pass (under the store
//     lock "csb-jobs-checker", so one instance of a cluster runs it) checks
//     each successful job not confirmed within the interval; the first
//     pass after Start checks every successful job;
//   - on renewal: a lease renewal checks first, and a vanished resource is
//     not renewed;
//   - on reads that find the last check older than twice the interval
//     (the periodic pass fell behind, e.g. right after a restart): the
//     read answers at once with what is recorded and starts a check in
//     the background, so no GET waits for a provider.
//
// A resource the provider reports gone (contract.StateGone, or an error
// of kind contract.KindNotFound) makes the job failed: the draft's
// <job-status> is a free string whose only example is "success"; "failed"
// is already the broker's status for a job that holds nothing at a
// provider, consumers already act on it (create anew), and its record is
// purged after RetainFailed like other failed jobs. The reason says the
// resource is gone and carries the provider's message. Other errors
// (transport, 5xx) change nothing: the resource may well exist.
//
// A pass writes nothing for the resources that are there. With 100,000
// jobs, writing each job's check time (under the job's lock, durably)
// kept a core busy for as long as a pass ran. Instead a pass keeps a
// checkMark: when it began and the jobs it did not confirm (not due,
// held back, or their provider could not tell), with when they were
// confirmed before. Every other job that was successful when the pass
// read it was confirmed at the mark's start; a job that became
// successful after that has a later Updated. The mark is one small
// record (checkMarkKey) that the next pass of any instance adopts, so a
// cluster still asks each provider once per interval; between passes
// the reads of an instance decide with the mark it last ran or adopted.
// A job's own Checked is written only where its record is written
// anyway (a renewal, a read-started check, a resource found gone).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// checkLoop runs a check pass of every successful job at once (a
// restart of the broker may come with one of its providers: the
// sandboxes start empty) and then a pass every CheckInterval until Stop.
func (m *Manager) checkLoop() {
	m.every(func() time.Duration { return m.c().CheckInterval }, func(first bool) {
		age := m.c().CheckInterval
		if first {
			age = 0
		}
		if _, err := m.checkPass(m.base, age); err != nil && m.base.Err() == nil {
			m.logger.Warn("resource check pass failed", zap.Error(err))
		}
	})
}

// CheckStats counts what a check pass did.
type CheckStats struct {
	Checked int // resources asked about
	Listed  int // of those, confirmed by their provider's listing (contract.Census)
	Gone    int // resources found gone: their jobs failed
}

// checkBatch is how many due jobs a pass asks a listing provider about
// at once (one contract.Census call per provider and batch).
const checkBatch = 512

// CheckOnce runs one check pass: it asks the provider of every
// successful job not checked within CheckInterval whether the job's
// resource still exists, and fails the jobs whose resource is gone.
// Providers held back (deactivated, unavailable) are skipped.
func (m *Manager) CheckOnce(ctx context.Context) (CheckStats, error) {
	return m.checkPass(ctx, m.c().CheckInterval)
}

// checkPass checks the successful jobs last confirmed more than age
// ago. It probes without the jobs' locks; a resource that looks gone is
// probed again under the job's lock (checkJob) before the job fails.
func (m *Manager) checkPass(ctx context.Context, age time.Duration) (CheckStats, error) {
	var st CheckStats
	// Every instance adopts the cluster's last mark, also one whose
	// pass another instance runs: its reads decide with it.
	m.adoptCheckMark(ctx)
	unlock, err := m.lock(ctx, "checker", time.Second)
	if err != nil {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		return st, nil // another instance is checking
	}
	defer unlock()
	m.pruneChecking()
	m.adoptCheckMark(ctx) // one stored while this instance waited
	start := m.now()
	ids, err := m.listIDs(ctx)
	if err != nil {
		return st, err
	}
	others := map[string]time.Time{}
	var due []*Job
	for _, id := range ids {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		j, err := m.loadStore(ctx, id, false)
		if err != nil {
			if !errors.Is(err, ErrNoJob) {
				others[id] = time.Time{}
			}
			continue
		}
		if !checkable(j) {
			continue
		}
		if !m.checkDue(j, age) {
			others[id] = m.lastConfirmed(j)
			continue
		}
		if due = append(due, j); len(due) == checkBatch {
			m.checkDueJobs(ctx, due, age, &st, others)
			due = due[:0]
		}
	}
	m.checkDueJobs(ctx, due, age, &st, others)
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	if st.Checked > 0 {
		m.setCheckMark(ctx, &checkMark{Start: start, Others: others})
	}
	return st, nil
}

// checkDueJobs asks the providers of a batch of due jobs about their
// resources: those whose adapter lists (contract.Census) in one call per
// provider, the others and those a listing did not show one by one
// (probe). What it does not confirm goes to others.
func (m *Manager) checkDueJobs(ctx context.Context, due []*Job, age time.Duration, st *CheckStats, others map[string]time.Time) {
	listed := m.census(ctx, due)
	for _, j := range due {
		if ctx.Err() != nil {
			return
		}
		st.Checked++
		if listed[j.ID] && j.Resource.State != contract.StatePending {
			st.Listed++
			continue
		}
		fresh, gone, why := m.probeStatus(ctx, j)
		switch {
		case pendingSettled(j, fresh):
			// Recorded under the job's lock, by a check of its own.
			m.checkJob(ctx, j.ID, age)
		case gone:
			others[j.ID] = m.lastConfirmed(j)
			if _, g := m.checkJob(ctx, j.ID, age); g {
				st.Gone++
			}
		case why != "":
			others[j.ID] = m.lastConfirmed(j) // the provider could not tell
		}
	}
}

// census returns the jobs of due whose resources their providers'
// listings showed, asking each adapter that lists (contract.Census)
// once. A listing that fails confirms nothing.
func (m *Manager) census(ctx context.Context, due []*Job) map[string]bool {
	type group struct {
		c    contract.Census
		jobs []*Job
	}
	var groups []*group
	byAdapter := map[string]*group{} // provider id and kind: one adapter
	for _, j := range due {
		k := j.ProviderID + "\x00" + string(j.Kind)
		g := byAdapter[k]
		if g == nil {
			ad, ok := m.c().Adapter(j.ProviderID, j.Kind)
			c, lists := unwrapAs[contract.Census](ad)
			g = &group{c: c}
			byAdapter[k] = g
			if ok && lists {
				groups = append(groups, g)
			}
		}
		g.jobs = append(g.jobs, j)
	}
	held := map[string]bool{}
	for _, g := range groups {
		res := make([]*contract.Resource, len(g.jobs))
		for i, j := range g.jobs {
			res[i] = j.Resource
		}
		cctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
		ok, err := g.c.Held(cctx, res)
		cancel()
		if err != nil || len(ok) != len(res) {
			if err != nil && ctx.Err() == nil {
				m.logger.Debug("a provider's listing for the resource check failed; asking job by job", zap.String("provider_id", g.jobs[0].ProviderID), zap.Error(err))
			}
			continue
		}
		for i, j := range g.jobs {
			if ok[i] {
				held[j.ID] = true
			}
		}
	}
	return held
}

// checkMarkKey is the stored checkMark of the cluster's last pass.
const checkMarkKey = "csb/checked/jobs"

// checkMark is what a completed check pass confirmed: every job that was
// successful when it read it, confirmed at Start, except Others, each
// with when it was confirmed before (zero: never).
type checkMark struct {
	Start  time.Time            `json:"start"`
	Others map[string]time.Time `json:"others,omitempty"`
}

// adoptCheckMark takes the stored mark when another instance's pass
// left a later one than this instance's.
func (m *Manager) adoptCheckMark(ctx context.Context) {
	data, err := m.store.Load(ctx, checkMarkKey)
	if err != nil {
		return // none yet, or unreadable: this pass makes one
	}
	var mark checkMark
	if json.Unmarshal(data, &mark) != nil {
		return
	}
	if cur := m.checkMark.Load(); cur == nil || mark.Start.After(cur.Start) {
		m.checkMark.Store(&mark)
	}
}

// setCheckMark keeps mark and stores it for the cluster. A mark that
// cannot be stored still serves this instance; other instances check
// again.
func (m *Manager) setCheckMark(ctx context.Context, mark *checkMark) {
	m.checkMark.Store(mark)
	data, err := json.Marshal(mark)
	if err == nil {
		err = m.store.Store(ctx, checkMarkKey, data)
	}
	if err != nil && ctx.Err() == nil {
		m.logger.Warn("recording a resource check pass", zap.Error(err))
	}
}

// lastConfirmed is when j's resource was last confirmed: its own
// Checked (or, never checked, when it was last written) or the last
// pass's mark, whichever is later.
func (m *Manager) lastConfirmed(j *Job) time.Time {
	last := j.Checked
	if last.IsZero() {
		last = j.Updated
	}
	if mark := m.checkMark.Load(); mark != nil {
		t, other := mark.Others[j.ID]
		if !other {
			t = mark.Start
		}
		if t.After(last) {
			last = t
		}
	}
	return last
}

// checkable reports whether j holds a resource a check can ask about.
func checkable(j *Job) bool {
	return j.Status == StatusSuccess && j.Op == nil && j.Resource != nil
}

// checkDue reports whether j's resource was last confirmed longer than
// age ago (or never) and can be checked now.
func (m *Manager) checkDue(j *Job, age time.Duration) bool {
	if !m.checkAged(j, age) {
		return false
	}
	_, held := m.heldBack(j.ProviderID, j.ServiceID)
	return !held
}

// checkAged is checkDue without asking the catalogue whether the
// provider is held back: a consumer's read decides with it whether to
// start a check (checkOnRead) without waiting for the catalogue, which a
// broker reads after its start; the check itself asks.
//
// A confirmation more than age in the future is not believed: it was
// made while the clock ran ahead (a host resumed with a wrong clock, a
// step of NTP), and would keep the job from being checked for as long as
// the clock was ahead. Within age, it stands: the clocks of a cluster's
// instances differ by seconds.
func (m *Manager) checkAged(j *Job, age time.Duration) bool {
	if !checkable(j) {
		return false
	}
	d := m.now().Sub(m.lastConfirmed(j))
	return d >= age || d < -age
}

// checkJob checks one job's resource under its lock. It reports whether
// the provider was asked and whether the resource is gone.
func (m *Manager) checkJob(ctx context.Context, id string, age time.Duration) (checked, gone bool) {
	// Busy: whoever holds it works on the job.
	j, unlock := m.lockedFresh(ctx, id, func(j *Job) bool { return m.checkDue(j, age) })
	if j == nil {
		return false, false
	}
	defer unlock()
	fresh, gone, why := m.probeStatus(ctx, j)
	if gone {
		m.markGone(j, why)
		return true, true
	}
	if why == "" {
		if pendingSettled(j, fresh) {
			j.Resource = fresh
		}
		j.Checked = m.now()
		if err := m.save(ctx, j); err != nil {
			m.logger.Warn("recording a resource check", zap.String("job_id", j.ID), zap.Error(err))
		}
	}
	return true, false
}

// probe asks j's provider about j's resource. It reports gone with the
// provider's word, or not gone with "" when the resource is there and
// with the error when the provider could not tell.
func (m *Manager) probe(ctx context.Context, j *Job) (bool, string) {
	_, gone, why := m.probeStatus(ctx, j)
	return gone, why
}

// probeStatus is probe, and returns the provider's answer when it
// answered that the resource is there.
func (m *Manager) probeStatus(ctx context.Context, j *Job) (*contract.Resource, bool, string) {
	ad, ok := m.c().Adapter(j.ProviderID, j.Kind)
	if !ok {
		return nil, false, "provider " + j.ProviderID + " has no adapter configured"
	}
	cctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
	res, err := ad.Status(cctx, j.Resource)
	cancel()
	switch {
	case err != nil && contract.KindOf(err) == contract.KindNotFound:
		return nil, true, err.Error()
	case err != nil:
		return nil, false, err.Error()
	case res != nil && res.State == contract.StateGone:
		return nil, true, "the provider reports it gone"
	}
	return res, false, ""
}

// pendingSettled reports whether j's resource was recorded pending and
// fresh, the provider's answer of a check, says it no longer is. A
// successful job's resource is recorded pending when an update or an
// action went through but its result could not be read yet (an OCCI,
// CDMI or CIMI read that failed after the change was made; an OpenStack
// resize still running): the check is what records what it came to.
func pendingSettled(j *Job, fresh *contract.Resource) bool {
	return fresh != nil && j.Resource != nil && j.Resource.State == contract.StatePending && fresh.State != contract.StatePending
}

// markGone fails j, whose resource is gone at its provider (the caller
// holds the lock).
func (m *Manager) markGone(j *Job, why string) {
	prev := j.Status
	now := m.now()
	j.Status = StatusFailed
	if j.Resource != nil {
		j.Resource.State = contract.StateGone
	}
	j.Checked = now
	j.Expires = now.Add(m.c().RetainFailed)
	j.Reason = fmt.Sprintf("resource gone at %s: %s", j.ProviderID, why)
	m.queueEvent(j, EventDrift)
	m.saveBackground(j)
	m.logState(j, prev, "job resource gone")
}

// checkOnRead starts a background check of j when its last check is
// older than twice CheckInterval; the read does not wait for it. A job
// is checked so at most once per CheckInterval, also when its provider
// cannot answer (its last check then stays old).
func (m *Manager) checkOnRead(j *Job) {
	if !m.checkAged(j, 2*m.c().CheckInterval) {
		return
	}
	now := m.now()
	m.mu.Lock()
	if t, ok := m.checking[j.ID]; m.stopped || ok && (t.IsZero() || now.Sub(t) < m.c().CheckInterval) {
		m.mu.Unlock()
		return
	}
	m.checking[j.ID] = time.Time{} // running
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			m.checking[j.ID] = m.now()
			m.mu.Unlock()
		}()
		m.checkJob(m.base, j.ID, 2*m.c().CheckInterval)
	}()
}

// pruneChecking forgets the read-started checks that ended more than
// CheckInterval ago.
func (m *Manager) pruneChecking() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, t := range m.checking {
		if !t.IsZero() && now.Sub(t) >= m.c().CheckInterval {
			delete(m.checking, id)
		}
	}
}

// renewChecked is a lease renewal's check of j's resource (the caller
// holds the lock): it returns the answer when the resource is gone, nil
// to renew.
func (m *Manager) renewChecked(ctx context.Context, j *Job) *Result {
	gone, why := m.probe(ctx, j)
	if !gone {
		if why == "" {
			j.Checked = m.now()
		}
		return nil
	}
	m.markGone(j, why)
	return result(csbmsg.StatusCannotUpdateResource, j, "lease not renewed: %s", j.Reason)
}
