package contract

import "context"

// Machine actions an Actor runs (DSP0263's standard Machine actions, by
// their last path segment).
const (
	ActionStart   = "start"
	ActionStop    = "stop"
	ActionRestart = "restart"
	ActionSuspend = "suspend"
)

// Machine life states an Actor reports (DSP0263 Machine.state).
const (
	MachineCreating = "CREATING"
	MachineStarting = "STARTING"
	MachineStarted  = "STARTED"
	MachineStopping = "STOPPING"
	MachineStopped  = "STOPPED"
	MachineSuspend  = "SUSPENDED"
	MachineError    = "ERROR"
	MachineDeleting = "DELETING"
)

// Actor is implemented by adapters that run a compute resource's life
// cycle actions directly (start, stop, restart, suspend) and read the
// provider's own life state of the machine. Front-ends that expose
// machines (CIMI) use it through jobs.Manager.Act and Observe; an adapter
// without it has its actions run through Update with a compute action,
// and its machine state derived from Status.
type Actor interface {
	// Act runs action on the machine res holds and returns the resource
	// as it stands after the provider accepted the action (it may still
	// be in a transitional state). An action the machine does not offer
	// in its current state is an *Error of kind KindClient.
	Act(ctx context.Context, res *Resource, action string) (*Resource, error)
	// MachineState returns the provider's life state of the machine res
	// holds, in DSP0263's words (STARTED, STOPPED, ...), or StateGone's
	// *Error of kind KindNotFound when the provider no longer holds it.
	MachineState(ctx context.Context, res *Resource) (string, error)
}
