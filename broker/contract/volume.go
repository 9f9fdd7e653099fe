package contract

import "context"

// VolumeAttacher is implemented by adapters whose provider attaches an
// existing volume to an existing machine and detaches it again (DSP0263's
// MachineVolume: POST to the machine's volumes collection, DELETE of the
// MachineVolume). Front-ends that expose machines and volumes (CIMI) use
// it through jobs.Manager.AttachVolume and DetachVolume; an adapter
// without it attaches volumes only when it creates the machine with them.
type VolumeAttacher interface {
	// AttachVolume attaches the volume that volume holds to the machine
	// that machine holds, at location (a device name or mount point the
	// provider may use as a hint; "" lets it choose), and returns the
	// provider's reference of the attachment, which DetachVolume takes.
	// Both resources are the same provider's. A volume or machine the
	// provider cannot attach in its current state is an *Error of kind
	// KindClient.
	AttachVolume(ctx context.Context, machine, volume *Resource, location string) (attachment string, err error)
	// DetachVolume removes the attachment AttachVolume returned. An
	// attachment the provider no longer holds is an *Error of kind
	// KindNotFound.
	DetachVolume(ctx context.Context, machine *Resource, attachment string) error
}
