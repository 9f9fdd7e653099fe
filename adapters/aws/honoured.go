package aws

import (
	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/adapters/internal/objstore"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// HonouredFields implements contract.FieldReporter: model.ComputeHonoured
// and objstore.Honoured but for what S3 refuses. EC2: the instance
// type meets cores, memory and architecture, the root volume the storage
// size, the Name tag the hostname; the instance gets an interface in the
// configured subnet (NetworkInterface, none of its children). A network
// (VPC), network address and gateway, storagelink and the status and
// action children of a create are not honoured. S3: objstore.Honoured
// without the container's metadata (buckets carry none) and the
// capability object (S3 has no capability document), which
// unsupportedDSaaS refuses: a request setting them is refused by
// placement (420) rather than placed here to fail.
func (a *Adapter) HonouredFields() contract.FieldSet { return honoured }

var honoured = func() contract.FieldSet {
	s := model.ComputeHonoured.Union(objstore.Honoured)
	for _, f := range []string{"DSaaS/ContainerObject/metadata", "DSaaS/CapabilityObject", "DSaaS/CapabilityObject/type"} {
		delete(s, f)
	}
	return s
}()
