package cimi

import (
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// This file is the adapter's whole CSB <-> CIMI mapping, as tables the
// code reads. README.md documents the same tables; a test keeps the two in
// step.

// Units: the draft's memory and storage sizes are in GB, read as GiB
// (2^30 bytes); CIMI's memory and capacities are in KiB (DSP0263:
// "kibibytes"). Converting CIMI to CSB rounds down, so a granted value is
// never overstated.
const kibPerGB = 1 << 20

func gbToKiB(gb uint64) uint64  { return gb * kibPerGB }
func kibToGB(kib uint64) uint64 { return kib / kibPerGB }

// Field is one row of the element mapping: a CSB element, the CIMI
// attribute it becomes, and the conversions both ways.
type Field struct {
	CSB  string // CSB element (consumer names; the publish names add -support)
	CIMI string // CIMI resource.attribute
	Unit string // conversion, if any
	// toCIMI copies the request's value into the machine configuration
	// (compute rows only); nil for rows handled elsewhere.
	toCIMI func(c *csbmsg.Compute, mc *MachineConfiguration)
	// fromMachine sets the granted value from a Machine (compute rows).
	fromMachine func(m *Machine, c *csbmsg.Compute)
	// fromConfig sets the discovered offer from a MachineConfiguration.
	fromConfig func(mc *MachineConfiguration, c *csbmsg.Compute)
}

// ComputeFields maps <compute> to a Machine built from an inline
// MachineTemplate.machineConfig.
var ComputeFields = []Field{
	{
		CSB: "compute/cores", CIMI: "MachineConfiguration.cpu", Unit: "count",
		toCIMI:      func(c *csbmsg.Compute, mc *MachineConfiguration) { mc.CPU = deref(c.Cores) },
		fromMachine: func(m *Machine, c *csbmsg.Compute) { c.Cores = ptr(m.CPU) },
		fromConfig:  func(mc *MachineConfiguration, c *csbmsg.Compute) { c.Cores = ptr(mc.CPU) },
	},
	{
		CSB: "compute/memory", CIMI: "MachineConfiguration.memory", Unit: "GB -> KiB (x 1048576)",
		toCIMI:      func(c *csbmsg.Compute, mc *MachineConfiguration) { mc.Memory = gbToKiB(deref(c.Memory)) },
		fromMachine: func(m *Machine, c *csbmsg.Compute) { c.Memory = ptr(kibToGB(m.Memory)) },
		fromConfig:  func(mc *MachineConfiguration, c *csbmsg.Compute) { c.Memory = ptr(kibToGB(mc.Memory)) },
	},
	{
		CSB: "compute/architecture", CIMI: "MachineConfiguration.cpuArch", Unit: "as is (x86_64, ARM, ...)",
		toCIMI: func(c *csbmsg.Compute, mc *MachineConfiguration) {
			if c.Architecture != nil {
				mc.CPUArch = *c.Architecture
			}
		},
		fromMachine: func(m *Machine, c *csbmsg.Compute) {
			if m.CPUArch != "" {
				c.Architecture = ptr(m.CPUArch)
			}
		},
		fromConfig: func(mc *MachineConfiguration, c *csbmsg.Compute) {
			if mc.CPUArch != "" {
				c.Architecture = ptr(mc.CPUArch)
			}
		},
	},
	{
		CSB: "compute/hostname", CIMI: "Machine.name", Unit: "as is; default csb-<job-id>",
		fromMachine: func(m *Machine, c *csbmsg.Compute) {
			if m.Name != "" {
				c.Hostname = ptr(m.Name)
			}
		},
	},
	{CSB: "compute/status", CIMI: "Machine.state", Unit: "see MachineStates"},
	{CSB: "compute/action", CIMI: "Machine.operations[rel=.../action/<x>]", Unit: "see ComputeActions"},
	{CSB: "compute/speed", CIMI: "(none)", Unit: "not expressible in CIMI; placement checks it against the offer"},
	{CSB: "storage/size", CIMI: "Volume.capacity", Unit: "GB -> KiB (x 1048576)"},
	{CSB: "storage/status", CIMI: "Volume.state", Unit: "see VolumeStates"},
	{CSB: "storage/action", CIMI: "Volume edit (resize only)", Unit: "see StorageActions"},
	{CSB: "network/VLANlabel", CIMI: "Network.name", Unit: "as is"},
	{CSB: "network/vlan", CIMI: "Network.properties[vlan]", Unit: "as is"},
	{CSB: "network/status", CIMI: "Network.state", Unit: "STARTED -> active, STOPPED -> inactive, ERROR -> failed"},
	{CSB: "network/action", CIMI: "Network.operations[rel=.../action/start|stop]", Unit: "up -> start, down -> stop"},
	{CSB: "network/allocation", CIMI: "(none)", Unit: "always dynamic"},
	{CSB: "NetworkInterface", CIMI: "MachineTemplate.networkInterfaces[].network", Unit: "the job's network"},
	{CSB: "storagelink/mountpoint, deviceID", CIMI: "MachineVolume.initialLocation", Unit: "mountpoint, else deviceID"},
}

// StateRow maps one CIMI resource state.
type StateRow struct {
	State   contract.State
	Compute csbmsg.ComputeStatus // "" when not settled
}

// MachineStates maps Machine.state (DSP0263) to the adapter's life state and
// the CSB compute status.
var MachineStates = map[string]StateRow{
	"CREATING":   {contract.StatePending, ""},
	"STARTING":   {contract.StatePending, ""},
	"STARTED":    {contract.StateReady, csbmsg.ComputeActive},
	"STOPPING":   {contract.StatePending, ""},
	"STOPPED":    {contract.StateReady, csbmsg.ComputeInactive},
	"PAUSING":    {contract.StatePending, ""},
	"PAUSED":     {contract.StateReady, csbmsg.ComputeSuspended},
	"SUSPENDING": {contract.StatePending, ""},
	"SUSPENDED":  {contract.StateReady, csbmsg.ComputeSuspended},
	"CAPTURING":  {contract.StatePending, ""},
	"RESTORING":  {contract.StatePending, ""},
	"DELETING":   {contract.StatePending, ""},
	"ERROR":      {contract.StateFailed, ""},
	"FAILED":     {contract.StateFailed, ""},
}

// VolumeStates maps Volume.state to the CSB storage status ("" = still
// being built).
var VolumeStates = map[string]csbmsg.StorageStatus{
	"CREATING":  "",
	"AVAILABLE": csbmsg.StorageOnline,
	"CAPTURING": csbmsg.StorageOnline,
	"DELETING":  csbmsg.StorageOffline,
	"ERROR":     csbmsg.StorageDegraded,
}

// NetworkStates maps Network.state to the CSB network status.
var NetworkStates = map[string]csbmsg.NetworkStatus{
	"STARTED": csbmsg.NetworkActive,
	"STOPPED": csbmsg.NetworkInactive,
}

// NetworkFailed is the Network.state of a network that will not become
// usable: the job is failed (the broker removes it) rather than pending
// until its deadline.
const NetworkFailed = "ERROR"

// ComputeActions maps <compute><action> to CIMI action URIs, POSTed as an
// Action to the Machine operation with that rel.
var ComputeActions = map[csbmsg.ComputeAction]string{
	csbmsg.ComputeStart:   ActionNS + "start",
	csbmsg.ComputeStop:    ActionNS + "stop",
	csbmsg.ComputeRestart: ActionNS + "restart",
	csbmsg.ComputeSuspend: ActionNS + "suspend",
}

// NetworkActions maps <network><action> to CIMI Network actions.
var NetworkActions = map[csbmsg.NetworkAction]string{
	csbmsg.NetworkUp:   ActionNS + "start",
	csbmsg.NetworkDown: ActionNS + "stop",
}

// StorageActions says which <storage><action> values CIMI can express:
// resize edits Volume.capacity; CIMI 1.x has no standard online, offline,
// backup or snapshot operation on a Volume, so those are unsupported.
var StorageActions = map[csbmsg.StorageAction]bool{
	csbmsg.StorageActResize:   true,
	csbmsg.StorageActOnline:   false,
	csbmsg.StorageActOffline:  false,
	csbmsg.StorageActBackup:   false,
	csbmsg.StorageActSnapshot: false,
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
