package catalog

import "github.com/caddy-csb/caddy-csb/broker/csbmsg"

// sameService reports whether two service descriptions are equal, field
// by field. It replaces reflect.DeepEqual on the publish path (a
// notification's every service is compared with the catalogue's): the
// same answer at a fraction of the cost. TestSameServiceCoversEveryField
// fails when csbmsg.Service gains a field this function does not compare.
func sameService(a, b *csbmsg.Service) bool {
	return a.ID == b.ID && a.Status == b.Status && a.URI == b.URI &&
		sameOpt(a.IaaS, b.IaaS, sameIaaS) && sameOpt(a.PaaS, b.PaaS, samePaaS) &&
		sameOpt(a.SaaS, b.SaaS, sameSaaS) && sameOpt(a.DSaaS, b.DSaaS, sameDSaaS)
}

// eqp compares two optional values.
func eqp[T comparable](a, b *T) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// sameOpt compares two optional parts: equal when both are nil, not when
// only one is, and by same when neither is.
func sameOpt[T any](a, b *T, same func(a, b *T) bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return same(a, b)
}

func samePaaS(a, b *csbmsg.PaaS) bool {
	return eqp(a.Link, b.Link)
}

func sameSaaS(a, b *csbmsg.SaaS) bool {
	return eqp(a.Link, b.Link)
}

func sameIaaS(a, b *csbmsg.IaaS) bool {
	return eqp(a.Link, b.Link) && sameOpt(a.Compute, b.Compute, sameCompute) && sameOpt(a.Network, b.Network, sameNetwork) &&
		sameOpt(a.Storage, b.Storage, sameStorage) && sameOpt(a.NetworkInterface, b.NetworkInterface, sameNetworkInterface) &&
		sameOpt(a.StorageLink, b.StorageLink, sameStorageLink)
}

func sameCompute(a, b *csbmsg.Compute) bool {
	return eqp(a.Architecture, b.Architecture) && eqp(a.Cores, b.Cores) && eqp(a.Hostname, b.Hostname) &&
		eqp(a.Speed, b.Speed) && eqp(a.Memory, b.Memory) && eqp(a.Status, b.Status) && eqp(a.Action, b.Action)
}

func sameNetwork(a, b *csbmsg.Network) bool {
	return eqp(a.VLAN, b.VLAN) && eqp(a.VLANLabel, b.VLANLabel) && eqp(a.Address, b.Address) &&
		eqp(a.Gateway, b.Gateway) && eqp(a.Allocation, b.Allocation) && eqp(a.Status, b.Status) && eqp(a.Action, b.Action)
}

func sameStorage(a, b *csbmsg.Storage) bool {
	return eqp(a.Size, b.Size) && eqp(a.Status, b.Status) && eqp(a.Action, b.Action)
}

func sameNetworkInterface(a, b *csbmsg.NetworkInterface) bool {
	return eqp(a.Interface, b.Interface) && eqp(a.MAC, b.MAC) && eqp(a.Status, b.Status) && eqp(a.IP, b.IP) &&
		eqp(a.Gateway, b.Gateway) && eqp(a.Allocation, b.Allocation)
}

func sameStorageLink(a, b *csbmsg.StorageLink) bool {
	return eqp(a.DeviceID, b.DeviceID) && eqp(a.Mountpoint, b.Mountpoint) && eqp(a.Status, b.Status)
}

func sameDSaaS(a, b *csbmsg.DSaaS) bool {
	return eqp(a.Link, b.Link) && sameOpt(a.DataObject, b.DataObject, sameDataObject) &&
		sameOpt(a.ContainerObject, b.ContainerObject, sameContainerObject) && sameOpt(a.DomainObject, b.DomainObject, sameDomainObject) &&
		sameOpt(a.QueueObject, b.QueueObject, sameQueueObject) && sameOpt(a.CapabilityObject, b.CapabilityObject, sameCapabilityObject)
}

func sameRefs(a, b csbmsg.ObjectRefs) bool {
	return eqp(a.ObjectURI, b.ObjectURI) && eqp(a.ObjectID, b.ObjectID) && eqp(a.ParentURI, b.ParentURI) &&
		eqp(a.DomainURI, b.DomainURI) && eqp(a.CapabilitiesURI, b.CapabilitiesURI)
}

func sameDataObject(a, b *csbmsg.DataObject) bool {
	return eqp(a.Mimetype, b.Mimetype) && eqp(a.Metadata, b.Metadata) && sameRefs(a.ObjectRefs, b.ObjectRefs) &&
		eqp(a.Value, b.Value) && eqp(a.Status, b.Status)
}

func sameContainerObject(a, b *csbmsg.ContainerObject) bool {
	return eqp(a.Metadata, b.Metadata) && sameRefs(a.ObjectRefs, b.ObjectRefs) &&
		eqp(a.Exports, b.Exports) && eqp(a.Snapshots, b.Snapshots) && eqp(a.Children, b.Children) && eqp(a.Status, b.Status)
}

func sameDomainObject(a, b *csbmsg.DomainObject) bool {
	return eqp(a.Metadata, b.Metadata) && sameRefs(a.ObjectRefs, b.ObjectRefs) &&
		eqp(a.Enabled, b.Enabled) && eqp(a.Children, b.Children)
}

func sameQueueObject(a, b *csbmsg.QueueObject) bool {
	return eqp(a.Metadata, b.Metadata) && sameRefs(a.ObjectRefs, b.ObjectRefs) &&
		eqp(a.Status, b.Status)
}

func sameCapabilityObject(a, b *csbmsg.CapabilityObject) bool {
	return eqp(a.Type, b.Type) && sameRefs(a.ObjectRefs, b.ObjectRefs) &&
		eqp(a.Status, b.Status)
}
