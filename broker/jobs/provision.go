package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// errShutdown marks work cut short by Stop; the job keeps its Op and is
// finished by the next process.
var errShutdown = errors.New("the broker is shutting down")

// provision runs the placement plan of a create (or copy) or a move. The
// caller's goroutine holds the job's lock. It resumes an attempt a crashed
// process left in progress.
func (m *Manager) provision(ctx context.Context, j *Job) *Result {
	if j.Op.Kind == OpMove && j.Op.Swapped {
		return m.finishMove(ctx, j)
	}
	if a := j.lastAttempt(); a != nil && a.Outcome == OutcomeInProgress {
		ok, retry := m.resumeAttempt(ctx, j)
		if ctx.Err() != nil {
			return m.interrupted(j)
		}
		if retry == resumeLater {
			return result(csbmsg.StatusOK, j, "accepted; %s", j.Reason)
		}
		if ok {
			return m.succeed(ctx, j)
		}
		if retry >= 0 {
			if m.attempt(ctx, j, retry, -1) {
				return m.succeed(ctx, j)
			}
			if ctx.Err() != nil {
				return m.interrupted(j)
			}
		}
	}
	for j.Op.Next < len(j.Plan) {
		if ctx.Err() != nil {
			return m.interrupted(j)
		}
		i := j.Op.Next
		j.Op.Next++
		if m.attempt(ctx, j, i, -1) {
			return m.succeed(ctx, j)
		}
		if ctx.Err() != nil {
			return m.interrupted(j)
		}
		if a := j.lastAttempt(); a != nil && a.ErrorKind == errKindStorage && j.Op.Kind == OpCreate {
			// The store refuses writes: no other candidate can be
			// recorded either.
			return m.unrecorded(j, errors.New(a.Reason))
		}
	}
	return m.fail(j)
}

// errKindStorage marks an attempt that never reached the adapter because
// its write-ahead record could not be stored.
const errKindStorage = "storage"

func (m *Manager) interrupted(j *Job) *Result {
	return result(csbmsg.StatusOK, j, "accepted; interrupted because the broker is shutting down, it will be finished when the broker restarts")
}

