package csbmsg

// Programmatic values that set every field of the model, for the
// serialisation and round-trip tests.

func ptr[T any](v T) *T { return &v }

func fullIaaS() *IaaS {
	return &IaaS{
		Link: &Link{Rel: "self", Href: "https://h.example/iaas"},
		Compute: &Compute{
			Architecture: ptr("x64"), Cores: ptr[uint64](8), Hostname: ptr("h.example"),
			Speed: ptr[uint64](3), Memory: ptr[uint64](32),
			Status: ptr(ComputeSuspended), Action: ptr(ComputeRestart),
		},
		Network: &Network{
			VLAN: ptr("343"), VLANLabel: ptr("dmz"), Address: ptr("192.0.2.0/24"), Gateway: ptr("192.0.2.1"),
			Allocation: ptr(AllocationStatic), Status: ptr(NetworkInactive), Action: ptr(NetworkDown),
		},
		Storage:          &Storage{Size: ptr[uint64](18446744073709551615), Status: ptr(StorageDegraded), Action: ptr(StorageActBackup)},
		NetworkInterface: &NetworkInterface{Interface: ptr("eth0"), MAC: ptr("00:16:3e:00:00:01"), Status: ptr(NetworkActive), IP: ptr("192.0.2.5"), Gateway: ptr("192.0.2.1"), Allocation: ptr(AllocationDynamic)},
		StorageLink:      &StorageLink{DeviceID: ptr("vdb"), Mountpoint: ptr("/srv"), Status: ptr(NetworkInactive)},
	}
}

func fullDSaaS() *DSaaS {
	u := func(s string) *string { return ptr("https://h.example/cdmi/" + s) }
	return &DSaaS{
		Link: &Link{Href: "https://h.example/cdmi/"},
		DataObject: &DataObject{Mimetype: ptr("text/plain"), Metadata: ptr("{\"a\": \"b\"}\r\n\t"),
			ObjectRefs: refs(u("o"), ptr("o-1"), u(""), u("d/"), u("c/")),
			Value:      ptr("]]> & <x> \"q\" 'a' \U0001F600"), Status: ptr("Complete")},
		ContainerObject: &ContainerObject{Metadata: ptr(""), ObjectRefs: refs(u("c"), ptr("c-1"), u(""), u("d/"), u("c/")),
			Exports: ptr("NFS"), Snapshots: ptr("s1"), Children: ptr("o"), Status: ptr("Complete")},
		DomainObject: &DomainObject{Metadata: ptr("m"), ObjectRefs: refs(u("d/"), ptr("d-1"), u(""), u("d/"), u("c/")),
			Enabled: ptr(false), Children: ptr("x")},
		QueueObject: &QueueObject{Metadata: ptr("m"), ObjectRefs: refs(u("q"), ptr("q-1"), u(""), u("d/"), u("c/")),
			Status: ptr("Complete")},
		CapabilityObject: &CapabilityObject{Type: ptr(CapDataSysMetadata), ObjectRefs: refs(u("cap/"), ptr("cap-1"), u(""), u("d/"), u("cap/")),
			Status: ptr("Complete")},
	}
}

func kitchenSinkPublish() []*Publish {
	return []*Publish{
		{Request: &PublishRequest{Subscription: Subscription{ID: "s1", SeqNumber: 1, Action: ActionRemove, Expires: ptr[uint64](0), Frequency: ptr[uint64](5)}}},
		{Version: "1.0", Response: &PublishResponse{Status: StatusSubscriptionExists, Reason: "already\tthere\n\"x\" <&>",
			Subscription: &Subscription{ID: "s1", SeqNumber: 7, Action: ActionUpdate, Frequency: ptr[uint64](60)}}},
		{Response: &PublishResponse{Status: 1}},
		{Notification: &Notification{
			ID: "s1", SeqNumber: 3,
			Provider: Provider{ID: "p", Status: ServiceDeactivated, URI: "https://p.example/csb"},
			Services: []Service{
				{ID: "a", Status: ServiceActive, URI: "https://h.example/a", IaaS: fullIaaS()},
				{ID: "b", Status: ServiceUnavailable, PaaS: &PaaS{}},
				{ID: "c", Status: ServiceActive, SaaS: &SaaS{Link: &Link{Rel: "r"}}},
				{ID: "d", Status: ServiceActive, DSaaS: fullDSaaS()},
				{ID: "e", Status: ServiceActive},
			},
			EncryptionSupport: ptr(false),
			Label:             "silver",
		}},
	}
}

func kitchenSinkConsumer() []*Consumer {
	return []*Consumer{
		{Request: &ServiceRequest{
			JobInfo: &JobInfo{JobID: "j-1", Action: JobRemove},
			IaaS:    fullIaaS(), PaaS: &PaaS{Link: &Link{}}, SaaS: &SaaS{}, DSaaS: fullDSaaS(),
			Encryption: ptr(true),
		}},
		{Request: &ServiceRequest{}},
		{Response: &ServiceResponse{
			Status: StatusOK, Reason: "ok",
			JobInfo: &ResponseJobInfo{JobID: "j-1", JobStatus: "", Expires: 300, CloudServiceURI: "https://h.example/x?y=%41"},
			IaaS:    fullIaaS(), PaaS: &PaaS{}, SaaS: &SaaS{}, DSaaS: fullDSaaS(), Encryption: ptr(false),
		}},
		{Version: "1.0", Response: &ServiceResponse{Status: StatusCannotRemoveResource,
			JobInfo: &ResponseJobInfo{JobID: "j-2", JobStatus: "running", Expires: 0}}},
	}
}

// refs builds an ObjectRefs in schema order.
func refs(objectURI, objectID, parentURI, domainURI, capabilitiesURI *string) ObjectRefs {
	return ObjectRefs{ObjectURI: objectURI, ObjectID: objectID, ParentURI: parentURI, DomainURI: domainURI, CapabilitiesURI: capabilitiesURI}
}
