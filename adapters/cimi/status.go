package cimi

import (
	"context"
	"net/http"
	"strings"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Status reads the Machine, Volume and Network and the pending Job, and
// reports the granted values.
func (a *Adapter) Status(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	return a.status(ctx, res, nil)
}

// status is Status; created, when not nil, is the Machine as the
// provider's answer to its create represented it, which stands for
// reading it back.
func (a *Adapter) status(ctx context.Context, res *contract.Resource, created *Machine) (*contract.Resource, error) {
	const op = "status"
	out := res.Clone()
	out.State = contract.StateReady
	iaas := &csbmsg.IaaS{}
	var parts model.Parts
	// read GETs the part under key into v; false when the resource has
	// no such part or the provider no longer holds it.
	read := func(what, key string, v any) (bool, error) {
		href := res.Native[key]
		if href == "" {
			return false, nil
		}
		parts.Held++
		_, err := a.call(ctx, op+": read "+what, http.MethodGet, href, nil, v)
		switch {
		case contract.KindOf(err) == contract.KindNotFound:
			parts.Gone++
			return false, nil
		case err != nil:
			return false, err
		}
		return true, nil
	}
	// Each part's value is made only when the resource has that part
	// (and, for the machine, when it is to be read): a create's status
	// then makes none.
	m := created
	read1 := read
	if m == nil {
		m = new(Machine)
	} else {
		read1 = func(string, string, any) (bool, error) { parts.Held++; return true, nil }
	}
	if ok, err := read1("machine", keyMachine, m); err != nil {
		return nil, err
	} else if ok {
		c := &csbmsg.Compute{}
		for _, f := range ComputeFields {
			if f.fromMachine != nil {
				f.fromMachine(m, c)
			}
		}
		row, ok := MachineStates[strings.ToUpper(m.State)]
		if !ok {
			row = StateRow{State: contract.StatePending}
		}
		if row.Compute != "" {
			c.Status = ptr(row.Compute)
		}
		out.State = contract.Worse(out.State, row.State)
		iaas.Compute = c
		if res.Native[keyMachineVolume] != "" {
			iaas.StorageLink = &csbmsg.StorageLink{Mountpoint: ptr(res.Native[keyLocation]), Status: ptr(csbmsg.NetworkActive)}
		}
	}
	if href := res.Native[keyJob]; href != "" && out.State == contract.StatePending {
		var j Job
		if _, err := a.call(ctx, op+": read job", http.MethodGet, href, nil, &j); err == nil {
			switch strings.ToUpper(j.State) {
			case "FAILED":
				out.State = contract.StateFailed
			case "SUCCESS":
				delete(out.Native, keyJob)
			}
		} else if contract.KindOf(err) == contract.KindNotFound {
			delete(out.Native, keyJob) // providers may forget finished jobs
		}
	}
	v := part[Volume](res, keyVolume)
	if ok, err := read("volume", keyVolume, v); err != nil {
		return nil, err
	} else if ok {
		s := &csbmsg.Storage{Size: ptr(kibToGB(v.Capacity))}
		st, ok := VolumeStates[strings.ToUpper(v.State)]
		switch {
		case !ok || st == "":
			out.State = contract.Worse(out.State, contract.StatePending)
		case st == csbmsg.StorageDegraded:
			out.State = contract.Worse(out.State, contract.StateFailed)
			s.Status = ptr(st)
		default:
			s.Status = ptr(st)
		}
		iaas.Storage = s
	}
	n := part[Network](res, keyNetwork)
	if ok, err := read("network", keyNetwork, n); err != nil {
		return nil, err
	} else if ok {
		nw := &csbmsg.Network{Allocation: ptr(csbmsg.AllocationDynamic)}
		if n.Name != "" {
			nw.VLANLabel = ptr(nmtokenBad.ReplaceAllString(n.Name, "-"))
		}
		if v := n.Properties["vlan"]; v != "" {
			nw.VLAN = ptr(v)
		}
		if st, ok := NetworkStates[strings.ToUpper(n.State)]; ok {
			nw.Status = ptr(st)
		} else if strings.EqualFold(n.State, NetworkFailed) {
			out.State = contract.Worse(out.State, contract.StateFailed)
		} else {
			out.State = contract.Worse(out.State, contract.StatePending)
		}
		iaas.Network = nw
		if iaas.Compute != nil {
			iaas.NetworkInterface = &csbmsg.NetworkInterface{Allocation: ptr(csbmsg.AllocationDynamic), Status: nw.Status}
		}
	}
	out.State = parts.State(out.State, res)
	out.Granted = csbmsg.ServiceRequest{IaaS: iaas}
	return out, nil
}

// part returns a new T to read the part of res under key into, nil when
// res has no such part (read answers false for it, without using it).
func part[T any](res *contract.Resource, key string) *T {
	if res.Native[key] == "" {
		return nil
	}
	return new(T)
}