// attempt tries plan entry i. With at >= 0 it continues the recorded
// attempt at that index (after a crash) instead of starting one. It
// reports success; on failure it has removed any partial resource (or
// recorded it as an orphan for the reaper).
func (m *Manager) attempt(ctx context.Context, j *Job, i int, at int) bool {
	entry := j.Plan[i]
	ad, ok := m.c().Adapter(entry.ProviderID, j.Kind)
	var res *contract.Resource
	if at < 0 {
		j.Attempts = append(j.Attempts, Attempt{
			ProviderID: entry.ProviderID, ServiceID: entry.ServiceID, Purpose: j.Op.Kind,
			Started: m.now(), Outcome: OutcomeInProgress,
		})
		at = len(j.Attempts) - 1
		if !ok {
			a := &j.Attempts[at]
			a.Outcome, a.Ended, a.Cleanup = OutcomeFailed, m.now(), "nothing to remove"
			a.Reason = fmt.Sprintf("provider %s has no adapter configured", entry.ProviderID)
			m.saveBackground(j)
			m.logger.Warn("provisioning attempt failed", zap.String("job_id", j.ID), zap.String("provider_id", entry.ProviderID), zap.String("reason", a.Reason))
			return false
		}
		prev := j.Status
		if j.Status == StatusPending {
			j.Status = StatusProvisioning
			j.Reason = fmt.Sprintf("provisioning at %s (attempt %d)", entry.ProviderID, len(j.Attempts))
		}
		// The write-ahead record, unless the adapter creates nothing a
		// crash could leave behind (contract.Local): then a logged
		// create keeps the record for its settle (wal.go).
		if local, ok := unwrapAs[contract.Local](ad); ok && local.CreatesNothing() {
			j.deferWrite = true
		}
		if err := m.save(context.WithoutCancel(ctx), j); err != nil {
			// Without the write-ahead record the adapter must not be called.
			a := &j.Attempts[at]
			a.Outcome, a.Ended, a.Reason = OutcomeFailed, m.now(), "cannot record the attempt: "+err.Error()
			a.ErrorKind, a.Cleanup = errKindStorage, "nothing to remove"
			j.Status = prev
			return false
		}
		if prev != j.Status {
			m.logState(j, prev, "job provisioning", zap.String("provider_id", entry.ProviderID), zap.String("service_id", entry.ServiceID))
		}
	} else {
		res = j.Attempts[at].Resource
	}

	actx, cancel := context.WithTimeout(ctx, m.c().AttemptTimeout)
	defer cancel()
	req := m.adapterRequest(j, entry.ProviderID, &entry.Service, &j.Request)
	var err error
	if res == nil {
		res, err = ad.Provision(actx, req)
		if res != nil {
			j.Attempts[at].Resource = res
			j.Attempts[at].Partial = err != nil
			// The handle first: a crash must not lose it. A ready
			// resource's handle goes with the outcome, the next write,
			// with no call to anybody in between (a logged create keeps
			// the record for its settle, wal.go); one still being
			// built, or partly built, is written now: polls or a
			// cleanup follow.
			j.deferWrite = err == nil && res.State == contract.StateReady
			m.saveBackground(j)
		}
	} else {
		// Resuming: ask the provider where the resource stands.
		var st *contract.Resource
		st, err = ad.Status(actx, res)
		if err == nil && st != nil {
			res = st
			j.Attempts[at].Resource = res
		}
	}
	if ctx.Err() != nil {
		return false
	}
	if err == nil && res == nil {
		err = errors.New("the adapter returned no resource")
	}
	if err == nil && res.State == contract.StatePending {
		res, err = m.poll(actx, ad, j, at, res)
		if ctx.Err() != nil {
			return false
		}
	}
	if err == nil {
		switch res.State {
		case contract.StateFailed:
			err = errors.New("the provider reports the resource failed")
		case contract.StateGone:
			err = errors.New("the provider reports the resource gone")
		}
	}
	a := &j.Attempts[at]
	a.Ended = m.now()
	if err == nil {
		a.Outcome, a.Resource = OutcomeSuccess, res
		return true
	}
	a.Outcome = OutcomeFailed
	a.ErrorKind = string(contract.KindOf(err))
	if errors.Is(err, context.DeadlineExceeded) || contract.KindOf(err) == contract.KindTimeout || actx.Err() != nil {
		a.Outcome = OutcomeTimeout
		a.ErrorKind = string(contract.KindTimeout)
		a.Reason = fmt.Sprintf("no result within %s: %v", m.c().AttemptTimeout, err)
	} else {
		a.Reason = err.Error()
	}
	if a.Resource != nil && a.Resource.State != contract.StateGone {
		// Partial: the handle came with Provision's error, the create
		// may have been carried out (lost).
		a.Cleanup = m.cleanup(ctx, ad, j, entry.ProviderID, a.Resource, a.Partial)
	} else {
		a.Cleanup = "nothing to remove"
	}
	m.saveBackground(j)
	m.logger.Warn("provisioning attempt failed", zap.String("job_id", j.ID), zap.String("provider_id", entry.ProviderID),
		zap.String("outcome", a.Outcome), zap.String("reason", a.Reason), zap.String("cleanup", a.Cleanup))
	return false
}

