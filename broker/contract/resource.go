package contract

import (
	"fmt"
	"maps"
)

// Clone returns a copy of r with a Native map of its own, so that an
// adapter can change the copy's state and references without touching
// the caller's Resource (which the broker may have persisted). Granted is
// shared: adapters replace it rather than change it in place.
func (r *Resource) Clone() *Resource {
	out := *r
	out.Native = maps.Clone(r.Native)
	if out.Native == nil {
		out.Native = map[string]string{}
	}
	return &out
}

// Worse returns the less settled of two states, in the order ready,
// pending, failed, gone: the state of a resource made of parts in states
// a and b.
func Worse(a, b State) State {
	if stateRank(b) > stateRank(a) {
		return b
	}
	return a
}

func stateRank(s State) int {
	switch s {
	case StateReady:
		return 0
	case StatePending:
		return 1
	case StateFailed:
		return 2
	case StateGone:
		return 3
	}
	return 0
}

// Errorf returns an *Error of the given kind for operation op, its cause
// formatted as fmt.Errorf does.
func Errorf(kind ErrorKind, op, format string, args ...any) *Error {
	return &Error{Kind: kind, Op: op, Err: fmt.Errorf(format, args...)}
}
