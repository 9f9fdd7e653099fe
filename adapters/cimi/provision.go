package cimi

import (
	"cmp"
	"context"
	"net/http"

	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func (a *Adapter) check(op string, want *csbmsg.IaaS) error {
	if want == nil {
		return unsupported(op, "the cimi adapter provisions IaaS only")
	}
	if want.Compute == nil && want.Storage == nil && want.Network == nil {
		return unsupported(op, "the IaaS request has no compute, storage or network")
	}
	if want.Compute != nil && (deref(want.Compute.Cores) == 0 || deref(want.Compute.Memory) == 0) {
		return unsupported(op, "compute needs cores and memory")
	}
	if want.Storage != nil && deref(want.Storage.Size) == 0 {
		return unsupported(op, "storage needs a size")
	}
	if want.NetworkInterface != nil && want.Compute == nil {
		return unsupported(op, "a NetworkInterface needs compute")
	}
	if want.StorageLink != nil && (want.Compute == nil || want.Storage == nil) {
		return unsupported(op, "a storagelink needs compute and storage")
	}
	return nil
}

// Provision creates, in order, the Volume, the Network, the Machine (from
// an inline MachineTemplate, on the network) and the MachineVolume that
// attaches the volume. Each carries the job id in its csb_job property,
// so Find can gather them after a crash. If a step fails, the returned
// Resource holds what was created so far, for Remove.
func (a *Adapter) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	const op = "provision"
	want := req.Want.IaaS
	if err := a.check(op, want); err != nil {
		return nil, err
	}
	cep, err := a.entryPoint(ctx, op)
	if err != nil {
		return nil, err
	}
	name := a.cfg.NamePrefix + req.JobID
	if want.Compute != nil && want.Compute.Hostname != nil && *want.Compute.Hostname != "" {
		name = *want.Compute.Hostname
	}
	var image string
	if want.Compute != nil {
		if image, err = a.image(ctx, cep); err != nil {
			return nil, err
		}
	}
	// m is the Machine as the create's answer represents it: when it is
	// the whole Machine (it has a state), the status below takes it
	// rather than reading it back.
	var m createdMachine
	res := &contract.Resource{State: contract.StatePending, Native: map[string]string{keyJobID: req.JobID}, Endpoint: a.cfg.Endpoint}
	props := map[string]string{keyJobID: req.JobID}
	if req.Owner != "" {
		props["csb_owner"] = req.Owner
	}
	partial := func(err error) (*contract.Resource, error) {
		if len(res.Native) > 1 {
			return res, err
		}
		return nil, err
	}
	if want.Storage != nil {
		vc := VolumeCreate{ResourceURI: NS + "/VolumeCreate", Name: name, Properties: props}
		vc.VolumeTemplate.VolumeConfig = VolumeConfiguration{Type: NS + "/mapped", Format: "ext4", Capacity: gbToKiB(*want.Storage.Size)}
		var v Volume
		if _, err := a.create(ctx, res, keyVolume, "volume", cep.Volumes, vc, &v, &v.ID); err != nil {
			return partial(err)
		}
	}
	if want.Network != nil {
		nname := name
		if want.Network.VLANLabel != nil {
			nname = *want.Network.VLANLabel
		}
		nc := NetworkCreate{ResourceURI: NS + "/NetworkCreate", Name: nname, Properties: map[string]string{}}
		for k, v := range props {
			nc.Properties[k] = v
		}
		if want.Network.VLAN != nil {
			nc.Properties["vlan"] = *want.Network.VLAN
		}
		nc.NetworkTemplate.NetworkConfig = NetworkConfiguration{NetworkType: "PRIVATE"}
		var n Network
		if _, err := a.create(ctx, res, keyNetwork, "network", cep.Networks, nc, &n, &n.ID); err != nil {
			return partial(err)
		}
	}
	if want.Compute != nil {
		mc := &MachineConfiguration{}
		for _, f := range ComputeFields {
			if f.toCIMI != nil {
				f.toCIMI(want.Compute, mc)
			}
		}
		create := MachineCreate{ResourceURI: NS + "/MachineCreate", Name: name, Description: "caddy-csb job " + req.JobID, Properties: props,
			MachineTemplate: MachineTemplate{MachineConfig: mc, MachineImage: &Ref{Href: image}}}
		if net := res.Native[keyNetwork]; net != "" && (want.NetworkInterface != nil || want.Network != nil) {
			create.MachineTemplate.NetworkInterfaces = []NetworkInterfaceTemplate{{Network: &Ref{Href: net}}}
		}
		resp, err := a.create(ctx, res, keyMachine, "machine", cep.Machines, create, &m, &m.ID)
		if err != nil {
			return partial(err)
		}
		if j := resp.Header.Get(JobHeader); j != "" {
			res.Native[keyJob] = a.resolve(j)
		}
		if vol := res.Native[keyVolume]; vol != "" {
			if err := a.attach(ctx, res, m.machine(), want.StorageLink); err != nil {
				return partial(err)
			}
		}
	}
	res.URI = cmp.Or(res.Native[keyMachine], res.Native[keyVolume], res.Native[keyNetwork])
	var created *Machine
	if m.State != "" && res.Native[keyMachineVolume] == "" {
		created = m.machine()
	}
	out, err := a.status(ctx, res, created)
	if err != nil {
		// Created, but not readable yet: the broker polls.
		return res, nil
	}
	return out, nil
}