// poll follows a resource the provider is still building until it is
// ready, failed, or the attempt's deadline passes.
func (m *Manager) poll(ctx context.Context, ad contract.Adapter, j *Job, at int, res *contract.Resource) (*contract.Resource, error) {
	t := time.NewTimer(m.c().PollInterval)
	defer t.Stop()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return res, fmt.Errorf("%w (last status error: %v)", ctx.Err(), lastErr)
			}
			return res, ctx.Err()
		case <-t.C:
		}
		st, err := ad.Status(ctx, res)
		switch {
		case err != nil && contract.KindOf(err) == contract.KindNotFound:
			res.State = contract.StateGone
			return res, err
		case err != nil:
			lastErr = err // transient: keep polling until the deadline
		case st != nil:
			changed := st.State != res.State
			res = st
			if changed {
				j.Attempts[at].Resource = res
				m.saveBackground(j)
			}
			if res.State != contract.StatePending {
				return res, nil
			}
		}
		t.Reset(m.c().PollInterval)
	}
}

// resumeLater is resumeAttempt's retry index for an attempt left in
// progress, for the next reaper pass to resume.
const resumeLater = -2

// maxFindFailures bounds the resumptions of an interrupted attempt whose
// provider cannot say what it holds for the job; after them the attempt
// is taken for one that left nothing, and a possible orphan is logged.
const maxFindFailures = 3

// resumeAttempt continues an attempt a crashed process left in progress.
// It reports success, or the plan index to retry (-1: go on with the
// plan; resumeLater: leave the attempt in progress for the next reaper
// pass).
func (m *Manager) resumeAttempt(ctx context.Context, j *Job) (ok bool, retry int) {
	at := len(j.Attempts) - 1
	a := &j.Attempts[at]
	pi := -1
	for i := range j.Plan {
		if j.Plan[i].ProviderID == a.ProviderID && j.Plan[i].ServiceID == a.ServiceID {
			pi = i
			break
		}
	}
	ad, hasAd := m.c().Adapter(a.ProviderID, j.Kind)
	// The handle a failed Provision returned (not one Find returns
	// below): the create it names may have been carried out unseen.
	lost := a.Resource != nil && a.Partial
	if pi < 0 || !hasAd {
		a.Outcome, a.Ended = OutcomeInterrupted, m.now()
		a.Reason = "the broker stopped during this attempt, and the provider is no longer configured"
		m.saveBackground(j)
		return false, -1
	}
	if a.Resource == nil {
		if f, can := ad.(contract.Finder); can {
			fctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
			res, err := f.Find(fctx, m.adapterRequest(j, a.ProviderID, &j.Plan[pi].Service, &j.Request))
			cancel()
			if err == nil && res != nil {
				a.Resource = res
				// The Finder contract: a resource the provider left only
				// partly built is returned failed. Remove it and retry.
				// After a recorded part was removed (Partial already),
				// whatever is left is removed too.
				a.Partial = a.Partial || res.State == contract.StateFailed
				m.saveBackground(j)
			} else if err != nil && m.askAgain(ctx, j, a, err) {
				m.saveBackground(j)
				return false, resumeLater
			}
		} else {
			m.logger.Warn("the adapter cannot find resources by job id; check the provider for a resource tagged with the job id",
				zap.String("job_id", j.ID), zap.String("provider_id", a.ProviderID))
		}
	}
	if a.Resource != nil && a.Partial {
		// Provision had failed (or was cut short) after creating part of
		// the resources: remove them and try again.
		cleanup := m.cleanup(ctx, ad, j, a.ProviderID, a.Resource, lost)
		if cleanup == "removed" || cleanup == cleanupRechecked {
			more, ferr := m.cleanupUnrecorded(ctx, ad, j, pi, a.ProviderID)
			if ferr != nil && m.askAgain(ctx, j, a, ferr) {
				// The recorded part is gone; what else the provider
				// holds is asked for (and removed) at the next pass.
				a.Resource = nil
				m.saveBackground(j)
				return false, resumeLater
			}
			if more != "removed" {
				cleanup = more
			}
		}
		a.Outcome, a.Ended = OutcomeInterrupted, m.now()
		a.Reason = "the broker stopped during this attempt, after the provider had created part of the resources"
		a.Cleanup = cleanup
		m.saveBackground(j)
		m.logger.Info("provisioning attempt interrupted", zap.String("job_id", j.ID), zap.String("provider_id", a.ProviderID), zap.String("cleanup", a.Cleanup))
		if at > 0 && j.Attempts[at-1].Outcome == OutcomeInterrupted && j.Attempts[at-1].ProviderID == a.ProviderID {
			return false, -1
		}
		return false, pi
	}
	if a.Resource == nil {
		a.Outcome, a.Ended = OutcomeInterrupted, m.now()
		a.Reason = "the broker stopped during this attempt; the provider holds nothing for the job"
		a.Cleanup = "nothing to remove"
		m.saveBackground(j)
		m.logger.Info("provisioning attempt interrupted", zap.String("job_id", j.ID), zap.String("provider_id", a.ProviderID))
		// Retry the same candidate once: the provider did not fail.
		if at > 0 && j.Attempts[at-1].Outcome == OutcomeInterrupted && j.Attempts[at-1].ProviderID == a.ProviderID {
			return false, -1
		}
		return false, pi
	}
	return m.attempt(ctx, j, pi, at), -1
}

