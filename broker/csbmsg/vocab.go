package csbmsg

// vocab describes one message package: its namespace, root, and the
// children of each complex type in schema order, with the lenient-mode
// aliases. The two packages share their resource content; the publish
// package suffixes those element names with "-support" (<IaaS-support>,
// <compute-support>), the consumer package does not (<IaaS>, <compute>).
type vocab struct {
	pkg    string // "csb-publish" or "csb-consumer"
	ns     string
	root   string
	suffix string
	known  map[string]struct{} // every element name the package defines

	rootFields []field

	// csb-publish
	request, response, notification, provider, service, subscription []field

	// csb-consumer
	serviceRequest, serviceResponse, jobInfo, responseJobInfo []field

	// shared resource content
	iaas, linkOnly, dsaas, compute, network, storage, netif, storageLink, link,
	dataObject, containerObject, domainObject, queueObject, capabilityObject []field
}

// seq numbers fields in schema order.
func seq(fs ...field) []field {
	for i := range fs {
		fs[i].pos = i
	}
	return fs
}

// objectRefs are the children of ObjectRefs, in schema order.
func objectRefs() []field {
	return []field{f("objectURI"), f("objectID"), f("parentURI"), f("domainURI"), f("capabilitiesURI")}
}

// object is the sequence of a DSaaS object type: its own leading
// children, the shared ObjectRefs, then its own trailing children.
func object(head []field, tail ...field) []field {
	fs := append(head, objectRefs()...)
	return seq(append(fs, tail...)...)
}

func f(name string, aliases ...string) field { return field{name: name, aliases: aliases} }

func req(name string) field { return field{name: name, req: true} }

var (
	publishVocab  = newVocab("csb-publish", PublishNS, "csbpublish", "-support")
	consumerVocab = newVocab("csb-consumer", ConsumerNS, "csbconsumer", "")
)

