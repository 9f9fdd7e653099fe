package cimi

import (
	"encoding/json"
	"maps"
	"slices"
)

// CIMI JSON binding (DSP0263): the resources this adapter reads and writes.
// Unknown attributes are ignored when reading; only the attributes the
// adapter sets are written.

// Protocol constants.
const (
	// NS is the CIMI namespace; resourceURI values and action URIs are
	// built on it.
	NS = "http://schemas.dmtf.org/cimi/1"
	// ActionNS prefixes the standard action URIs (".../action/start").
	ActionNS = NS + "/action/"
	// MediaType is the JSON binding's media type.
	MediaType = "application/json"
	// VersionHeader is the CIMI version header.
	VersionHeader = "CIMI-Specification-Version"
	// JobHeader names the Job an asynchronous operation created.
	JobHeader = "CIMI-Job-URI"
	// Version is the CIMI version the adapter speaks.
	Version = "1.1.0"
)

// Ref is a reference attribute ({"href": ...}).
type Ref struct {
	Href string `json:"href"`
}

// Operation is one entry of a resource's operations array.
type Operation struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// CloudEntryPoint lists the provider's collections.
type CloudEntryPoint struct {
	ResourceURI      string `json:"resourceURI"`
	ID               string `json:"id"`
	Name             string `json:"name,omitempty"`
	BaseURI          string `json:"baseURI,omitempty"`
	Machines         *Ref   `json:"machines,omitempty"`
	MachineConfigs   *Ref   `json:"machineConfigs,omitempty"`
	MachineImages    *Ref   `json:"machineImages,omitempty"`
	MachineTemplates *Ref   `json:"machineTemplates,omitempty"`
	Volumes          *Ref   `json:"volumes,omitempty"`
	VolumeConfigs    *Ref   `json:"volumeConfigs,omitempty"`
	Networks         *Ref   `json:"networks,omitempty"`
	Jobs             *Ref   `json:"jobs,omitempty"`
}

// Disk is a MachineConfiguration disk. Capacity is in KiB.
type Disk struct {
	Capacity        uint64 `json:"capacity"`
	Format          string `json:"format,omitempty"`
	InitialLocation string `json:"initialLocation,omitempty"`
}