// create POSTs body to the collection coll, decoding the answer into out
// (whose id field is id), and records the new resource's href in
// res.Native[key].
func (a *Adapter) create(ctx context.Context, res *contract.Resource, key, what string, coll *Ref, body, out any, id *string) (*httpx.Response, error) {
	const op = "provision"
	if coll == nil {
		return nil, unsupported(op, "the provider has no %ss collection", what)
	}
	resp, err := a.call(ctx, createOp(what), http.MethodPost, coll.Href, body, out)
	if err != nil {
		return nil, err
	}
	res.Native[key] = a.location(resp, *id)
	return resp, nil
}

// createOp names the create of a what in errors; the names of
// Provision's creates are constants, so a create does not build one.
func createOp(what string) string {
	switch what {
	case "machine":
		return "provision: create machine"
	case "volume":
		return "provision: create volume"
	case "network":
		return "provision: create network"
	}
	return "provision: create " + what
}

// attach attaches the volume created with the machine m, by a
// MachineVolume POSTed to its volumes collection.
func (a *Adapter) attach(ctx context.Context, res *contract.Resource, m *Machine, link *csbmsg.StorageLink) error {
	loc := "/dev/vdb"
	if link != nil {
		if link.Mountpoint != nil && *link.Mountpoint != "" {
			loc = *link.Mountpoint
		} else if link.DeviceID != nil && *link.DeviceID != "" {
			loc = *link.DeviceID
		}
	}
	href, err := a.postMachineVolume(ctx, "provision: attach volume", res.Native[keyMachine], m, res.Native[keyVolume], loc)
	if err != nil {
		return err
	}
	res.Native[keyMachineVolume] = href
	res.Native[keyLocation] = loc
	return nil
}

// postMachineVolume POSTs a MachineVolume of the volume at volume, at
// location loc, to the volumes collection of the machine at machine (m,
// when not nil, is the machine as read) and returns the new
// MachineVolume's href.
func (a *Adapter) postMachineVolume(ctx context.Context, op, machine string, m *Machine, volume, loc string) (string, error) {
	coll, err := a.machineVolumes(ctx, op, machine, m)
	if err != nil {
		return "", err
	}
	mv := MachineVolume{ResourceURI: NS + "/MachineVolume", InitialLocation: loc, Volume: Ref{Href: volume}}
	var got MachineVolume
	resp, err := a.call(ctx, op, http.MethodPost, coll, mv, &got)
	if err != nil {
		return "", err
	}
	return a.location(resp, got.ID), nil
}

// machineVolumes returns the href of a machine's volumes collection,
// reading the machine (at href) when m does not name it.
func (a *Adapter) machineVolumes(ctx context.Context, op, href string, m *Machine) (string, error) {
	if m != nil && m.Volumes != nil && m.Volumes.Href != "" {
		return a.resolve(m.Volumes.Href), nil
	}
	var fresh Machine
	if _, err := a.call(ctx, op, http.MethodGet, href, nil, &fresh); err != nil {
		return "", err
	}
	if fresh.Volumes == nil {
		return "", unsupported(op, "the machine has no volumes collection")
	}
	return a.resolve(fresh.Volumes.Href), nil
}
