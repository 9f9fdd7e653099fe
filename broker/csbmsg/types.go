// Package csbmsg models the two XML message packages of the IETF draft
// "Cloud Service Broker" (draft-shao-opsawg-cloud-service-broker-02):
// csb-publish (application/csb-publish+xml, section 4.1.2 and the schema
// of section 6) and csb-consumer (application/csb-consumer+xml, section
// 4.2.2 and the schema of section 7).
//
// Every element and attribute of both schemas has a typed Go field here.
// Optional scalar children are pointers (nil means absent); enumerations are
// string types with one constant per schema value. The types are shared
// between the two packages wherever the schemas define the same content
// under two names: the publish interface's <compute-support> and the
// consumer interface's <compute> are both a [Compute], and so on.
//
// ParsePublish and ParseConsumer read a message (namespace-aware, with
// etree), check it against the schemas and answer a failure with the
// status the draft prescribes: 400 for a syntax or schema violation, 420
// for an element or attribute not understood ([Error]). [Lenient] mode,
// the default, also accepts the spellings of the draft's own examples;
// [Strict] mode holds messages to the schemas. [Limits] bound what a
// message may cost before any tree is built. MarshalPublish and
// MarshalConsumer write values that validate against the schemas (as
// repaired in testdata/schema; see CONFORMANCE.md for every
// interpretation).
//
// This package does not import Caddy.
package csbmsg

// XML namespaces (draft section 9.3 and 9.4).
const (
	PublishNS  = "urn:ietf:params:xml:ns:csb-publish"
	ConsumerNS = "urn:ietf:params:xml:ns:csb-consumer"
)

// Media types (draft section 9.1 and 9.2).
const (
	PublishMediaType  = "application/csb-publish+xml"
	ConsumerMediaType = "application/csb-consumer+xml"
)

// Version is the only package version the draft defines for both roots.
const Version = "1.0"

// Status is a <csbresponse> or <CloudServiceResponse> status code
// (draft tables 1 and 2).
type Status int

// Publish interface status codes (draft section 4.1.2.4, table 1).
const (
	StatusOK                   Status = 200
	StatusSyntaxError          Status = 400
	StatusCannotCreate         Status = 401 // unable to create subscription
	StatusCannotUpdate         Status = 402 // unable to update subscription
	StatusCannotRemove         Status = 403 // unable to remove subscription
	StatusNoSuchSubscription   Status = 404
	StatusSubscriptionExists   Status = 405
	StatusUnsupported          Status = 420 // unsupported attribute or element
	StatusUnableToFindResource Status = 408 // consumer table 2
	StatusCannotUpdateResource Status = 409 // consumer table 2
	StatusCannotRemoveResource Status = 410 // consumer table 2
)

// ServiceStatus is CSPstatus.datatype / CSstatus.datatype: the status of a
// Cloud-Service-Provider or a Cloud-Service.
type ServiceStatus string

// Provider and service statuses.
const (
	ServiceActive      ServiceStatus = "active"
	ServiceDeactivated ServiceStatus = "deactivated"
	ServiceUnavailable ServiceStatus = "unavailable"
)

// SubscriptionAction is action.datatype of csb-publish.
type SubscriptionAction string

// Subscription actions.
const (
	ActionCreate SubscriptionAction = "create"
	ActionUpdate SubscriptionAction = "update"
	ActionRemove SubscriptionAction = "remove"
)

// JobAction is action.datatype of csb-consumer (update and remove only).
type JobAction string

// Job actions.
const (
	JobUpdate JobAction = "update"
	JobRemove JobAction = "remove"
)

// ComputeStatus is computestatus.datatype.
type ComputeStatus string

// Compute statuses.
const (
	ComputeActive    ComputeStatus = "active"
	ComputeInactive  ComputeStatus = "inactive"
	ComputeSuspended ComputeStatus = "suspended"
)

// ComputeAction is computeaction.datatype.
type ComputeAction string

// Compute actions.
const (
	ComputeStart   ComputeAction = "start"
	ComputeStop    ComputeAction = "stop"
	ComputeRestart ComputeAction = "restart"
	ComputeSuspend ComputeAction = "suspend"
)

