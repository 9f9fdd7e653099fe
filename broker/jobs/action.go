package jobs

// Life cycle actions on a job's machine, its provider's live state of
// it, and front-end labels: what a front-end that exposes machines (CIMI)
// asks of the engine besides create, read, list and remove.

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// MaxActionRecords bounds Job.Actions: the oldest records are dropped.
const MaxActionRecords = 20

// ActionRecord is one life cycle action run on a job's resource.
type ActionRecord struct {
	// Action is the action's name (contract.ActionStart, ...).
	Action string `json:"action"`
	// Started and Ended bound the call to the provider.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Outcome is OutcomeSuccess or OutcomeFailed.
	Outcome string `json:"outcome"`
	// Reason is the provider's refusal or failure, if any.
	Reason string `json:"reason,omitempty"`
}

// actionOf maps an action name to the <compute><action> an adapter
// without contract.Actor runs through Update.
var actionOf = map[string]csbmsg.ComputeAction{
	contract.ActionStart:   csbmsg.ComputeStart,
	contract.ActionStop:    csbmsg.ComputeStop,
	contract.ActionRestart: csbmsg.ComputeRestart,
	contract.ActionSuspend: csbmsg.ComputeSuspend,
}

// Act runs a life cycle action (contract.ActionStart, ActionStop,
// ActionRestart, ActionSuspend) on owner's job id, at the job's provider
// through its adapter: contract.Actor's Act when the adapter has it, else
// Update with the matching <compute><action>. The job must be a settled
// successful IaaS job holding a machine. Each action is recorded in
// Job.Actions. It answers 409 when the job cannot take the action or the
// provider refused it, 420 for an unknown action, and ErrNoJob for a job
// that does not exist or is someone else's. The lease is not renewed.
func (m *Manager) Act(ctx context.Context, owner, id, action string) (*Result, error) {
	return m.ActIf(ctx, owner, id, 0, action)
}

// ActIf is Act on job id at revision rev (Job.Rev): a job at another
// revision is ErrChanged, and nothing is done. Rev 0 expects none.
func (m *Manager) ActIf(ctx context.Context, owner, id string, rev uint64, action string) (*Result, error) {
	ca, known := actionOf[action]
	j, unlock, res, err := m.lockFor(ctx, owner, id, rev, csbmsg.StatusCannotUpdateResource, "job %s is busy with another operation", func(j *Job) *Result {
		switch {
		case !known:
			return result(csbmsg.StatusUnsupported, j, "unknown action %q", action)
		case j.Status != StatusSuccess || j.Op != nil:
			return settledSuccess(csbmsg.StatusCannotUpdateResource, "takes actions")(j)
		case j.Request.IaaS == nil || j.Request.IaaS.Compute == nil || j.Resource == nil:
			return result(csbmsg.StatusCannotUpdateResource, j, "job %s holds no machine", j.ID)
		}
		return nil
	})
	if res != nil || err != nil {
		return res, err
	}
	defer unlock()
	if why, held := m.heldBack(j.ProviderID, j.ServiceID); held {
		return result(csbmsg.StatusCannotUpdateResource, j, "cannot %s job %s: %s and is not contacted until it is active again", action, j.ID, why), nil
	}
	ad, ok := m.c().Adapter(j.ProviderID, j.Kind)
	if !ok {
		return result(csbmsg.StatusCannotUpdateResource, j, "cannot %s job %s: provider %s has no adapter configured", action, j.ID, j.ProviderID), nil
	}
	rec := ActionRecord{Action: action, Started: m.now()}
	// A consumer that goes away does not cut the call short (as Update
	// and Remove): the provider may carry the action out all the same,
	// and the record must say what it answered, not "context canceled".
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.c().CallTimeout)
	var out *contract.Resource
	if actor, ok := actorOf(ad); ok {
		out, err = actor.Act(cctx, j.Resource, action)
	} else {
		want := csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Action: &ca}}}
		out, err = ad.Update(cctx, j.Resource, m.adapterRequest(j, j.ProviderID, j.Service, &want))
	}
	cancel()
	rec.Ended = m.now()
	rec.Outcome = OutcomeSuccess
	st := csbmsg.StatusOK
	if err != nil {
		rec.Outcome, rec.Reason = OutcomeFailed, err.Error()
		j.Reason = fmt.Sprintf("%s failed at %s: %v", action, j.ProviderID, err)
		st = csbmsg.StatusCannotUpdateResource
	} else {
		if out != nil {
			j.Resource = out
		}
		j.Reason = fmt.Sprintf("%s accepted by %s", action, j.ProviderID)
	}
	j.Actions = append(j.Actions, rec)
	if n := len(j.Actions); n > MaxActionRecords {
		j.Actions = append([]ActionRecord(nil), j.Actions[n-MaxActionRecords:]...)
	}
	m.saveBackground(j)
	m.logState(j, j.Status, "job action "+rec.Outcome)
	return result(st, j, "%s", j.Reason), nil
}

