package cdmi

import "github.com/caddy-csb/caddy-csb/broker/contract"

// HonouredFields implements contract.FieldReporter: what Provision sends
// to the CDMI provider (provision.go). Not honoured in a request: the
// *URI children and the container's objectID (the adapter names the
// container and the domain after the job, so Find can gather them), the
// status children, and a container's exports, snapshots and children.
func (a *Adapter) HonouredFields() contract.FieldSet { return honoured }

var honoured = contract.Fields(
	"DSaaS/ContainerObject", "DSaaS/ContainerObject/metadata",
	"DSaaS/DataObject", "DSaaS/DataObject/mimetype", "DSaaS/DataObject/metadata", "DSaaS/DataObject/objectID", "DSaaS/DataObject/value",
	"DSaaS/QueueObject", "DSaaS/QueueObject/metadata", "DSaaS/QueueObject/objectID",
	"DSaaS/DomainObject", "DSaaS/DomainObject/metadata", "DSaaS/DomainObject/enabled",
	"DSaaS/CapabilityObject", "DSaaS/CapabilityObject/type",
)
