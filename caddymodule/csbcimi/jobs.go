package csbcimi

// CIMI Jobs: every asynchronous operation on a machine, derived from the
// broker job's record. A machine's jobs are
//
//	<job-id>.create            the create (its nestedJobs are the attempts)
//	<job-id>.attempt-<n>       one provisioning attempt at one provider
//	<job-id>.action-<stamp>    a start, stop, restart or suspend, or a
//	                           volume attached (add) or detached (delete)
//	<job-id>.delete            the consumer's delete
//	<job-id>.reclaim           the broker's delete when the lease ended
//
// so they are as durable as the job and list with the owner's jobs.

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

const (
	jobCreate  = ".create"
	jobAttempt = ".attempt-"
	jobAction  = ".action-"
	jobDelete  = ".delete"
	jobReclaim = ".reclaim"
)

// CIMI Job states.
const (
	jobQueued  = "QUEUED"
	jobRunning = "RUNNING"
	jobFailed  = "FAILED"
	jobSuccess = "SUCCESS"
)

// jobsOf renders the CIMI Jobs of one broker job, the create first.
// live is the provider's state of the machine when the caller read it
// ("" when not): while it is transitional (STOPPING, ...), the latest
// action's Job is RUNNING.
func (c *call) jobsOf(j *jobs.Job, live string) []obj {
	machine := ref{Href: c.base + "machines/" + j.ID}
	if !isMachine(j) {
		machine = ref{Href: c.base + "volumes/" + j.ID}
	}
	id := func(suffix string) string { return c.base + "jobs/" + j.ID + suffix }
	mk := func(suffix, act, state, msg string, code int, at string) obj {
		o := obj{
			"resourceURI":        NS + "/Job",
			"id":                 id(suffix),
			"created":            at,
			"state":              state,
			"action":             act,
			"targetResource":     machine,
			"returnCode":         code,
			"timeOfStatusChange": at,
			"initiator":          j.Owner,
		}
		if msg != "" {
			o["statusMessage"] = msg
		}
		switch state {
		case jobSuccess, jobFailed:
			o["progress"] = 100
		default:
			o["progress"] = 0
		}
		return o
	}
	// The create.
	state, code := jobSuccess, 0
	switch {
	case j.Status == jobs.StatusPending:
		state = jobQueued
	case j.Status == jobs.StatusProvisioning:
		state = jobRunning
	case j.Status == jobs.StatusFailed && j.ProviderID == "":
		state, code = jobFailed, http.StatusConflict
	}
	create := mk(jobCreate, "add", state, j.Decision, code, stamp(j.Created))
	if state == jobSuccess || state == jobFailed {
		create["timeOfStatusChange"] = stamp(j.Updated)
	}
	// affectedResources (DSP0263's Job) are the resources an operation
	// changes besides its targetResource, where the broker's record says
	// which: the volume a machine is created with (and its MachineVolume)
	// and deleted with, and the volume an attach or detach moves (see
	// attachedBy). The target stays the machine for all of a machine's
	// Jobs, so it is not repeated here.
	ownVolume := isMachine(j) && isVolume(j)
	if ownVolume && state != jobFailed {
		create["affectedResources"] = []ref{{Href: c.base + "volumes/" + j.ID}, {Href: c.base + "machines/" + j.ID + "/volumes/1"}}
	}
	out := []obj{create}
	var nested []ref
	for i, a := range j.Attempts {
		if a.Purpose != jobs.OpCreate {
			continue
		}
		st := map[string]string{jobs.OutcomeInProgress: jobRunning, jobs.OutcomeSuccess: jobSuccess}[a.Outcome]
		code := 0
		if st == "" {
			st, code = jobFailed, http.StatusConflict
		}
		msg := a.ProviderID + " (" + a.ServiceID + "): " + a.Outcome
		if a.Reason != "" {
			msg += ": " + a.Reason
		}
		o := mk(jobAttempt+strconv.Itoa(i+1), "add", st, msg, code, stamp(a.Started))
		if !a.Ended.IsZero() {
			o["timeOfStatusChange"] = stamp(a.Ended)
		}
		o["parentJob"] = ref{Href: id(jobCreate)}
		o["properties"] = props{PropProvider: a.ProviderID, PropService: a.ServiceID}
		nested = append(nested, ref{Href: o["id"].(string)})
		out = append(out, o)
	}
	if len(nested) > 0 {
		create["nestedJobs"] = nested
	}
	for i, a := range j.Actions {
		st, code := jobSuccess, 0
		if a.Outcome != jobs.OutcomeSuccess {
			st, code = jobFailed, http.StatusConflict
		}
		act := ActionNS + a.Action
		switch a.Action {
		case jobs.ActionAttach:
			act = "add" // on the machine's volumes collection
		case jobs.ActionDetach:
			act = "delete" // of a MachineVolume
		}
		o := mk(actionSuffix(a), act, st, a.Reason, code, stamp(a.Started))
		o["timeOfStatusChange"] = stamp(a.Ended)
		if affected := c.attachedBy(j, a); len(affected) > 0 {
			o["affectedResources"] = affected
		}
		if st == jobSuccess && i == len(j.Actions)-1 && act == ActionNS+a.Action && strings.HasSuffix(live, "ING") && live != contract.MachineCreating {
			o["state"], o["progress"] = jobRunning, 50
			o["statusMessage"] = "the machine is " + live
		}
		out = append(out, o)
	}
	var end obj
	switch {
	case j.Status == jobs.StatusRemoved:
		end = mk(jobDelete, "delete", jobSuccess, j.Reason, 0, stamp(j.Updated))
	case j.Status == jobs.StatusExpired:
		end = mk(jobReclaim, "delete", jobSuccess, j.Reason, 0, stamp(j.Updated))
		end["initiator"] = "csb-lease"
	case j.Op != nil && j.Op.Kind == jobs.OpRemove:
		end = mk(jobDelete, "delete", jobRunning, j.Reason, 0, stamp(j.Op.Started))
	case j.Op != nil && j.Op.Kind == jobs.OpReap:
		end = mk(jobReclaim, "delete", jobRunning, j.Reason, 0, stamp(j.Op.Started))
		end["initiator"] = "csb-lease"
	}
	if end != nil {
		if ownVolume {
			// The machine's own volume goes with it.
			end["affectedResources"] = []ref{{Href: c.base + "volumes/" + j.ID}}
		}
		out = append(out, end)
	}
	return out
}

