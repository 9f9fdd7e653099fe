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

// linkOnly reads <PaaS*> and <SaaS*>, whose only child is <Link>.
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

// object reads a child of ObjectRefs, or <metadata> into *metadata (nil
// for CapabilityObject, whose vocabulary has no <metadata>), and reports
// whether name was one of them.
func (r *reader) object(o *ObjectRefs, metadata **string, name string, c *node) bool {
	switch name {
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
		return false
	}
	return true
}

func (r *reader) dataObject(n *node) *DataObject {
	x := &DataObject{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.dataObject, func(i int, c *node) {
		name := r.v.dataObject[i].name
		if r.object(&x.ObjectRefs, &x.Metadata, name, c) {
			return
		}
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
	r.attrs(n, nil, nil)
	r.children(n, r.v.containerObject, func(i int, c *node) {
		name := r.v.containerObject[i].name
		if r.object(&x.ObjectRefs, &x.Metadata, name, c) {
			return
		}
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
	r.attrs(n, nil, nil)
	r.children(n, r.v.domainObject, func(i int, c *node) {
		name := r.v.domainObject[i].name
		if r.object(&x.ObjectRefs, &x.Metadata, name, c) {
			return
		}
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
	r.attrs(n, nil, nil)
	r.children(n, r.v.queueObject, func(i int, c *node) {
		name := r.v.queueObject[i].name
		if r.object(&x.ObjectRefs, &x.Metadata, name, c) {
			return
		}
		if name == "status" {
			x.Status = r.optStr(c)
		}
	})
	return x
}

func (r *reader) capabilityObject(n *node) *CapabilityObject {
	x := &CapabilityObject{}
	r.attrs(n, nil, nil)
	r.children(n, r.v.capabilityObject, func(i int, c *node) {
		name := r.v.capabilityObject[i].name
		if r.object(&x.ObjectRefs, nil, name, c) {
			return
		}
		switch name {
		case "type":
			x.Type = optEnum(r, c, capabilityTypes)
		case "status":
			x.Status = r.optStr(c)
		}
	})
	return x
}
