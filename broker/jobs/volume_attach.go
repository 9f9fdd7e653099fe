package jobs

// Attaching an existing volume to an existing machine, and detaching it:
// what a front-end that exposes machines and volumes (CIMI's
// MachineVolume) asks of the engine. The machine and the volume are two
// jobs of the same owner at the same provider; the provider's adapter
// does the attaching (contract.VolumeAttacher).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Actions recorded in Job.Actions for an attach and a detach.
const (
	ActionAttach = "attach"
	ActionDetach = "detach"
)

// ErrNoAttachment is returned for an attachment a machine does not have.
var ErrNoAttachment = errors.New("jobs: no such attachment")

// VolumeAttachment is a volume attached to a machine after both were
// created. The machine's job and the volume's job each keep a copy in
// Job.Attachments (a volume is attached to one machine at most).
type VolumeAttachment struct {
	// ID names the attachment among its machine's, never reused: the
	// machine job's revision that recorded it, so at least "2" ("1" is
	// the volume a machine was created with).
	ID string `json:"id"`
	// Machine and Volume are the two jobs' ids.
	Machine string `json:"machine"`
	Volume  string `json:"volume"`
	// Location is the device or mount point asked for ("" when the
	// provider chose).
	Location string `json:"location,omitempty"`
	// Native is the provider's reference of the attachment, which a
	// detach takes.
	Native  string    `json:"native,omitempty"`
	Created time.Time `json:"created"`
}

// attachable is the answer for a machine that cannot take an attach or
// detach now, nil when it can.
func attachable(j *Job) *Result {
	switch {
	case j.Status != StatusSuccess || j.Op != nil:
		return result(csbmsg.StatusCannotUpdateResource, j, "machine %s is %s%s; only a settled successful machine takes volumes", j.ID, j.Status, busy(j))
	case j.Request.IaaS == nil || j.Request.IaaS.Compute == nil || j.Resource == nil:
		return result(csbmsg.StatusCannotUpdateResource, j, "job %s holds no machine", j.ID)
	}
	return nil
}

// AttachVolume attaches owner's volume (the job volumeID, which holds
// storage and no machine) to owner's machine (the job machineID) at
// location, through the provider's adapter, and records the attachment
// on both jobs and the action on the machine's Job.Actions. It answers
// ErrNoJob (wrapped, naming which) for a machine or volume that does not
// exist or is someone else's; 409 for jobs that cannot take it (not
// settled, not at the same provider, the volume already attached) or a
// provider that refused; 420 when the provider's adapter cannot attach
// a volume to an existing machine (contract.VolumeAttacher). On success
// the Result's Job is the machine's, and the attachment is returned.
func (m *Manager) AttachVolume(ctx context.Context, owner, machineID, volumeID, location string) (*Result, *VolumeAttachment, error) {
	return m.AttachVolumeIf(ctx, owner, machineID, 0, volumeID, location)
}

