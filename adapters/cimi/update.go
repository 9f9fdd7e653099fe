package cimi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Update resizes (Machine edit of cpu/memory, Volume edit of capacity) and
// runs the requested compute and network actions.
func (a *Adapter) Update(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	const op = "update"
	want := req.Want.IaaS
	if want == nil {
		return nil, unsupported(op, "the cimi adapter updates IaaS only")
	}
	if want.Compute != nil && res.Native[keyMachine] == "" ||
		want.Storage != nil && res.Native[keyVolume] == "" ||
		want.Network != nil && res.Native[keyNetwork] == "" {
		return nil, unsupported(op, "adding compute, storage or network to an existing job")
	}
	if want.Storage != nil && want.Storage.Action != nil && !StorageActions[*want.Storage.Action] {
		return nil, unsupported(op, "storage action %q has no CIMI operation", *want.Storage.Action)
	}
	if want.Compute != nil && want.Compute.Action != nil {
		if _, ok := ComputeActions[*want.Compute.Action]; !ok {
			return nil, unsupported(op, "unknown compute action %q", *want.Compute.Action)
		}
	}
	if want.Network != nil && want.Network.Action != nil {
		if _, ok := NetworkActions[*want.Network.Action]; !ok {
			return nil, unsupported(op, "unknown network action %q", *want.Network.Action)
		}
	}
	cur, err := a.Status(ctx, res)
	if err != nil {
		return nil, err
	}
	out := res.Clone()
	// done is the grant read before the update with the changes carried
	// out so far: what the update grants when its result cannot be read.
	done := *cur.Granted.IaaS
	if c := want.Compute; c != nil {
		var m Machine
		if _, err := a.call(ctx, op+": read machine", http.MethodGet, res.Native[keyMachine], nil, &m); err != nil {
			return nil, err
		}
		g := cur.Granted.IaaS.Compute
		newCPU, newMem := deref(c.Cores), gbToKiB(deref(c.Memory))
		if g != nil && (newCPU != 0 && newCPU != deref(g.Cores) || c.Memory != nil && deref(c.Memory) != deref(g.Memory)) {
			edit := op2(m.Operations, "edit", m.ID)
			if edit == "" {
				return nil, unsupported(op, "the machine offers no edit operation")
			}
			body := Machine{ResourceURI: NS + "/Machine", ID: m.ID, CPU: newCPU, Memory: newMem}
			if _, err := a.call(ctx, op+": resize machine", http.MethodPut, a.resolve(edit), body, &m); err != nil {
				return nil, err
			}
			done.Compute = model.CopyOf(g)
			if newCPU != 0 {
				done.Compute.Cores = c.Cores
			}
			if c.Memory != nil {
				done.Compute.Memory = c.Memory
			}
		}
		if c.Action != nil {
			resp, err := a.act(ctx, op+": "+string(*c.Action), "machine", m.State, m.Operations, string(*c.Action), ComputeActions[*c.Action])
			if err != nil {
				return nil, err
			}
			if j := resp.Header.Get(JobHeader); j != "" {
				out.Native[keyJob] = a.resolve(j)
			}
		}
	}
	if s := want.Storage; s != nil {
		g := cur.Granted.IaaS.Storage
		if s.Size != nil && (g == nil || *s.Size != deref(g.Size)) {
			var v Volume
			if _, err := a.call(ctx, op+": read volume", http.MethodGet, res.Native[keyVolume], nil, &v); err != nil {
				return nil, err
			}
			edit := op2(v.Operations, "edit", v.ID)
			if edit == "" {
				return nil, unsupported(op, "the volume offers no edit operation")
			}
			body := Volume{ResourceURI: NS + "/Volume", ID: v.ID, Capacity: gbToKiB(*s.Size)}
			if _, err := a.call(ctx, op+": resize volume", http.MethodPut, a.resolve(edit), body, nil); err != nil {
				return nil, err
			}
			done.Storage = model.CopyOf(g)
			done.Storage.Size = s.Size
		}
	}
	if n := want.Network; n != nil && n.Action != nil {
		var nw Network
		if _, err := a.call(ctx, op+": read network", http.MethodGet, res.Native[keyNetwork], nil, &nw); err != nil {
			return nil, err
		}
		if _, err := a.act(ctx, op+": network "+string(*n.Action), "network", nw.State, nw.Operations, string(*n.Action), NetworkActions[*n.Action]); err != nil {
			return nil, err
		}
	}
	st, err := a.Status(ctx, out)
	if err != nil && contract.KindOf(err) != contract.KindNotFound {
		// Every change went through; only the read of their result
		// failed (a timeout, a 503). Failing the update here made the
		// broker record it failed and keep the job's old request while
		// the provider held the new sizes. The update is done: out (with
		// the Job of an action, if any) grants what was read before with
		// the new sizes, pending, the contract's "not settled yet, ask
		// Status" (or failed or gone when it was so before), and the
		// next Status (the broker's resource check, a later update or
		// action) reads the actual values.
		out.Granted = csbmsg.ServiceRequest{IaaS: &done}
		out.State = contract.Worse(cur.State, contract.StatePending)
		return out, nil
	}
	return st, err
}

// op2 returns the operation href for rel; for "edit" a provider may leave
// the operation out when edits go to the resource itself (fallback).
func op2(ops []Operation, rel, fallback string) string {
	if h := op(ops, rel); h != "" {
		return h
	}
	if len(ops) == 0 {
		return fallback
	}
	return ""
}

// act runs the action rel (a CIMI action URI) through the operation a
// resource in state offers for it; call names the call for errors.
func (a *Adapter) act(ctx context.Context, call, what, state string, ops []Operation, action, rel string) (*httpx.Response, error) {
	href := op2(ops, rel, "")
	if href == "" {
		return nil, &contract.Error{Kind: contract.KindClient, Op: "update", Err: fmt.Errorf("%s in state %s offers no %s operation", what, state, action)}
	}
	return a.call(ctx, call, http.MethodPost, a.resolve(href), Action{ResourceURI: NS + "/Action", Action: rel}, nil)
}