// askAgain decides, for an interrupted attempt whose provider could not
// say what it holds for the job (its Find failed with err), whether the
// attempt waits for the next reaper pass rather than being retried
// blind, which could leave behind what the attempt created. A find cut
// short by the broker's own stop does not count; a provider that fails
// to answer maxFindFailures times is retried without knowing.
func (m *Manager) askAgain(ctx context.Context, j *Job, a *Attempt, err error) bool {
	if ctx.Err() != nil {
		// The broker is stopping: the find was cut short, not refused.
		// The next process asks again.
		return true
	}
	a.FindFailures++
	m.logger.Warn("finding an interrupted attempt's resource", zap.String("job_id", j.ID), zap.String("provider_id", a.ProviderID),
		zap.Int("find_failures", a.FindFailures), zap.Error(err))
	if a.FindFailures < maxFindFailures {
		j.Reason = fmt.Sprintf("provisioning at %s was interrupted; the provider could not say what it holds for the job (%v), asked again at the next reaper pass", a.ProviderID, err)
		return true
	}
	m.logger.Warn("retrying an interrupted attempt without knowing what the provider holds; check it for a resource tagged with the job id",
		zap.String("job_id", j.ID), zap.String("provider_id", a.ProviderID))
	return false
}

// cleanupUnrecorded removes, after an interrupted attempt's recorded
// part was removed, what the provider still holds tagged with the job:
// the parts the attempt created that its handle does not name (a create
// in flight when the broker stopped: the provider may have carried it
// out after the broker stopped listening). Without it, the retry that
// follows would leave them behind. It returns the attempt's cleanup
// text: "removed", or why something is left (an orphan the reaper
// retries, or a provider that cannot be asked: then also the Find's
// error).
func (m *Manager) cleanupUnrecorded(ctx context.Context, ad contract.Adapter, j *Job, pi int, provider string) (string, error) {
	f, can := ad.(contract.Finder)
	if !can {
		return "removed", nil
	}
	find := func() (*contract.Resource, error) {
		fctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
		defer cancel()
		return f.Find(fctx, m.adapterRequest(j, provider, &j.Plan[pi].Service, &j.Request))
	}
	// Each round removes one handle's worth; what a provider still lists
	// after a few becomes an orphan, which the reaper keeps removing.
	for round := 0; ; round++ {
		res, err := find()
		if err != nil {
			m.logger.Warn("finding what an interrupted attempt left", zap.String("job_id", j.ID), zap.String("provider_id", provider), zap.Error(err))
			return "removed the recorded part; could not ask the provider for more: " + err.Error(), err
		}
		if res == nil {
			return "removed", nil
		}
		if round == maxUnrecordedRounds {
			j.Orphans = append(j.Orphans, Orphan{ProviderID: provider, Resource: res, Since: m.now(), LastError: "still listed for the job after it was removed"})
			return "removed the recorded part; the provider still lists more for the job (an orphan the reaper retries)", nil
		}
		if c := m.cleanup(ctx, ad, j, provider, res, false); c != "removed" {
			return c, nil
		}
	}
}

