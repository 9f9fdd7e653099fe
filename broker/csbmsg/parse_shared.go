package csbmsg

// Readers of the resource content both packages share (sections
// 4.1.2.3.2 and 4.2.2.6 to 4.2.2.9). Element names come from the vocab:
// <compute-support> in csb-publish, <compute> in csb-consumer.

func (r *reader) iaas(n *node) *IaaS {
	x := &IaaS{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.iaas, func(i int, c *node) {
		switch i {
		case 0:
			x.Link = r.link(c)
		case 1:
			x.Compute = r.compute(c)
		case 2:
			x.Network = r.network(c)
		case 3:
			x.Storage = r.storage(c)
		case 4:
			x.NetworkInterface = r.networkInterface(c)
		case 5:
			x.StorageLink = r.storageLink(c)
		}
	})
	return x
}

// resource reads the k-th of the four service-model children a request,
// a response and a service share (0 IaaS, 1 PaaS, 2 SaaS, 3 DSaaS, with
// or without -support) into its field.
func (r *reader) resource(k int, c *node, iaas **IaaS, paas **PaaS, saas **SaaS, dsaas **DSaaS) {
	switch k {
	case 0:
		*iaas = r.iaas(c)
	case 1:
		*paas = &PaaS{Link: r.linkOnly(c)}
	case 2:
		*saas = &SaaS{Link: r.linkOnly(c)}
	case 3:
		*dsaas = r.dsaas(c)
	}
}

// linkOnly reads <PaaS*> and <SaaS*>, whose only child is <Link>.
func (r *reader) linkOnly(n *node) *Link {
	var l *Link
	r.attrs(n, nil, nil)
	r.children(n, r.v.linkOnly, func(_ int, c *node) {
		l = r.link(c)
	})
	return l
}

func (r *reader) dsaas(n *node) *DSaaS {
	x := &DSaaS{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.dsaas, func(i int, c *node) {
		switch i {
		case 0:
			x.Link = r.link(c)
		case 1:
			x.DataObject = r.dataObject(c)
		case 2:
			x.ContainerObject = r.containerObject(c)
		case 3:
			x.DomainObject = r.domainObject(c)
		case 4:
			x.QueueObject = r.queueObject(c)
		case 5:
			x.CapabilityObject = r.capabilityObject(c)
		}
	})
	return x
}

func (r *reader) link(n *node) *Link {
	l := &Link{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.link, func(i int, c *node) {
		switch i {
		case 0:
			l.Rel = r.str(c)
		case 1:
			l.Href = r.uri(c)
		}
	})
	return l
}

func (r *reader) compute(n *node) *Compute {
	x := &Compute{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.compute, func(i int, c *node) {
		switch i {
		case 0:
			x.Architecture = r.optStr(c)
		case 1:
			x.Cores = r.optUint(c)
		case 2:
			x.Hostname = r.optStr(c)
		case 3:
			x.Speed = r.optUint(c)
		case 4:
			x.Memory = r.optUint(c)
		case 5:
			x.Status = optEnum(r, c, computeStatuses)
		case 6:
			x.Action = optEnum(r, c, computeActions)
		}
	})
	return x
}

func (r *reader) network(n *node) *Network {
	x := &Network{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.network, func(i int, c *node) {
		switch i {
		case 0:
			x.VLAN = r.optToken(c)
		case 1:
			x.VLANLabel = r.optToken(c)
		case 2:
			x.Address = r.optStr(c)
		case 3:
			x.Gateway = r.optStr(c)
		case 4:
			x.Allocation = optEnum(r, c, allocations)
		case 5:
			x.Status = optEnum(r, c, networkStatuses)
		case 6:
			x.Action = optEnum(r, c, networkActions)
		}
	})
	return x
}

func (r *reader) storage(n *node) *Storage {
	x := &Storage{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.storage, func(i int, c *node) {
		switch i {
		case 0:
			x.Size = r.optUint(c)
		case 1:
			x.Status = optEnum(r, c, storageStatuses)
		case 2:
			x.Action = optEnum(r, c, storageActions)
		}
	})
	return x
}