// NetworkStatus is networkstatus.datatype, also used by NetworkInterface
// and storagelink.
type NetworkStatus string

// Network statuses.
const (
	NetworkActive   NetworkStatus = "active"
	NetworkInactive NetworkStatus = "inactive"
)

// NetworkAction is networkaction.datatype.
type NetworkAction string

// Network actions.
const (
	NetworkUp   NetworkAction = "up"
	NetworkDown NetworkAction = "down"
)

// StorageStatus is storagestatus.datatype.
type StorageStatus string

// Storage statuses.
const (
	StorageOnline   StorageStatus = "online"
	StorageOffline  StorageStatus = "offline"
	StorageDegraded StorageStatus = "degraded"
)

// StorageAction is storageaction.datatype.
type StorageAction string

// Storage actions.
const (
	StorageActOnline   StorageAction = "online"
	StorageActOffline  StorageAction = "offline"
	StorageActBackup   StorageAction = "backup"
	StorageActSnapshot StorageAction = "snapshot"
	StorageActResize   StorageAction = "resize"
)

// Allocation is allocation.datatype.
type Allocation string

// Address allocation mechanisms.
const (
	AllocationDynamic Allocation = "dynamic"
	AllocationStatic  Allocation = "static"
)

// CapabilityType is Capabilityobjecttype.datatype. The schema declares it
// as an NMTOKEN enumeration whose values contain spaces, which no NMTOKEN
// can; the values are kept as the draft spells them (see CONFORMANCE.md).
type CapabilityType string

// Capability object types.
const (
	CapSystemWide      CapabilityType = "Cloud Storage System-Wide Capabilities"
	CapStorageMetadata CapabilityType = "Storage System Metadata Capabilities"
	CapDataSysMetadata CapabilityType = "Data System Metadata Capabilities"
	CapDataObject      CapabilityType = "Data Object Capabilities"
	CapContainer       CapabilityType = "Container Capabilities"
	CapDomain          CapabilityType = "Domain Capabilities"
	CapQueueObject     CapabilityType = "Queue Object Capabilities"
)

// ---------------------------------------------------------------------------
// csb-publish

// Publish is the <csbpublish> root. Exactly one of Request, Response and
// Notification is set.
type Publish struct {
	Version      string           `json:",omitzero"` // always "1.0"
	Request      *PublishRequest  `json:",omitzero"`
	Response     *PublishResponse `json:",omitzero"`
	Notification *Notification    `json:",omitzero"`
}

// PublishRequest is <csbrequest>: a command from the broker to a provider.
type PublishRequest struct {
	Subscription Subscription `json:",omitzero"`
}

// Subscription is <subscription> (draft section 4.1.2.2.1).
type Subscription struct {
	ID        string             `json:",omitzero"` // NMTOKEN, required
	SeqNumber uint64             `json:",omitzero"` // required; 1 for the first command of an id
	Action    SubscriptionAction `json:",omitzero"`
	Expires   *uint64            `json:",omitzero"` // seconds, optional
	Frequency *uint64            `json:",omitzero"` // seconds, optional
}

// PublishResponse is <csbresponse> (draft section 4.1.2.4). Subscription
// carries the values a provider changed (expires, frequency).
type PublishResponse struct {
	Status       Status        `json:",omitzero"`
	Reason       string        `json:",omitzero"` // optional
	Subscription *Subscription `json:",omitzero"`
}

// Notification is <csbnotification> (draft section 4.1.2.3). The schema
// allows exactly one Cloud-Service, the draft's example has four; this
// model keeps a list (see CONFORMANCE.md).
type Notification struct {
	ID                string    `json:",omitzero"` // subscription id, NMTOKEN
	SeqNumber         uint64    `json:",omitzero"`
	Provider          Provider  `json:",omitzero"`
	Services          []Service `json:",omitzero"`
	EncryptionSupport *bool     `json:",omitzero"`
	Label             string    `json:",omitzero"` // NMTOKEN, optional ("" = absent)
}

// Provider is <Cloud-Service-Provider>.
type Provider struct {
	ID     string        `json:",omitzero"` // Cloud-Service-Provider-id, NMTOKEN
	Status ServiceStatus `json:",omitzero"` // Cloud-Service-Provider-status
	URI    string        `json:",omitzero"` // Cloud-Service-Provider-URI, optional
}