// attachedBy returns the resources a successful attach or detach action
// record a of machine j moved: the volume and, while the machine still
// lists it, the MachineVolume an attach made. The engine's attachment
// keeps the volume while it stands (jobs.VolumeAttachment, made at the
// record's end time); once detached, the record's reason is all that
// names the volume ("volume <id> attached by <provider>", "volume <id>
// detached by <provider>": jobs.Manager.AttachVolume, DetachVolume),
// since jobs.ActionRecord has no field for it.
func (c *call) attachedBy(j *jobs.Job, a jobs.ActionRecord) []ref {
	if a.Outcome != jobs.OutcomeSuccess || a.Action != jobs.ActionAttach && a.Action != jobs.ActionDetach {
		return nil
	}
	if a.Action == jobs.ActionAttach {
		for _, at := range j.Attachments {
			if at.Created.Equal(a.Ended) {
				return []ref{{Href: c.base + "volumes/" + at.Volume}, {Href: c.base + "machines/" + j.ID + "/volumes/" + at.ID}}
			}
		}
	}
	f := strings.Fields(a.Reason)
	verb := map[string]string{jobs.ActionAttach: "attached", jobs.ActionDetach: "detached"}[a.Action]
	if len(f) < 3 || f[0] != "volume" || f[2] != verb || !jobID(f[1]) {
		return nil
	}
	return []ref{{Href: c.base + "volumes/" + f[1]}}
}