// MachineConfiguration is the hardware of a machine: cpu (count), memory
// (KiB), cpuArch, disks. Inline in a MachineTemplate it has no id.
type MachineConfiguration struct {
	ResourceURI string `json:"resourceURI,omitempty"`
	ID          string `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	CPU         uint64 `json:"cpu,omitempty"`
	Memory      uint64 `json:"memory,omitempty"`
	CPUArch     string `json:"cpuArch,omitempty"`
	Disks       []Disk `json:"disks,omitempty"`
}

// MachineImage is an image a machine boots.
type MachineImage struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	State string `json:"state,omitempty"`
	Type  string `json:"type,omitempty"`
}

// Machine is a running (or stopped) instance.
type Machine struct {
	ResourceURI string            `json:"resourceURI,omitempty"`
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	State       string            `json:"state,omitempty"`
	CPU         uint64            `json:"cpu,omitempty"`
	Memory      uint64            `json:"memory,omitempty"`
	CPUArch     string            `json:"cpuArch,omitempty"`
	Volumes     *Ref              `json:"volumes,omitempty"`
	Properties  map[string]string `json:"properties,omitempty"`
	Operations  []Operation       `json:"operations,omitempty"`
}

// createdMachine is what the adapter reads of the Machine a create
// answers with: what status takes from a Machine (state and the fields
// of ComputeFields' fromMachine), its id and its volumes collection (for
// attaching the job's volume). Decoding only these, a create does not
// make strings for the operations, properties and description it does
// not look at. TestCreatedMachineStatus holds the status taken from it to
// the status read back.
type createdMachine struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	State   string `json:"state"`
	CPU     uint64 `json:"cpu"`
	Memory  uint64 `json:"memory"`
	CPUArch string `json:"cpuArch"`
	Volumes *Ref   `json:"volumes"`
}

// machine is c as a Machine.
func (c *createdMachine) machine() *Machine {
	return &Machine{ID: c.ID, Name: c.Name, State: c.State, CPU: c.CPU, Memory: c.Memory, CPUArch: c.CPUArch, Volumes: c.Volumes}
}

// Volume is block storage. Capacity is in KiB.
type Volume struct {
	ResourceURI string      `json:"resourceURI,omitempty"`
	ID          string      `json:"id,omitempty"`
	Name        string      `json:"name,omitempty"`
	State       string      `json:"state,omitempty"`
	Type        string      `json:"type,omitempty"`
	Format      string      `json:"format,omitempty"`
	Capacity    uint64      `json:"capacity,omitempty"`
	Operations  []Operation `json:"operations,omitempty"`
}

// Network is a layer-2 network.
type Network struct {
	ResourceURI string            `json:"resourceURI,omitempty"`
	ID          string            `json:"id,omitempty"`
	Name        string            `json:"name,omitempty"`
	State       string            `json:"state,omitempty"`
	NetworkType string            `json:"networkType,omitempty"`
	MTU         int               `json:"mtu,omitempty"`
	Properties  map[string]string `json:"properties,omitempty"`
	Operations  []Operation       `json:"operations,omitempty"`
}

// Job tracks an asynchronous operation.
type Job struct {
	ID             string `json:"id"`
	State          string `json:"state"`
	Action         string `json:"action,omitempty"`
	TargetResource *Ref   `json:"targetResource,omitempty"`
	ReturnCode     int    `json:"returnCode,omitempty"`
	Progress       int    `json:"progress,omitempty"`
	StatusMessage  string `json:"statusMessage,omitempty"`
}

// MachineTemplate is the inline template of a MachineCreate.
type MachineTemplate struct {
	MachineConfig     *MachineConfiguration      `json:"machineConfig,omitempty"`
	MachineImage      *Ref                       `json:"machineImage,omitempty"`
	NetworkInterfaces []NetworkInterfaceTemplate `json:"networkInterfaces,omitempty"`
	InitialState      string                     `json:"initialState,omitempty"`
}

// NetworkInterfaceTemplate attaches a new machine to a network.
type NetworkInterfaceTemplate struct {
	Network *Ref `json:"network,omitempty"`
}

// MachineCreate is the body that creates a Machine.
type MachineCreate struct {
	ResourceURI     string            `json:"resourceURI"`
	Name            string            `json:"name,omitempty"`
	Description     string            `json:"description,omitempty"`
	Properties      map[string]string `json:"properties,omitempty"`
	MachineTemplate MachineTemplate   `json:"machineTemplate"`
}

// VolumeConfiguration is an inline volume configuration (capacity KiB).
type VolumeConfiguration struct {
	Type     string `json:"type,omitempty"`
	Format   string `json:"format,omitempty"`
	Capacity uint64 `json:"capacity"`
}

// VolumeCreate is the body that creates a Volume.
type VolumeCreate struct {
	ResourceURI    string            `json:"resourceURI"`
	Name           string            `json:"name,omitempty"`
	Description    string            `json:"description,omitempty"`
	Properties     map[string]string `json:"properties,omitempty"`
	VolumeTemplate struct {
		VolumeConfig VolumeConfiguration `json:"volumeConfig"`
	} `json:"volumeTemplate"`
}

// NetworkConfiguration is an inline network configuration.
type NetworkConfiguration struct {
	NetworkType string `json:"networkType"`
	MTU         int    `json:"mtu,omitempty"`
}

// NetworkCreate is the body that creates a Network.
type NetworkCreate struct {
	ResourceURI     string            `json:"resourceURI"`
	Name            string            `json:"name,omitempty"`
	Description     string            `json:"description,omitempty"`
	Properties      map[string]string `json:"properties,omitempty"`
	NetworkTemplate struct {
		NetworkConfig NetworkConfiguration `json:"networkConfig"`
	} `json:"networkTemplate"`
}

// MachineVolume attaches a Volume to a Machine.
type MachineVolume struct {
	ResourceURI     string      `json:"resourceURI,omitempty"`
	ID              string      `json:"id,omitempty"`
	InitialLocation string      `json:"initialLocation,omitempty"`
	Volume          Ref         `json:"volume"`
	Operations      []Operation `json:"operations,omitempty"`
}

// Action is the body POSTed to an operation's href.
type Action struct {
	ResourceURI string `json:"resourceURI"`
	Action      string `json:"action"`
}

// collection decodes any CIMI collection: its members are the one array
// attribute besides "operations" (machines, machineConfigurations, ...).
type collection struct {
	ID         string
	Count      int
	Operations []Operation
	Members    []json.RawMessage
}

func (c *collection) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	_ = json.Unmarshal(raw["id"], &c.ID)
	_ = json.Unmarshal(raw["count"], &c.Count)
	_ = json.Unmarshal(raw["operations"], &c.Operations)
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if k == "operations" || k == "properties" {
			continue
		}
		var arr []json.RawMessage
		if json.Unmarshal(raw[k], &arr) == nil && arr != nil {
			c.Members = append(c.Members, arr...)
		}
	}
	return nil
}

// op returns the href of the operation with the given rel, or "".
func op(ops []Operation, rel string) string {
	for _, o := range ops {
		if o.Rel == rel {
			return o.Href
		}
	}
	return ""
}