// maxUnrecordedRounds bounds cleanupUnrecorded's Find/Remove rounds.
const maxUnrecordedRounds = 4

// cleanup removes a failed attempt's partial resource. When the provider
// refuses, the resource becomes an orphan the reaper keeps retrying. A
// lost create's handle (lost: Provision returned it with its error)
// becomes an orphan that the reaper removes again later (Orphan.Lost),
// even when the provider accepted its removal: the create may have been
// carried out without the provider listing it yet, and the contract's
// Remove succeeds when it finds nothing.
func (m *Manager) cleanup(ctx context.Context, ad contract.Adapter, j *Job, provider string, res *contract.Resource, lost bool) string {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.c().CallTimeout)
	defer cancel()
	if err := ad.Remove(cctx, res); err != nil {
		j.Orphans = append(j.Orphans, Orphan{ProviderID: provider, Resource: res, Since: m.now(), LastError: err.Error(), Lost: lost})
		return "failed: " + err.Error() + " (the reaper retries)"
	}
	if lost {
		o := Orphan{ProviderID: provider, Resource: res.Clone(), Since: m.now(), Lost: true}
		o.removedLost(m.now())
		j.Orphans = append(j.Orphans, o)
		res.State = contract.StateGone
		return cleanupRechecked
	}
	res.State = contract.StateGone
	return "removed"
}

// cleanupRechecked is the Cleanup of an attempt whose lost create's
// handle was removed and is removed again later (Orphan.Lost).
const cleanupRechecked = "removed; the create's answer was lost and the provider may list what it made only later, so the reaper removes it again (an orphan it rechecks)"

// lostRechecks are the delays after which the reaper removes a lost
// create's handle (Orphan.Lost) again, each counted from the previous
// Remove that succeeded (at the first reaper pass after it: ReapInterval,
// default 30 s): about 1, 6 and 36 minutes after the attempt's cleanup,
// four Removes in all. The first catches the common case (a listing
// that is eventually consistent mostly catches up within seconds) while
// the resource has cost little; the second covers the "up to a few
// minutes" EC2 documents (the aws adapter's ec2Propagation is 5
// minutes); the last, a Nova
// server still queued in the scheduler or a CIMI or OCCI provider's job
// still running under load. A create not carried out within the half
// hour after the broker gave up on it is taken for one never carried
// out. Each recheck is one Remove call, and lost answers are rare: the
// bound costs little, and a longer one would keep the job's record (a
// failed job is not purged while it has orphans) for no likely gain.
var lostRechecks = [...]time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute}

// removedLost records that a Remove of lost handle o succeeded at now: it
// schedules the next recheck (Due), or reports false after the last.
func (o *Orphan) removedLost(now time.Time) bool {
	o.Removals++
	o.LastError = ""
	if o.Removals > len(lostRechecks) {
		return false
	}
	o.Due = now.Add(lostRechecks[o.Removals-1])
	return true
}

// lostDue reports whether the reaper removes job j's lost handle o at
// now: once its delay has passed, and only while j holds nothing at o's
// provider. The handle names the job at that provider, not one resource
// (an EC2 client token; a Nova server's name and csb-job; a title), so
// its Remove would remove the job's own resource there too: one a later
// attempt on the same provider made (another service of it, or the retry
// of an interrupted attempt), or a move back to it. Until the job's
// resource there is removed, the recheck waits.
func lostDue(j *Job, o *Orphan, now time.Time) bool {
	if !o.Due.IsZero() && now.Before(o.Due) {
		return false
	}
	return j.ProviderID != o.ProviderID || j.Resource == nil || j.Resource.State == contract.StateGone
}

