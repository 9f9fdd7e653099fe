package cdmi

import (
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// This file is the adapter's whole CSB <-> CDMI mapping, as tables the code
// reads. README.md documents the same tables; a test keeps them in step.

// Content types and headers (CDMI 1.1.1).
const (
	VersionHeader  = "X-CDMI-Specification-Version"
	Version        = "1.1.1"
	TypeObject     = "application/cdmi-object"
	TypeContainer  = "application/cdmi-container"
	TypeDomain     = "application/cdmi-domain"
	TypeQueue      = "application/cdmi-queue"
	TypeCapability = "application/cdmi-capability"
)

// ObjectRow maps one DSaaS request element to CDMI.
type ObjectRow struct {
	CSB         string // the DSaaS element
	ContentType string // CDMI content type
	Path        string // where the adapter puts it, relative to the endpoint
	Create      string // the CDMI operation that creates it
	Remove      string // the CDMI operation that removes it ("" = nothing to remove)
	Capability  string // the system-wide capability that must be "true" to offer it (discovery)
}

// Objects is the element mapping. <job> is the broker's job id with the
// configured prefix; <name> is the request's objectID when given (an
// NMTOKEN), else "data" or "queue".
var Objects = []ObjectRow{
	{CSB: "ContainerObject", ContentType: TypeContainer, Path: "<job>/", Create: "PUT <job>/ {metadata}", Remove: "DELETE <job>/", Capability: "(always)"},
	{CSB: "DataObject", ContentType: TypeObject, Path: "<job>/<name>", Create: "PUT <job>/<name> {mimetype, metadata, value}", Remove: "DELETE <job>/<name>", Capability: "cdmi_dataobjects"},
	{CSB: "QueueObject", ContentType: TypeQueue, Path: "<job>/<name>", Create: "PUT <job>/<name> {metadata}", Remove: "DELETE <job>/<name>", Capability: "cdmi_queues"},
	{CSB: "DomainObject", ContentType: TypeDomain, Path: "cdmi_domains/<job>/", Create: "PUT cdmi_domains/<job>/ {metadata}", Remove: "DELETE cdmi_domains/<job>/", Capability: "cdmi_domains"},
	{CSB: "CapabilityObject", ContentType: TypeCapability, Path: "cdmi_capabilities/<type>", Create: "GET cdmi_capabilities/<type> (read only)", Remove: "", Capability: "(always)"},
}

// FieldRow maps one child element of the DSaaS objects to a CDMI field.
type FieldRow struct {
	CSB, CDMI, Note string
}

// Fields is the field mapping shared by every object element.
var Fields = []FieldRow{
	{"objectURI", "the object's URL (endpoint + path)", "granted"},
	{"objectID", "objectID", "granted; the server assigns it. In a request it names the data or queue object"},
	{"parentURI", "parentURI", "granted"},
	{"domainURI", "domainURI", "granted"},
	{"capabilitiesURI", "capabilitiesURI", "granted"},
	{"metadata", "metadata", "a JSON object is sent as is; any other text goes in the user metadata item csb_metadata"},
	{"Mimetype", "mimetype", "DataObject; default text/plain"},
	{"value", "value", "DataObject; sent with valuetransferencoding utf-8. Status reads a data object without its value (`GET <object>?<field>;...`), then the value for the grant unless its cdmi_size is 4 MiB or more. A value stored with valuetransferencoding base64 is granted decoded, and left out when it is not UTF-8 text"},
	{"status", "completionStatus", "Complete -> ready, Processing -> pending, Error -> failed"},
	{"children", "children", "ContainerObject and DomainObject; comma-separated names. Status reads a container or domain without its children, then its children in ranges (`?children:<from>-<to>`), each as large as fits an answer"},
	{"enabled", "metadata cdmi_domain_enabled", "DomainObject; true/false"},
	{"exports, snapshots", "(none)", "not created; echoed empty"},
	{"Capabilityobjecttype", "cdmi_capabilities/<type>", "see CapabilityPaths"},
}

// CapabilityPaths maps <CapabilityObject><type> to the capability object
// the adapter reads.
var CapabilityPaths = map[csbmsg.CapabilityType]string{
	csbmsg.CapSystemWide:      "cdmi_capabilities/",
	csbmsg.CapStorageMetadata: "cdmi_capabilities/",
	csbmsg.CapDataSysMetadata: "cdmi_capabilities/",
	csbmsg.CapDataObject:      "cdmi_capabilities/dataobject/",
	csbmsg.CapContainer:       "cdmi_capabilities/container/",
	csbmsg.CapDomain:          "cdmi_capabilities/domain/",
	csbmsg.CapQueueObject:     "cdmi_capabilities/queue/",
}