// Service is <Cloud-Service>. At most one of IaaS, PaaS, SaaS and DSaaS is
// set (the schema's choice).
type Service struct {
	ID     string        `json:",omitzero"` // Cloud-Service-id, NMTOKEN
	Status ServiceStatus `json:",omitzero"` // Cloud-Service-status
	URI    string        `json:",omitzero"` // Cloud-Service-URI, optional
	IaaS   *IaaS         `json:",omitzero"` // <IaaS-support>
	PaaS   *PaaS         `json:",omitzero"` // <PaaS-support>
	SaaS   *SaaS         `json:",omitzero"` // <SaaS-support>
	DSaaS  *DSaaS        `json:",omitzero"` // <DSaaS-support>
}

// ---------------------------------------------------------------------------
// csb-consumer

// Consumer is the <csbconsumer> root. Exactly one of Request and Response is
// set.
type Consumer struct {
	Version  string           `json:",omitzero"`
	Request  *ServiceRequest  `json:",omitzero"`
	Response *ServiceResponse `json:",omitzero"`
}

// ServiceRequest is <CloudServiceRequest> (draft section 4.2.2.1).
type ServiceRequest struct {
	JobInfo    *JobInfo `json:",omitzero"`
	IaaS       *IaaS    `json:",omitzero"`
	PaaS       *PaaS    `json:",omitzero"`
	SaaS       *SaaS    `json:",omitzero"`
	DSaaS      *DSaaS   `json:",omitzero"`
	Encryption *bool    `json:",omitzero"`
}

// ServiceResponse is <CloudServiceResponse> (draft section 4.2.2.2).
// Encryption is listed by the prose but absent from the schema (see
// CONFORMANCE.md).
type ServiceResponse struct {
	Status     Status           `json:",omitzero"`
	Reason     string           `json:",omitzero"`
	JobInfo    *ResponseJobInfo `json:",omitzero"`
	IaaS       *IaaS            `json:",omitzero"`
	PaaS       *PaaS            `json:",omitzero"`
	SaaS       *SaaS            `json:",omitzero"`
	DSaaS      *DSaaS           `json:",omitzero"`
	Encryption *bool            `json:",omitzero"`
}

// JobInfo is <job-info> (draft section 4.2.2.3).
type JobInfo struct {
	JobID  string    `json:",omitzero"` // NMTOKEN
	Action JobAction `json:",omitzero"`
}

// ResponseJobInfo is <response-job-info> (draft section 4.2.2.5).
type ResponseJobInfo struct {
	JobID           string `json:",omitzero"`
	JobStatus       string `json:",omitzero"`
	Expires         uint64 `json:",omitzero"` // lease seconds
	CloudServiceURI string `json:",omitzero"` // Cloud-service-URI, optional
}

// ---------------------------------------------------------------------------
// Content shared by both packages. The element names differ: the publish
// package suffixes "-support" (IaaS-support, compute-support, ...), the
// consumer package does not (IaaS, compute, ...).

// IaaS is <IaaS-support> (publish) or <IaaS> (consumer).
type IaaS struct {
	Link             *Link             `json:",omitzero"`
	Compute          *Compute          `json:",omitzero"`
	Network          *Network          `json:",omitzero"`
	Storage          *Storage          `json:",omitzero"`
	NetworkInterface *NetworkInterface `json:",omitzero"`
	StorageLink      *StorageLink      `json:",omitzero"`
}

// PaaS is <PaaS-support> or <PaaS>.
type PaaS struct {
	Link *Link `json:",omitzero"`
}

// SaaS is <SaaS-support> or <SaaS>.
type SaaS struct {
	Link *Link `json:",omitzero"`
}

// DSaaS is <DSaaS-support> or <DSaaS>.
type DSaaS struct {
	Link             *Link             `json:",omitzero"`
	DataObject       *DataObject       `json:",omitzero"`
	ContainerObject  *ContainerObject  `json:",omitzero"`
	DomainObject     *DomainObject     `json:",omitzero"`
	QueueObject      *QueueObject      `json:",omitzero"`
	CapabilityObject *CapabilityObject `json:",omitzero"`
}