// AttachVolumeIf is AttachVolume to the machine's job at revision rev
// (Job.Rev): a machine at another revision is ErrChanged (wrapped, naming
// the machine), and nothing is done. Rev 0 expects none. The volume's
// revision is not checked.
func (m *Manager) AttachVolumeIf(ctx context.Context, owner, machineID string, rev uint64, volumeID, location string) (*Result, *VolumeAttachment, error) {
	mj, unlockM, res, err := m.lockFor(ctx, owner, machineID, rev, csbmsg.StatusCannotUpdateResource, "machine %s is busy with another operation", attachable)
	if err != nil {
		return nil, nil, fmt.Errorf("machine %s: %w", machineID, err)
	}
	if res != nil {
		return res, nil, nil
	}
	defer unlockM()
	at, res := m.attacher(mj, ActionAttach)
	if res != nil {
		return res, nil, nil
	}
	// A machine is always locked before a volume (a volume job never
	// holds a machine), so two attaches cannot wait on each other.
	vj, unlockV, res, err := m.lockFor(ctx, owner, volumeID, 0, csbmsg.StatusCannotUpdateResource, "volume %s is busy with another operation", func(v *Job) *Result {
		switch {
		case v.Request.IaaS == nil || v.Request.IaaS.Storage == nil || v.Request.IaaS.Compute != nil:
			return result(csbmsg.StatusCannotUpdateResource, mj, "job %s is not a volume of its own", v.ID)
		case v.Status != StatusSuccess || v.Op != nil || v.Resource == nil:
			return result(csbmsg.StatusCannotUpdateResource, mj, "volume %s is %s%s; only a settled successful volume is attached", v.ID, v.Status, busy(v))
		case m.attachedNow(ctx, v) != nil:
			return result(csbmsg.StatusCannotUpdateResource, mj, "volume %s is attached to machine %s", v.ID, v.Attachments[0].Machine)
		case v.ProviderID != mj.ProviderID:
			return result(csbmsg.StatusCannotUpdateResource, mj, "volume %s is at provider %s and machine %s at %s: a volume attaches to a machine of its own provider", v.ID, v.ProviderID, mj.ID, mj.ProviderID)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("volume %s: %w", volumeID, err)
	}
	if res != nil {
		return res, nil, nil
	}
	defer unlockV()
	// From here a consumer that goes away does not cut the work short:
	// an attach the provider made must be recorded (or undone), else the
	// volume counts as free while the provider holds it attached.
	ctx = context.WithoutCancel(ctx)
	rec := ActionRecord{Action: ActionAttach, Started: m.now()}
	cctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
	native, err := at.AttachVolume(cctx, mj.Resource, vj.Resource, location)
	cancel()
	rec.Ended = m.now()
	if err != nil {
		rec.Outcome, rec.Reason = OutcomeFailed, fmt.Sprintf("attaching volume %s failed at %s: %v", vj.ID, mj.ProviderID, err)
		return m.recordAction(ctx, mj, rec, csbmsg.StatusCannotUpdateResource), nil, nil
	}
	a := VolumeAttachment{ID: strconv.FormatUint(mj.Rev+1, 10), Machine: mj.ID, Volume: vj.ID, Location: location, Native: native, Created: rec.Ended}
	vj.Attachments = []VolumeAttachment{a}
	if err := m.save(ctx, vj); err != nil {
		// The provider holds an attachment the broker could not record:
		// say so, so that a detach at the provider can be made by hand.
		m.logger.Error("recording a volume attachment", zap.String("job_id", vj.ID), zap.Error(err))
		return nil, nil, fmt.Errorf("recording the attachment of volume %s (provider's %s): %w", vj.ID, native, err)
	}
	mj.Attachments = append(mj.Attachments, a)
	rec.Outcome, rec.Reason = OutcomeSuccess, fmt.Sprintf("volume %s attached by %s", vj.ID, mj.ProviderID)
	r, err := m.recordActionErr(ctx, mj, rec, csbmsg.StatusOK)
	if err != nil {
		// A machine that does not list the attachment cannot detach it,
		// and its volume counts as free (attachedNow): undo the attach
		// at the provider rather than answer that it is done.
		return nil, nil, m.undoAttach(ctx, at, mj, vj, native, err)
	}
	return r, &a, nil
}

// undoAttach detaches, after the machine's record of an attach was
// refused (cause), the volume the provider attached (native), and frees
// the volume's record. It returns the error the attach answers.
func (m *Manager) undoAttach(ctx context.Context, at contract.VolumeAttacher, mj, vj *Job, native string, cause error) error {
	m.logger.Error("recording a volume attachment on its machine", zap.String("job_id", mj.ID), zap.String("volume_job_id", vj.ID), zap.Error(cause))
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.c().CallTimeout)
	err := at.DetachVolume(cctx, mj.Resource, native)
	cancel()
	if err != nil && contract.KindOf(err) != contract.KindNotFound {
		return fmt.Errorf("recording the attachment of volume %s on machine %s (provider's %s, still attached: detaching it failed: %v): %w", vj.ID, mj.ID, native, err, cause)
	}
	vj.Attachments = nil
	if err := m.save(context.WithoutCancel(ctx), vj); err != nil {
		// The volume's record names a machine that does not list the
		// attachment: it counts as free, as it is at the provider.
		m.logger.Warn("freeing a volume after an undone attach", zap.String("job_id", vj.ID), zap.Error(err))
	}
	return fmt.Errorf("recording the attachment of volume %s on machine %s: %w; the volume was detached again", vj.ID, mj.ID, cause)
}

// DetachVolume detaches owner's machine's attachment (its ID), through
// the provider's adapter, and removes it from both jobs. An attachment
// the provider no longer holds counts as detached. It answers ErrNoJob
// for a machine that does not exist or is someone else's,
// ErrNoAttachment for an attachment the machine does not have, 409 and
// 420 as AttachVolume does.
func (m *Manager) DetachVolume(ctx context.Context, owner, machineID, attachmentID string) (*Result, error) {
	return m.DetachVolumeIf(ctx, owner, machineID, 0, attachmentID)
}

// DetachVolumeIf is DetachVolume from the machine's job at revision rev
// (Job.Rev): a machine at another revision is ErrChanged, and nothing is
// done. Rev 0 expects none.
func (m *Manager) DetachVolumeIf(ctx context.Context, owner, machineID string, rev uint64, attachmentID string) (*Result, error) {
	mj, unlockM, res, err := m.lockFor(ctx, owner, machineID, rev, csbmsg.StatusCannotUpdateResource, "machine %s is busy with another operation", attachable)
	if res != nil || err != nil {
		return res, err
	}
	defer unlockM()
	i := slices.IndexFunc(mj.Attachments, func(a VolumeAttachment) bool { return a.ID == attachmentID })
	if i < 0 {
		return nil, ErrNoAttachment
	}
	a := mj.Attachments[i]
	at, res := m.attacher(mj, ActionDetach)
	if res != nil {
		return res, nil
	}
	// The volume's lock is taken before the provider is called (machine
	// first, then volume, as an attach does): a volume busy with another
	// operation is answered 409 with nothing done, not after a detach the
	// answer would deny and neither record would show.
	unlockV, err := m.lock(ctx, a.Volume, m.c().LockWait)
	if err != nil {
		return result(csbmsg.StatusCannotUpdateResource, mj, "volume %s is busy with another operation", a.Volume), nil
	}
	defer unlockV()
	// From here a consumer that goes away does not cut the work short: a
	// detach the provider made is recorded.
	ctx = context.WithoutCancel(ctx)
	rec := ActionRecord{Action: ActionDetach, Started: m.now()}
	cctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
	err = at.DetachVolume(cctx, mj.Resource, a.Native)
	cancel()
	rec.Ended = m.now()
	if err != nil && contract.KindOf(err) != contract.KindNotFound {
		rec.Outcome, rec.Reason = OutcomeFailed, fmt.Sprintf("detaching volume %s failed at %s: %v", a.Volume, mj.ProviderID, err)
		return m.recordAction(ctx, mj, rec, csbmsg.StatusCannotUpdateResource), nil
	}
	// The volume's copy goes first: a volume that says it is free while
	// its machine still lists it is detached again harmlessly (the
	// provider answers not found), the other way round it could not be
	// attached anywhere.
	vj, err := m.loadFresh(ctx, a.Volume)
	if err == nil && len(vj.Attachments) > 0 && vj.Attachments[0].Machine == mj.ID {
		vj.Attachments = nil
		err = m.save(ctx, vj)
	}
	if err != nil && !errors.Is(err, ErrNoJob) {
		return nil, fmt.Errorf("recording the detach of volume %s: %w", a.Volume, err)
	}
	mj.Attachments = slices.Delete(slices.Clone(mj.Attachments), i, i+1)
	rec.Outcome, rec.Reason = OutcomeSuccess, fmt.Sprintf("volume %s detached by %s", a.Volume, mj.ProviderID)
	return m.recordAction(ctx, mj, rec, csbmsg.StatusOK), nil
}

// AttachedTo returns the attachment of a volume's job to a machine that
// still holds it, or nil: an attachment whose machine ended (a lease
// reclaimed it, say) or failed (its resource vanished at the provider: a
// failed job holds nothing) no longer counts.
func (m *Manager) AttachedTo(ctx context.Context, volume *Job) *VolumeAttachment {
	return m.attachedNow(ctx, volume)
}

func (m *Manager) attachedNow(ctx context.Context, v *Job) *VolumeAttachment {
	if len(v.Attachments) == 0 {
		return nil
	}
	a := v.Attachments[0]
	mj, err := m.Inspect(ctx, a.Machine)
	switch {
	case errors.Is(err, ErrNoJob):
		return nil
	case err != nil:
		return &a // unknown: the safe answer is attached
	case mj.Status.Final() || mj.Status == StatusFailed || !slices.ContainsFunc(mj.Attachments, func(b VolumeAttachment) bool { return b.ID == a.ID && b.Volume == v.ID }):
		return nil
	}
	return &a
}

// attacher returns the machine's provider's contract.VolumeAttacher, or
// the answer when there is none to call.
func (m *Manager) attacher(j *Job, action string) (contract.VolumeAttacher, *Result) {
	if why, held := m.heldBack(j.ProviderID, j.ServiceID); held {
		return nil, result(csbmsg.StatusCannotUpdateResource, j, "cannot %s a volume on machine %s: %s and is not contacted until it is active again", action, j.ID, why)
	}
	ad, ok := m.c().Adapter(j.ProviderID, j.Kind)
	if !ok {
		return nil, result(csbmsg.StatusCannotUpdateResource, j, "cannot %s a volume on machine %s: provider %s has no adapter configured", action, j.ID, j.ProviderID)
	}
	at, ok := unwrapAs[contract.VolumeAttacher](ad)
	if !ok {
		return nil, result(csbmsg.StatusUnsupported, j, "provider %s cannot %s a volume on an existing machine: its adapter attaches volumes only when it creates the machine", j.ProviderID, action)
	}
	return at, nil
}

// recordAction appends rec to the machine's Job.Actions and saves it.
func (m *Manager) recordAction(ctx context.Context, j *Job, rec ActionRecord, st csbmsg.Status) *Result {
	r, err := m.recordActionErr(ctx, j, rec, st)
	if err != nil {
		m.logger.Error("recording job", zap.String("job_id", j.ID), zap.Error(err))
		m.logState(j, j.Status, "job action "+rec.Outcome)
		return result(st, j, "%s", j.Reason)
	}
	return r
}

// recordActionErr is recordAction, and returns the store's refusal
// (then nothing is logged and the Result is nil).
func (m *Manager) recordActionErr(ctx context.Context, j *Job, rec ActionRecord, st csbmsg.Status) (*Result, error) {
	j.Reason = rec.Reason
	j.Actions = append(j.Actions, rec)
	if n := len(j.Actions); n > MaxActionRecords {
		j.Actions = append([]ActionRecord(nil), j.Actions[n-MaxActionRecords:]...)
	}
	if err := m.save(ctx, j); err != nil {
		return nil, err
	}
	m.logState(j, j.Status, "job action "+rec.Outcome)
	return result(st, j, "%s", j.Reason), nil
}

// unwrapAs returns ad as a T, looking through wrappers that have an
// Unwrap method (the Caddy glue's metered adapters).
func unwrapAs[T any](ad contract.Adapter) (T, bool) {
	for range 4 {
		if a, ok := ad.(T); ok {
			return a, true
		}
		u, ok := ad.(interface{ Unwrap() contract.Adapter })
		if !ok {
			break
		}
		ad = u.Unwrap()
	}
	var zero T
	return zero, false
}
