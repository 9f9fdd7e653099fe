// Package contract is the engine's contract with the cloud service
// adapters of the draft (section 3.4): the interface that turns a brokered
// request into a provider's native API, the resource an adapter hands
// back, the error classes every adapter reports, and the job route's
// contract (Fronter, CleanRoutePath). The engine owns it: the concrete
// adapters (the repository's adapters/cimi, occi, cdmi, link, openstack,
// aws) and the Caddy glue import it; nothing under broker/ imports them.
//
// This package does not import Caddy.
package contract

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Adapter provisions and manages resources at one provider through the
// provider's native API. Implementations must be safe for concurrent use,
// honour ctx deadlines, reuse connections and retry only idempotent calls.
type Adapter interface {
	// Provision creates the resources a matched request asks for. On
	// success the returned Resource describes them. On failure, a non-nil
	// Resource means something was (or may have been) created at the
	// provider: the broker calls Remove with it so no orphan remains.
	// Since the provider may list what a create whose answer was lost
	// made only later, and Remove does not say whether it found anything,
	// the broker calls Remove with it again a few times over the next half
	// hour (broker/jobs, Orphan.Lost), but never while the job holds a
	// resource at the same provider: such a handle may name the job there
	// (a client token, a server name) rather than one resource. Remove
	// with it must look for what it names again at each call.
	// A Resource whose State is StatePending is still being built; the
	// broker polls it with Status.
	Provision(ctx context.Context, req *Request) (*Resource, error)

	// Status reads the current state of a resource from the provider.
	Status(ctx context.Context, res *Resource) (*Resource, error)

	// Update applies a changed request to an existing resource: resize
	// (new cores, memory, size) and the actions carried in the request
	// (compute start/stop/restart/suspend, network up/down, storage
	// online/offline/backup/snapshot/resize).
	Update(ctx context.Context, res *Resource, req *Request) (*Resource, error)

	// Remove deletes everything the resource holds at the provider. Remove
	// of something already gone is not an error.
	Remove(ctx context.Context, res *Resource) error
}

// Holder is implemented by values that hand out an Adapter without being
// one. Caddy guest modules (csb.adapters.*) need it: their Provision
// method is caddy.Provisioner's Provision(caddy.Context) error, so the
// module value cannot also have Adapter's Provision. The app accepts a
// module that is an Adapter or a Holder.
type Holder interface {
	CSBAdapter() Adapter
}

// KindReporter is implemented by adapters that serve only some service
// models; ServiceKinds returns them as the catalogue spells them ("IaaS",
// "PaaS", "SaaS", "DSaaS"). A provider whose native APIs differ by model
// (CIMI for IaaS, CDMI for DSaaS) has one adapter per model, and the
// broker picks the one that reports the request's kind.
type KindReporter interface {
	ServiceKinds() []string
}

// Discoverer is implemented by adapters that can read a provider's offers
// from its native API, for providers that do not publish notifications.
type Discoverer interface {
	Discover(ctx context.Context) ([]csbmsg.Service, error)
}

// Finder is implemented by adapters that can find what a job created from
// the job id alone (they tag or name native resources with Request.JobID).
// The broker uses it after a crash between calling Provision and recording
// its result, so that no orphan remains. Find returns (nil, nil) when the
// provider holds nothing for the job. When it finds only part of what req
// asks for (the crash cut provisioning short), the Resource it returns is
// in StateFailed, and Status keeps reporting it so: the broker removes it
// rather than hand half a job to the consumer. Find changes nothing at the
// provider.
type Finder interface {
	Find(ctx context.Context, req *Request) (*Resource, error)
}