// jobID reports whether s can be a broker job id (letters, digits, - and
// _), so that a reason's word is taken for one only when it is one.
func jobID(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// actionSuffix is the suffix of the CIMI Job of action record a.
func actionSuffix(a jobs.ActionRecord) string {
	return jobAction + strconv.FormatInt(a.Started.UnixNano(), 36)
}

// writeActionJob answers 202 with the CIMI Job of the action the engine
// has just run on machine j (an Act's, AttachVolume's or DetachVolume's
// result: the engine appends the action's record to j.Actions under the
// job's lock, so the last record is this action's), as the broker's
// records hold it; with live, the provider's state of the machine is
// read too, for an action's RUNNING state.
//
// The Job is found by this record's own id, not by its action's name: a
// store that refused the record's write leaves the engine's answer OK
// (the provider did act; jobs.Manager.Act and DetachVolume log the failed
// write and answer the outcome), and the records then hold only the
// earlier actions, among which the latest of the same name would be
// answered as this one's Job: a Job that says another action's outcome,
// time and state. An action whose record is not among the broker's is
// answered 500, saying so: the provider acted, and no Job of it can be
// read.
func (c *call) writeActionJob(j *jobs.Job, live bool) error {
	if j == nil || len(j.Actions) == 0 {
		return errorf(http.StatusInternalServerError, "the broker's engine answered the action without its record")
	}
	rec := j.Actions[len(j.Actions)-1]
	want := c.base + "jobs/" + j.ID + actionSuffix(rec)
	var fresh *jobs.Job
	var state string
	var err error
	if live {
		fresh, state, err = c.m.MachineState(c.ctx, c.owner, j.ID)
	} else {
		fresh, err = c.m.Get(c.ctx, c.owner, j.ID)
	}
	if err != nil {
		return errorf(http.StatusInternalServerError, "the %s of machine %s ran at its provider, but the broker could not read its record back: %v", rec.Action, j.ID, err)
	}
	for _, o := range c.jobsOf(fresh, state) {
		if o["id"] == want {
			c.w.Header().Set(JobHeader, want)
			return write(c.w, c.f, http.StatusAccepted, o)
		}
	}
	return errorf(http.StatusInternalServerError, "the %s of machine %s ran at its provider, but the broker could not record it (see its log), so it has no Job: read the machine for its state", rec.Action, j.ID)
}

func (c *call) getJob(cid string) error {
	q, err := parseQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	id, _, ok := strings.Cut(cid, ".")
	if !ok {
		return errorf(http.StatusNotFound, "no job %q", cid)
	}
	c.setJob(id)
	var j *jobs.Job
	live := ""
	if strings.Contains(cid, jobAction) {
		j, live, err = c.m.MachineState(c.ctx, c.owner, id)
	} else {
		j, err = c.m.Get(c.ctx, c.owner, id)
	}
	if err != nil || !isMachine(j) && !isVolume(j) {
		return errorf(http.StatusNotFound, "no job %q", cid)
	}
	want := c.base + "jobs/" + cid
	for _, o := range c.jobsOf(j, live) {
		if o["id"] == want {
			if expands(q, "targetResource") && !j.Status.Final() && isMachine(j) {
				// Inlined as a GET of it answers: with the provider's
				// state, not the record's (after an action, the
				// adapter's answer to it, a resource still pending).
				if live == "" {
					if fresh, st, err := c.m.MachineState(c.ctx, c.owner, id); err == nil {
						j, live = fresh, st
					}
				}
				o["targetResource"] = c.machineObj(j, live)
			}
			return c.serve(o, q.project(o))
		}
	}
	return errorf(http.StatusNotFound, "no job %q", cid)
}

// expands reports whether $expand names attr (or *).
func expands(q *query, attr string) bool {
	for _, e := range q.expand {
		if e == attr || e == "*" {
			return true
		}
	}
	return false
}

// writeRaw writes a value that is not a CIMI resource (placement's
// explanation): as is in JSON, as a generic element tree in XML.
func writeRaw(w http.ResponseWriter, f format, v any) error {
	if f == formatJSON {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", f.mediaType())
		w.WriteHeader(http.StatusOK)
		_, err = w.Write(append(data, '\n'))
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	o := toObj(m)
	o["resourceURI"] = NS + "/PlacementExplanation"
	return write(w, f, http.StatusOK, o)
}

func toObj(m map[string]any) obj {
	o := obj{}
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			o[k] = toObj(v)
		case []any:
			var objs []obj
			var strs []string
			for _, e := range v {
				if mm, ok := e.(map[string]any); ok {
					objs = append(objs, toObj(mm))
				} else {
					strs = append(strs, jsonScalar(e))
				}
			}
			if objs != nil {
				o[k] = objs
			} else {
				o[k] = strs
			}
		case nil:
		default:
			o[k] = jsonScalar(v)
		}
	}
	return o
}

func jsonScalar(v any) string {
	data, _ := json.Marshal(v)
	return strings.Trim(string(data), `"`)
}
