package cimi

import (
	"context"
	"net/http"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// AttachVolume attaches an existing Volume to an existing Machine: a
// MachineVolume POSTed to the machine's volumes collection (DSP0263
// MachineVolume, operation add). It returns the MachineVolume's href.
func (a *Adapter) AttachVolume(ctx context.Context, machine, volume *contract.Resource, location string) (string, error) {
	const op = "attach volume"
	m, v := machine.Native[keyMachine], volume.Native[keyVolume]
	if m == "" || v == "" {
		return "", unsupported(op, "the jobs hold no machine or no volume")
	}
	return a.postMachineVolume(ctx, op, m, nil, v, location)
}

// DetachVolume DELETEs the MachineVolume AttachVolume returned.
func (a *Adapter) DetachVolume(ctx context.Context, machine *contract.Resource, attachment string) error {
	if attachment == "" {
		return unsupported("detach volume", "no attachment to detach")
	}
	_, err := a.call(ctx, "detach volume", http.MethodDelete, attachment, nil, nil)
	return err
}

var _ contract.VolumeAttacher = (*Adapter)(nil)