func (r *reader) networkInterface(n *node) *NetworkInterface {
	x := &NetworkInterface{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.netif, func(i int, c *node) {
		switch i {
		case 0:
			x.Interface = r.optToken(c)
		case 1:
			x.MAC = r.optStr(c)
		case 2:
			x.Status = optEnum(r, c, networkStatuses)
		case 3:
			x.IP = r.optStr(c)
		case 4:
			x.Gateway = r.optStr(c)
		case 5:
			x.Allocation = optEnum(r, c, allocations)
		}
	})
	return x
}

func (r *reader) storageLink(n *node) *StorageLink {
	x := &StorageLink{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.storageLink, func(i int, c *node) {
		switch i {
		case 0:
			x.DeviceID = r.optToken(c)
		case 1:
			x.Mountpoint = r.optStr(c)
		case 2:
			x.Status = optEnum(r, c, networkStatuses)
		}
	})
	return x
}

// object reads the element n of one of the five DSaaS object types, whose
// children are fields: <metadata> into *metadata (nil for
// CapabilityObject, whose vocabulary has no <metadata>), the children of
// ObjectRefs into o, and each other child, by its name, with own.
func (r *reader) object(n *node, fields []field, o *ObjectRefs, metadata **string, own func(name string, c *node)) {
	r.attrs(n, nil, nil)
	r.children(n, fields, func(i int, c *node) {
		switch name := fields[i].name; name {
		case "metadata":
			*metadata = r.optStr(c)
		case "objectURI":
			o.ObjectURI = r.optURI(c)
		case "objectID":
			o.ObjectID = r.optToken(c)
		case "parentURI":
			o.ParentURI = r.optURI(c)
		case "domainURI":
			o.DomainURI = r.optURI(c)
		case "capabilitiesURI":
			o.CapabilitiesURI = r.optURI(c)
		default:
			own(name, c)
		}
	})
}

func (r *reader) dataObject(n *node) *DataObject {
	x := &DataObject{}
	r.object(n, r.v.dataObject, &x.ObjectRefs, &x.Metadata, func(name string, c *node) {
		switch name {
		case "mimetype":
			x.Mimetype = r.optStr(c)
		case "value":
			x.Value = r.optStr(c)
		case "status":
			x.Status = r.optStr(c)
		}
	})
	return x
}

func (r *reader) containerObject(n *node) *ContainerObject {
	x := &ContainerObject{}
	r.object(n, r.v.containerObject, &x.ObjectRefs, &x.Metadata, func(name string, c *node) {
		switch name {
		case "exports":
			x.Exports = r.optStr(c)
		case "snapshots":
			x.Snapshots = r.optStr(c)
		case "children":
			x.Children = r.optStr(c)
		case "status":
			x.Status = r.optStr(c)
		}
	})
	return x
}

func (r *reader) domainObject(n *node) *DomainObject {
	x := &DomainObject{}
	r.object(n, r.v.domainObject, &x.ObjectRefs, &x.Metadata, func(name string, c *node) {
		switch name {
		case "enabled":
			x.Enabled = r.optBool(c)
		case "children":
			x.Children = r.optStr(c)
		}
	})
	return x
}

func (r *reader) queueObject(n *node) *QueueObject {
	x := &QueueObject{}
	r.object(n, r.v.queueObject, &x.ObjectRefs, &x.Metadata, func(name string, c *node) {
		if name == "status" {
			x.Status = r.optStr(c)
		}
	})
	return x
}

func (r *reader) capabilityObject(n *node) *CapabilityObject {
	x := &CapabilityObject{}
	r.object(n, r.v.capabilityObject, &x.ObjectRefs, nil, func(name string, c *node) {
		switch name {
		case "type":
			x.Type = optEnum(r, c, capabilityTypes)
		case "status":
			x.Status = r.optStr(c)
		}
	})
	return x
}