// succeed records a successful provisioning.
func (m *Manager) succeed(ctx context.Context, j *Job) *Result {
	a := j.lastAttempt()
	var entry *PlanEntry
	for i := range j.Plan {
		if j.Plan[i].ProviderID == a.ProviderID && j.Plan[i].ServiceID == a.ServiceID {
			entry = &j.Plan[i]
		}
	}
	// A policy with state (round_robin, weighted) moved it by the
	// candidate ranked first; when that one failed, by the one that took
	// the job instead, or the one after a failing provider gets a
	// double share.
	if j.placed != nil {
		j.placed(entry.ProviderID)
		j.placed = nil
	}
	prev := j.Status
	if j.Op.Kind == OpMove {
		j.Op.Swapped = true
		// The original placement's, for an undo (finishMove): the
		// fields below become the new placement's.
		j.Op.OldEncryption, j.Op.OldIgnored = j.Encryption, j.Ignored
	}
	svc := entry.Service
	j.ProviderID, j.ServiceID, j.Service, j.Encryption = entry.ProviderID, entry.ServiceID, &svc, entry.Encryption
	j.Resource = a.Resource
	j.Ignored = entry.Unhonoured
	if j.Op.Kind == OpMove {
		m.saveBackground(j)
		return m.finishMove(ctx, j)
	}
	j.Status = StatusSuccess
	j.Op = nil
	j.Expires = m.now().Add(time.Duration(j.LeaseSeconds) * time.Second)
	j.Reason = fmt.Sprintf("provisioned at %s (service %s, attempt %d): %s", j.ProviderID, j.ServiceID, len(j.Attempts), j.Decision)
	if len(j.Ignored) > 0 {
		j.Reason += "; ignored fields its adapter does not honour: " + contract.FieldList(j.Ignored)
	}
	// A logged create's outcome goes straight to the job's file when it
	// is settled, before the answer (wal.go).
	j.deferWrite = true
	m.saveBackground(j)
	m.logState(j, prev, "job succeeded", zap.String("provider_id", j.ProviderID), zap.String("service_id", j.ServiceID), zap.Int("attempts", len(j.Attempts)))
	if len(j.Ignored) > 0 {
		if _, told := m.ignoredWarned.LoadOrStore(j.Owner, true); !told {
			m.logger.Warn("request fields ignored: the provider's adapter does not honour them (unhonoured_fields ignore); logged once per consumer",
				zap.String("owner", j.Owner), zap.String("job_id", j.ID), zap.String("provider_id", j.ProviderID), zap.Strings("ignored_fields", j.Ignored))
		}
	}
	return result(csbmsg.StatusOK, j, "%s", j.Reason)
}

// fail records that every candidate failed.
func (m *Manager) fail(j *Job) *Result {
	var parts []string
	for _, a := range j.Attempts {
		if a.Purpose == j.Op.Kind && a.Outcome != OutcomeSuccess {
			parts = append(parts, fmt.Sprintf("%s: %s (%s)", a.ProviderID, a.Outcome, a.Reason))
		}
	}
	why := strings.Join(parts, "; ")
	if j.Op.Kind == OpMove {
		j.Op.restoreLease(j)
		j.Op = nil
		j.Reason = "move failed, the job stays at " + j.ProviderID + ": " + why
		m.saveBackground(j)
		m.logState(j, j.Status, "job move failed")
		return result(csbmsg.StatusUnableToFindResource, j, "%s", j.Reason)
	}
	if r := m.refusedUp(j, why); r != nil {
		return r
	}
	prev := j.Status
	op := j.Op
	j.Status = StatusFailed
	j.Op = nil
	j.Expires = m.now().Add(m.c().RetainFailed)
	j.Reason = "no provider could fulfil the request: " + why
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.base), 30*time.Second)
	defer cancel()
	if err := m.save(ctx, j); err != nil {
		// The store still holds the job with its create operation, which
		// the reaper would resume: "failed" must not be the answer.
		j.Status, j.Op = prev, op
		return m.unrecorded(j, err)
	}
	m.logState(j, prev, "job failed")
	return result(csbmsg.StatusUnableToFindResource, j, "%s", j.Reason)
}

