package aws

import (
	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// HonouredFields implements contract.FieldReporter: model.ComputeHonoured
// and objstore.Honoured. EC2: the instance
// type meets cores, memory and architecture, the root volume the storage
// size, the Name tag the hostname; the instance gets an interface in the
// configured subnet (NetworkInterface, none of its children). A network
// (VPC), network address and gateway, storagelink and the status and
// action children of a create are not honoured. S3: objstore.Honoured.
func (a *Adapter) HonouredFields() contract.FieldSet { return honoured }

var honoured = model.ComputeHonoured.Union(objstore.Honoured)