// Link is <Link>.
type Link struct {
	Rel  string `json:",omitzero"` // optional
	Href string `json:",omitzero"` // anyURI, optional
}

// Compute is <compute-support> or <compute>.
type Compute struct {
	Architecture *string        `json:",omitzero"`
	Cores        *uint64        `json:",omitzero"`
	Hostname     *string        `json:",omitzero"`
	Speed        *uint64        `json:",omitzero"` // GHz
	Memory       *uint64        `json:",omitzero"` // GB
	Status       *ComputeStatus `json:",omitzero"`
	Action       *ComputeAction `json:",omitzero"`
}

// Network is <network-support> or <network>.
type Network struct {
	VLAN       *string        `json:",omitzero"` // vlan, NMTOKEN
	VLANLabel  *string        `json:",omitzero"` // VLANlabel, NMTOKEN
	Address    *string        `json:",omitzero"`
	Gateway    *string        `json:",omitzero"`
	Allocation *Allocation    `json:",omitzero"`
	Status     *NetworkStatus `json:",omitzero"`
	Action     *NetworkAction `json:",omitzero"`
}

// Storage is <storage-support> or <storage>.
type Storage struct {
	Size   *uint64        `json:",omitzero"` // GB
	Status *StorageStatus `json:",omitzero"`
	Action *StorageAction `json:",omitzero"`
}

// NetworkInterface is <NetworkInterface-support> or <NetworkInterface>.
type NetworkInterface struct {
	Interface  *string        `json:",omitzero"` // NMTOKEN
	MAC        *string        `json:",omitzero"`
	Status     *NetworkStatus `json:",omitzero"`
	IP         *string        `json:",omitzero"`
	Gateway    *string        `json:",omitzero"`
	Allocation *Allocation    `json:",omitzero"`
}

// StorageLink is <storagelink-support> or <storagelink>.
type StorageLink struct {
	DeviceID   *string        `json:",omitzero"` // NMTOKEN
	Mountpoint *string        `json:",omitzero"`
	Status     *NetworkStatus `json:",omitzero"`
}

// ObjectRefs are the children all five DSaaS object types have, in
// schema order, right after <metadata> (which CapabilityObject lacks):
// where the object is and what it hangs from. It is embedded, so its
// fields read as the object's own and its JSON is flat. A child the five
// types share is added here once, and once each in vocab.go (objectRefs),
// the reader (reader.object) and the writer (writer.object).
type ObjectRefs struct {
	ObjectURI       *string `json:",omitzero"`
	ObjectID        *string `json:",omitzero"` // NMTOKEN
	ParentURI       *string `json:",omitzero"`
	DomainURI       *string `json:",omitzero"`
	CapabilitiesURI *string `json:",omitzero"`
}

// DataObject is <DataObject-support> or <DataObject>.
type DataObject struct {
	Mimetype *string `json:",omitzero"`
	Metadata *string `json:",omitzero"`
	ObjectRefs
	Value  *string `json:",omitzero"`
	Status *string `json:",omitzero"`
}

// ContainerObject is <ContainerObject-support> or <ContainerObject>.
type ContainerObject struct {
	Metadata *string `json:",omitzero"`
	ObjectRefs
	Exports   *string `json:",omitzero"`
	Snapshots *string `json:",omitzero"`
	Children  *string `json:",omitzero"`
	Status    *string `json:",omitzero"`
}

// DomainObject is <DomainObject-support> or <DomainObject>.
type DomainObject struct {
	Metadata *string `json:",omitzero"`
	ObjectRefs
	Enabled  *bool   `json:",omitzero"`
	Children *string `json:",omitzero"`
}

// QueueObject is <QueueObject-support> or <QueueObject>.
type QueueObject struct {
	Metadata *string `json:",omitzero"`
	ObjectRefs
	Status *string `json:",omitzero"`
}

// CapabilityObject is <CapabilityObject-support> or <CapabilityObject>.
// The prose lists <capabilities> and <children>, which the schema lacks;
// the schema's <domainURI>, <capabilitiesURI> and <status> are kept.
type CapabilityObject struct {
	Type *CapabilityType `json:",omitzero"`
	ObjectRefs
	Status *string `json:",omitzero"`
}
