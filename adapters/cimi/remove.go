package cimi

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Remove detaches the volume, then deletes the machine, the volume and the
// network. What is already gone (404) counts as removed. When a create
// answer was lost (the Resource has the job id but not the href), the
// collections are searched for resources tagged with the job id.
func (a *Adapter) Remove(ctx context.Context, res *contract.Resource) error {
	const op = "remove"
	for _, p := range []struct{ what, key string }{
		{"machine volume", keyMachineVolume}, {"machine", keyMachine}, {"volume", keyVolume}, {"network", keyNetwork},
	} {
		if err := a.delete(ctx, op+": delete "+p.what, res.Native[p.key]); err != nil {
			return err
		}
	}
	if job := res.Native[keyJobID]; job != "" && (res.Native[keyMachine] == "" || res.Native[keyVolume] == "" || res.Native[keyNetwork] == "") {
		return a.removeByJob(ctx, job, res)
	}
	return nil
}

// delete deletes href; what is already gone counts as deleted.
func (a *Adapter) delete(ctx context.Context, op, href string) error {
	if href == "" {
		return nil
	}
	_, err := a.call(ctx, op, http.MethodDelete, href, nil, nil)
	if contract.KindOf(err) == contract.KindNotFound {
		return nil
	}
	return err
}

// removeByJob deletes the resources tagged with the job id (property
// csb_job) in the collections whose href the Resource does not hold: the
// reconciliation after a create whose answer never arrived.
func (a *Adapter) removeByJob(ctx context.Context, jobID string, res *contract.Resource) error {
	const op = "remove: reconcile by job"
	missing := func(key string) bool { return res.Native[key] == "" }
	// Gather first, then delete: a delete while the collections are read
	// page by page would shift the members after it, and the next page
	// ($first) would skip one.
	var found []string
	err := a.tagged(ctx, op, jobID, missing, func(_, href string) error {
		found = append(found, href)
		return nil
	})
	if err != nil {
		return err
	}
	for _, href := range found {
		if err := a.delete(ctx, op, href); err != nil {
			return err
		}
	}
	return nil
}

// Find gathers what the job created from the csb_job property every
// create sets: its machine (and the MachineVolume attaching the job's
// volume), volume and network. It is how the broker reconciles a crash
// between Provision's creates and its recording of their answers. A job
// with fewer parts than req asks for is reported failed, so the broker
// removes it rather than hand it to the consumer.
func (a *Adapter) Find(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	const op = "find"
	res := &contract.Resource{State: contract.StatePending, Native: map[string]string{keyJobID: req.JobID}, Endpoint: a.cfg.Endpoint}
	all := func(string) bool { return true }
	err := a.tagged(ctx, op, req.JobID, all, func(key, href string) error {
		if res.Native[key] == "" {
			res.Native[key] = href
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(res.Native) == 1 {
		return nil, nil
	}
	if res.Native[keyMachine] != "" && res.Native[keyVolume] != "" {
		if err := a.findAttachment(ctx, op, res); err != nil {
			return nil, err
		}
	}
	if want := req.Want.IaaS; want == nil ||
		want.Compute != nil && res.Native[keyMachine] == "" ||
		want.Storage != nil && res.Native[keyVolume] == "" ||
		want.Network != nil && res.Native[keyNetwork] == "" ||
		want.Compute != nil && want.Storage != nil && res.Native[keyMachineVolume] == "" {
		model.Incomplete(res)
	}
	res.URI = cmp.Or(res.Native[keyMachine], res.Native[keyVolume], res.Native[keyNetwork])
	return model.ReadBack(ctx, a.Status, res)
}

// findAttachment records the MachineVolume that attaches the job's volume
// to its machine, if Provision got that far.
func (a *Adapter) findAttachment(ctx context.Context, op string, res *contract.Resource) error {
	coll, err := a.machineVolumes(ctx, op, res.Native[keyMachine], nil)
	if err != nil {
		return err
	}
	return a.each(ctx, op+": machine volumes", &Ref{Href: coll}, func(raw json.RawMessage) error {
		var mv MachineVolume
		if res.Native[keyMachineVolume] == "" && json.Unmarshal(raw, &mv) == nil && mv.ID != "" && a.resolve(mv.Volume.Href) == res.Native[keyVolume] {
			res.Native[keyMachineVolume] = a.resolve(mv.ID)
			res.Native[keyLocation] = mv.InitialLocation
		}
		return nil
	})
}

// tagged calls fn with the Native key and the href of every machine,
// volume and network whose csb_job property is jobID, searching the
// collections whose key in is true for, every page of them (each).
func (a *Adapter) tagged(ctx context.Context, op, jobID string, in func(key string) bool, fn func(key, href string) error) error {
	cep, err := a.entryPoint(ctx, op)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		key string
		ref *Ref
	}{{keyMachine, cep.Machines}, {keyVolume, cep.Volumes}, {keyNetwork, cep.Networks}} {
		if c.ref == nil || !in(c.key) {
			continue
		}
		err := a.each(ctx, op, c.ref, func(raw json.RawMessage) error {
			var it struct {
				ID         string            `json:"id"`
				Properties map[string]string `json:"properties"`
			}
			if json.Unmarshal(raw, &it) != nil || it.Properties[keyJobID] != jobID || it.ID == "" {
				return nil
			}
			return fn(c.key, a.resolve(it.ID))
		})
		if err != nil {
			return err
		}
	}
	return nil
}