func newVocab(pkg, ns, root, sfx string) *vocab {
	v := &vocab{pkg: pkg, ns: ns, root: root, suffix: sfx}
	link := f("Link", "link") // <link>: section 5.1, B1

	// Shared resource content (sections 4.1.2.3.2 and 4.2.2.6 to 4.2.2.9).
	v.iaas = seq(link,
		f("compute"+sfx),
		f("network"+sfx, "Network"+sfx), // <Network-support> (B1), <Network> (5.2)
		f("storage"+sfx, "Storage"+sfx), // <Storage-support> (B1), <Storage> (5.2)
		f("NetworkInterface"+sfx),
		f("storagelink"+sfx))
	v.linkOnly = seq(link)
	v.dsaas = seq(link,
		f("DataObject"+sfx),
		f("ContainerObject"+sfx, "Container"+sfx), // <Container-support> (B1)
		f("DomainObject"+sfx, "Domain"+sfx),       // <Domain-support> (B1)
		f("QueueObject"+sfx, "Queue"+sfx),         // <Queue-support> (B1)
		f("CapabilityObject"+sfx))
	v.compute = seq(f("architecture"), f("cores"), f("hostname"), f("speed"), f("memory"), f("status"), f("action"))
	v.network = seq(f("vlan"), f("VLANlabel"), f("address"), f("gateway"), f("allocation"), f("status"), f("action"))
	v.storage = seq(f("size"), f("status"), f("action"))
	v.netif = seq(f("interface"), f("mac"), f("status"), f("ip"), f("gateway"), f("allocation"))
	v.storageLink = seq(f("deviceid"), f("mountpoint"), f("status"))
	v.link = seq(f("rel"), f("href"))
	v.dataObject = object([]field{f("mimetype", "Mimetype"), // <Mimetype> (B1)
		f("metadata")},
		f("value"), f("status"))
	v.containerObject = object([]field{f("metadata")},
		f("exports"), f("snapshots"), f("children"), f("status"))
	v.domainObject = object([]field{f("metadata")},
		f("enabled"), f("children"),
		field{name: "Location", drop: true}) // example-only child (B1)
	v.queueObject = object([]field{f("metadata")},
		f("status"),
		field{name: "queueValues", drop: true}) // example-only child (B1)
	v.capabilityObject = object([]field{f("type")},
		f("status"),
		// Sections 4.1.2.3.2.4.5 and 4.2.2.9.5 list these two; the
		// schemas do not, and give no type for them.
		field{name: "capabilities", prose: true}, field{name: "children", prose: true})

	if pkg == "csb-publish" {
		// A choice: all at position 0. <response>: section 4.1.2.4.
		v.rootFields = []field{f("csbrequest"), f("csbresponse", "response"), f("csbnotification")}
		v.request = seq(req("subscription"))
		v.response = seq(f("subscription"))
		v.subscription = seq(f("expires"), f("frequency"))
		v.notification = seq(
			req("Cloud-Service-Provider"),
			field{name: "Cloud-Service", req: true, several: true},
			f("encryption-support", "encryption"), // <encryption> (4.1.2.3.3, B1)
			f("label"))
		v.provider = seq(req("Cloud-Service-Provider-id"), req("Cloud-Service-Provider-status"), f("Cloud-Service-Provider-URI"))
		v.service = seq(req("Cloud-Service-id"), req("Cloud-Service-status"), f("Cloud-Service-URI"),
			f("IaaS"+sfx), f("PaaS"+sfx), f("SaaS"+sfx), f("DSaaS"+sfx))
		for i := 3; i < len(v.service); i++ {
			v.service[i].pos = 3 // a choice
		}
	} else {
		// A choice. <CloudResourceRequest>, <CloudResourceResponse>:
		// section 4.2.1.
		v.rootFields = []field{f("CloudServiceRequest", "CloudResourceRequest"), f("CloudServiceResponse", "CloudResourceResponse")}
		v.serviceRequest = seq(f("job-info"), f("IaaS"), f("PaaS"), f("SaaS"), f("DSaaS"), f("encryption"))
		v.serviceResponse = seq(f("response-job-info"), f("IaaS"), f("PaaS"), f("SaaS"), f("DSaaS"), f("encryption"))
		v.jobInfo = seq(req("job-id"), req("action"))
		v.responseJobInfo = seq(req("job-id"), req("job-status"), req("expires"), f("Cloud-service-URI"))
	}

	v.known = map[string]struct{}{root: {}}
	for _, fs := range [][]field{v.rootFields, v.request, v.response, v.notification, v.provider, v.service,
		v.subscription, v.serviceRequest, v.serviceResponse, v.jobInfo, v.responseJobInfo, v.iaas, v.linkOnly,
		v.dsaas, v.compute, v.network, v.storage, v.netif, v.storageLink, v.link, v.dataObject,
		v.containerObject, v.domainObject, v.queueObject, v.capabilityObject} {
		if len(fs) > maxFields {
			panic("csbmsg: a complex type has more fields than maxFields")
		}
		for _, x := range fs {
			if !x.drop && !x.prose {
				v.known[x.name] = struct{}{}
			}
		}
	}
	return v
}

// Enumerations (the DATATYPES of sections 6 and 7).
var (
	serviceStatuses    = []ServiceStatus{ServiceActive, ServiceDeactivated, ServiceUnavailable}
	subscriptionAction = []SubscriptionAction{ActionCreate, ActionUpdate, ActionRemove}
	jobActions         = []JobAction{JobUpdate, JobRemove}
	computeStatuses    = []ComputeStatus{ComputeActive, ComputeInactive, ComputeSuspended}
	computeActions     = []ComputeAction{ComputeStart, ComputeStop, ComputeRestart, ComputeSuspend}
	networkStatuses    = []NetworkStatus{NetworkActive, NetworkInactive}
	networkActions     = []NetworkAction{NetworkUp, NetworkDown}
	storageStatuses    = []StorageStatus{StorageOnline, StorageOffline, StorageDegraded}
	storageActions     = []StorageAction{StorageActOnline, StorageActOffline, StorageActBackup, StorageActSnapshot, StorageActResize}
	allocations        = []Allocation{AllocationDynamic, AllocationStatic}
	capabilityTypes    = []CapabilityType{CapSystemWide, CapStorageMetadata, CapDataSysMetadata, CapDataObject, CapContainer, CapDomain, CapQueueObject}
)