// Census is implemented by adapters that can tell, with a few listing
// calls, which of many resources the provider still holds. The broker's
// resource check pass (broker/jobs/check.go) asks it once per provider
// for a batch of jobs, instead of calling Status for each: with
// thousands of jobs a pass every five minutes would otherwise be
// thousands of calls, which real clouds rate-limit. Held reports, for
// each resource of res in order, true when the provider's listing showed
// every part of it, false when it did not; the pass then asks Status,
// which decides. A listing that misses something (paged, filtered, late)
// only costs Status calls. Held changes nothing at the provider.
type Census interface {
	Held(ctx context.Context, res []*Resource) ([]bool, error)
}

// Local is implemented by adapters whose Provision creates nothing
// outside the broker's process: the link adapter hands out a URL the
// provider published, and nothing at the provider changes. A crash
// during such a Provision leaves nothing to find or remove, so the
// broker writes no write-ahead record before calling it: a create's job
// is stored once, with its outcome, before the create answers (with
// Config.GroupCommit). CreatesNothing returns true for such an adapter.
type Local interface {
	CreatesNothing() bool
}

// NativeIncomplete is the Resource.Native key (value "true") by which an
// adapter's Find marks a job it found only part of, so that its Status
// keeps reporting the resource failed.
const NativeIncomplete = "incomplete"

// Request is what the broker asks an adapter to provision or update.
type Request struct {
	// JobID is the broker's job id. Adapters tag or name native resources
	// with it where the provider allows, so a crash mid-provisioning can be
	// reconciled.
	JobID string
	// Owner is the authenticated consumer, for adapters that tag resources.
	Owner string
	// Want is the consumer's request: the IaaS/PaaS/SaaS/DSaaS elements and
	// the encryption flag. JobInfo is not set.
	Want csbmsg.ServiceRequest
	// ProviderID and Service identify the catalogue entry placement chose.
	ProviderID string
	Service    csbmsg.Service
}

// State is the life state of a provisioned resource as the adapter sees it.
type State string

// Resource states.
const (
	StatePending State = "pending" // being built; poll Status
	StateReady   State = "ready"
	StateFailed  State = "failed"
	StateGone    State = "gone" // removed at the provider, or never existed
)

// Resource is a provider-side handle on what a job created. It is persisted
// with the job, so everything in it must survive a JSON round trip.
type Resource struct {
	// URI is the provider's own URI for the created resource; it becomes
	// the job's Cloud-service-URI.
	URI string `json:"uri"`
	// State is the resource's life state.
	State State `json:"state"`
	// Granted echoes the resources actually granted, with the provider's
	// actual values (cores, memory, sizes, addresses, statuses).
	Granted csbmsg.ServiceRequest `json:"granted"`
	// Native holds the adapter's own references (machine, volume, network,
	// container and object URIs or ids), keyed by names the adapter
	// chooses. The broker stores it and hands it back; it never reads it.
	Native map[string]string `json:"native,omitempty"`
	// Endpoint is the native API base URL that a transparent proxy should
	// forward this job's traffic to, if the adapter supports that.
	Endpoint string `json:"endpoint,omitempty"`
}

// ErrorKind classifies adapter failures for job records and metrics.
type ErrorKind string

// Error kinds.
const (
	KindClient      ErrorKind = "provider_4xx" // the provider refused the request
	KindServer      ErrorKind = "provider_5xx" // the provider failed
	KindTimeout     ErrorKind = "timeout"      // deadline or transport timeout
	KindUnsupported ErrorKind = "unsupported"  // the adapter cannot express the request
	KindCapacity    ErrorKind = "capacity"     // the provider has no room
	KindTransport   ErrorKind = "transport"    // connection refused, TLS, DNS
	KindNotFound    ErrorKind = "not_found"    // the resource does not exist
)

// Error is the error every adapter returns for a failed operation.
type Error struct {
	Kind   ErrorKind
	Op     string // provision, status, update, remove, discover, or a native operation name
	Status int    // native HTTP status, 0 if none
	Err    error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: %s (HTTP %d): %v", e.Op, e.Kind, e.Status, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Op, e.Kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of an adapter error, or "" if err is not one.
func KindOf(err error) ErrorKind {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return ""
}