// refusedUp answers a create that every adapter of its plan refused
// before calling its provider (error kind unsupported: the adapter cannot
// express an element of the request, or a policy refuses it) with 408
// and the adapters' reasons, and drops the job: nothing was provisioned,
// and a failed job would only say what the answer says. (408, the
// draft's "unable to find resource", rather than 420: the request is
// well-formed and another provider might express it.) A job already answered as pending, or one
// with anything left at a provider, is failed as usual. It returns nil
// when the job is to fail as usual.
func (m *Manager) refusedUp(j *Job, why string) *Result {
	if j.Op.Kind != OpCreate || len(j.Orphans) > 0 {
		return nil
	}
	n := 0
	for _, a := range j.Attempts {
		if a.Purpose != j.Op.Kind {
			continue
		}
		if a.ErrorKind != string(contract.KindUnsupported) || (a.Resource != nil && a.Resource.State != contract.StateGone) {
			return nil
		}
		n++
	}
	if n == 0 || !j.gate.tryDrop() {
		return nil
	}
	if err := m.dropRecord(j); err != nil {
		return nil
	}
	m.logger.Info("job dropped: every adapter refused the request before calling its provider", zap.String("job_id", j.ID), zap.String("owner", j.Owner), zap.String("reason", why))
	return result(csbmsg.StatusUnableToFindResource, nil, "no provider could fulfil the request: refused before any provider was called, nothing provisioned, no job kept: %s", why)
}

// finishMove removes a move's original resource; when that fails it
// removes the new one again and restores the original placement.
func (m *Manager) finishMove(ctx context.Context, j *Job) *Result {
	op := j.Op
	oldAd, ok := m.c().Adapter(op.OldProvider, j.Kind)
	var err error
	if !ok {
		err = fmt.Errorf("provider %s has no adapter configured", op.OldProvider)
	} else if op.OldResource != nil {
		cctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
		err = oldAd.Remove(cctx, op.OldResource)
		cancel()
	}
	if ctx.Err() != nil {
		return m.interrupted(j)
	}
	if err == nil {
		from := op.OldProvider
		j.Op = nil
		j.Expires = m.now().Add(time.Duration(j.LeaseSeconds) * time.Second)
		j.Reason = fmt.Sprintf("moved from %s to %s (service %s): %s", from, j.ProviderID, j.ServiceID, j.Decision)
		m.saveBackground(j)
		m.logState(j, j.Status, "job moved", zap.String("provider_id", j.ProviderID), zap.String("from_provider_id", from))
		return result(csbmsg.StatusOK, j, "%s", j.Reason)
	}
	// Undo: remove the new resource, keep the original.
	newAd, _ := m.c().Adapter(j.ProviderID, j.Kind)
	undo := "removed"
	if newAd != nil && j.Resource != nil {
		undo = m.cleanup(ctx, newAd, j, j.ProviderID, j.Resource, false)
	}
	j.ProviderID, j.Service, j.Resource = op.OldProvider, op.OldService, op.OldResource
	j.Encryption, j.Ignored = op.OldEncryption, op.OldIgnored
	op.restoreLease(j)
	if j.Service != nil {
		j.ServiceID = j.Service.Service.ID
	}
	j.Op = nil
	j.Reason = fmt.Sprintf("move undone: the original at %s could not be removed (%v); the new resource: %s", j.ProviderID, err, undo)
	m.saveBackground(j)
	m.logState(j, j.Status, "job move undone", zap.Error(err))
	return result(csbmsg.StatusCannotRemoveResource, j, "%s", j.Reason)
}

// restoreLease gives job j, staying where it was after move op failed or
// was undone, its lease before the move: the lease the move asked for
// was granted with the move only. Its lease's end was never changed.
func (op *Op) restoreLease(j *Job) {
	if op.OldLeaseSeconds > 0 {
		j.LeaseSeconds = op.OldLeaseSeconds
	}
}
