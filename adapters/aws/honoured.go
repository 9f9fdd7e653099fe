package aws

import (
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// HonouredFields implements contract.FieldReporter. EC2: the instance
// type meets cores, memory and architecture, the root volume the storage
// size, the Name tag the hostname; the instance gets an interface in the
// configured subnet (NetworkInterface, none of its children). A network
// (VPC), network address and gateway, storagelink and the status and
// action children of a create are not honoured. S3: objstore.Honoured.
func (a *Adapter) HonouredFields() contract.FieldSet { return honoured }

var honoured = contract.Fields(
	"IaaS/compute", "IaaS/compute/cores", "IaaS/compute/memory", "IaaS/compute/architecture", "IaaS/compute/hostname",
	"IaaS/storage", "IaaS/storage/size", "IaaS/NetworkInterface",
).Union(objstore.Honoured)
