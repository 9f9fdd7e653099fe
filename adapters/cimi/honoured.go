package cimi

import "github.com/caddy-csb/caddy-csb/broker/contract"

// HonouredFields implements contract.FieldReporter: what Provision sends
// to the CIMI provider (see ComputeFields and provision.go). Not honoured:
// network address and gateway (CIMI networks are addressed by the
// provider), every NetworkInterface child (the machine gets an interface
// on the job's network, nothing more), and the status and action children
// of a create request (CIMI resources start in their provider's default
// state). compute/speed, architecture, vlan, VLANlabel and allocation are
// also met by placement's choice of service.
func (a *Adapter) HonouredFields() contract.FieldSet { return honoured }

var honoured = func() contract.FieldSet {
	s := contract.Fields(
		"IaaS/compute", "IaaS/compute/hostname", // Machine.name
		"IaaS/storage", "IaaS/storage/size",
		"IaaS/network", "IaaS/network/VLANlabel", "IaaS/network/vlan",
		"IaaS/NetworkInterface",
		"IaaS/storagelink", "IaaS/storagelink/mountpoint", "IaaS/storagelink/deviceid",
	)
	for _, f := range ComputeFields {
		if f.toCIMI != nil {
			s["IaaS/"+f.CSB] = struct{}{}
		}
	}
	return s
}()