// MachineState returns owner's job id and, for a successful job holding a
// machine, the provider's live state of it in DSP0263's words: from
// contract.Actor's MachineState when the job's adapter has it, else
// derived from the adapter's Status. The state is "" when the job holds
// no machine or the provider could not be asked (the job's recorded state
// then stands). MachineState changes nothing.
func (m *Manager) MachineState(ctx context.Context, owner, id string) (*Job, string, error) {
	j, err := m.Get(ctx, owner, id)
	if err != nil || j.Status != StatusSuccess || j.Resource == nil {
		return j, "", err
	}
	if _, held := m.heldBack(j.ProviderID, j.ServiceID); held {
		return j, "", nil
	}
	ad, ok := m.c().Adapter(j.ProviderID, j.Kind)
	if !ok {
		return j, "", nil
	}
	cctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
	defer cancel()
	if actor, ok := actorOf(ad); ok {
		st, err := actor.MachineState(cctx, j.Resource)
		if contract.KindOf(err) == contract.KindNotFound {
			return j, contract.MachineError, nil
		}
		if err != nil {
			return j, "", nil
		}
		return j, st, nil
	}
	res, err := ad.Status(cctx, j.Resource)
	if err != nil || res == nil {
		return j, "", nil
	}
	return j, MachineStateOf(res), nil
}

// MachineStateOf derives a machine's DSP0263 state from an adapter's
// Resource: its life state and the granted compute status.
func MachineStateOf(res *contract.Resource) string {
	switch res.State {
	case contract.StatePending:
		return contract.MachineCreating
	case contract.StateFailed, contract.StateGone:
		return contract.MachineError
	}
	if g := res.Granted.IaaS; g != nil && g.Compute != nil && g.Compute.Status != nil {
		switch *g.Compute.Status {
		case csbmsg.ComputeInactive:
			return contract.MachineStopped
		case csbmsg.ComputeSuspended:
			return contract.MachineSuspend
		}
	}
	return contract.MachineStarted
}

// SetLabels merges labels into owner's job id's Job.Labels (an empty
// value deletes the key) and records the job; it does not contact the
// provider and does not renew the lease. It answers ErrNoJob for a job
// that does not exist or is someone else's, and 409 for a job that has
// ended (removed or expired) or is busy.
func (m *Manager) SetLabels(ctx context.Context, owner, id string, labels map[string]string) (*Result, error) {
	return m.SetLabelsIf(ctx, owner, id, 0, labels)
}

// SetLabelsIf is SetLabels on job id at revision rev (Job.Rev): a job at
// another revision is ErrChanged, and nothing is done. Rev 0 expects
// none.
func (m *Manager) SetLabelsIf(ctx context.Context, owner, id string, rev uint64, labels map[string]string) (*Result, error) {
	j, unlock, res, err := m.lockFor(ctx, owner, id, rev, csbmsg.StatusCannotUpdateResource, "job %s is busy with another operation", func(j *Job) *Result {
		if j.Status.Final() {
			return result(csbmsg.StatusCannotUpdateResource, j, "job %s is %s", j.ID, j.Status)
		}
		return nil
	})
	if res != nil || err != nil {
		return res, err
	}
	defer unlock()
	next := maps.Clone(j.Labels)
	if next == nil {
		next = map[string]string{}
	}
	for k, v := range labels {
		if v == "" {
			delete(next, k)
		} else {
			next[k] = v
		}
	}
	j.Labels = next
	if err := m.save(ctx, j); err != nil {
		return nil, err
	}
	return result(csbmsg.StatusOK, j, "labels updated"), nil
}

// actorOf returns ad as a contract.Actor, looking through wrappers that
// have an Unwrap method (the Caddy glue's metered adapters).
func actorOf(ad contract.Adapter) (contract.Actor, bool) {
	for range 4 {
		if a, ok := ad.(contract.Actor); ok {
			return a, true
		}
		u, ok := ad.(interface{ Unwrap() contract.Adapter })
		if !ok {
			return nil, false
		}
		ad = u.Unwrap()
	}
	return nil, false
}
