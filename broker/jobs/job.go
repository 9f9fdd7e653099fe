// Package jobs runs the broker's consumer jobs (draft section 4.2): it
// places a <CloudServiceRequest>, provisions it through the chosen
// provider's adapter with substitution on failure, and keeps the job, its
// lease and its history durable in a store.Store.
//
// # Lifecycle
//
// A job is pending when it is accepted (placement done, intent recorded),
// provisioning while an adapter call or the polling of a resource the
// provider is still building is under way, then success or failed. A
// successful job holds a lease; when the lease ends without renewal the
// reaper removes the resources at the provider and the job becomes
// expired. A consumer's remove makes it removed. Failed jobs hold no
// resources: their record is deleted after Config.RetainFailed. Expired
// and removed jobs are kept for the retention period (history,
// idempotent retries), then deleted. An owner holds at most
// Config.MaxJobsPerOwner records, retained ones included.
//
// A create's answer never contradicts what happens later: when the store
// refuses to record a create's progress (a full volume), the job is
// deleted and the answer is a failure, or, when it cannot be deleted
// either (or the consumer was already told it is pending), the answer
// carries the job id and says it is pending, and the reaper finishes it
// once the store works again.
//
// # Durability and clusters
//
// Every state change is written to the store before the next external
// call (write-ahead): an operation records its intent (Op) and each
// attempt before calling the adapter, and the resource handle as soon as
// the adapter returns one. Whoever works on a job holds the job's store
// lock for the duration. When a process dies, its locks go stale (Caddy's
// file-system storage: after 10 s), and any instance sharing the storage
// finds the job with an unfinished Op, takes the lock and finishes the
// work or cleans up: it polls the recorded resource, asks the adapter to
// find what the job id created (contract.Finder), retries or substitutes,
// and removes partial resources. The reaper runs on every instance; the
// per-job lock and a re-read of the job under it make each lease reaped
// exactly once.
//
// # Ownership
//
// A job belongs to the user who created it. Every operation takes the
// requesting user; a job id that does not exist and a job id that belongs
// to someone else give the same error, ErrNoJob, by the same path (one
// read of a missing key of the owner index, see owner.go), so job ids
// cannot be probed, not even by timing.
//
// This package does not import Caddy.
package jobs

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Status is a job's status, reported as <job-status>.
type Status string

// Job statuses.
const (
	StatusPending      Status = "pending"
	StatusProvisioning Status = "provisioning"
	StatusSuccess      Status = "success"
	StatusFailed       Status = "failed"
	StatusExpired      Status = "expired"
	StatusRemoved      Status = "removed"
)

// canonical returns the package's constant for a known status, so that a
// status decoded from a record does not keep a string of its own.
func (s Status) canonical() Status {
	for _, c := range [...]Status{StatusPending, StatusProvisioning, StatusSuccess, StatusFailed, StatusExpired, StatusRemoved} {
		if s == c {
			return c
		}
	}
	return s
}

// InFlight reports whether provisioning has not finished yet.
func (s Status) InFlight() bool { return s == StatusPending || s == StatusProvisioning }

// Final reports whether the job holds nothing any more.
func (s Status) Final() bool { return s == StatusExpired || s == StatusRemoved }

// OpKind names an operation in progress on a job.
type OpKind string

// Operations.
const (
	OpCreate OpKind = "create" // provision a new job (also a COPY's new job)
	OpUpdate OpKind = "update"
	OpRemove OpKind = "remove"
	OpMove   OpKind = "move"
	OpReap   OpKind = "reap"
)

// Op is an operation in progress, recorded before it calls an adapter so
// that another process can finish it after a crash.
type Op struct {
	Kind     OpKind    `json:"kind"`
	Instance string    `json:"instance"` // the process that started it
	Started  time.Time `json:"started"`
	// Next is the index in Job.Plan of the next candidate to try.
	Next int `json:"next"`
	// Update is the request an update applies.
	Update *csbmsg.ServiceRequest `json:"update,omitempty"`
	// Move: the original placement, removed once the new one succeeded.
	OldProvider string                `json:"old_provider,omitempty"`
	OldService  *catalog.ServiceEntry `json:"old_service,omitempty"`
	OldResource *contract.Resource    `json:"old_resource,omitempty"`
	// OldEncryption and OldIgnored are the original placement's
	// encryption-support and ignored fields, kept when the new placement
	// takes the job's (succeed) so that an undone move restores them.
	OldEncryption bool     `json:"old_encryption,omitempty"`
	OldIgnored    []string `json:"old_ignored,omitempty"`
	// OldLeaseSeconds is the job's lease before the move, which set
	// Job.LeaseSeconds to the lease it grants (Csb-Lease): a move that
	// fails or is undone restores it. Zero in a record written before it
	// was kept: the lease is left as it is.
	OldLeaseSeconds uint64 `json:"old_lease_seconds,omitempty"`
	// Swapped is set once a move's new resource is in place and only the
	// original remains to be removed.
	Swapped bool `json:"swapped,omitempty"`
}

// PlanEntry is one ranked candidate of a job's placement.
type PlanEntry struct {
	ProviderID string               `json:"provider_id"`
	ServiceID  string               `json:"service_id"`
	Service    catalog.ServiceEntry `json:"service"`
	Encryption bool                 `json:"encryption,omitempty"`
	// Unhonoured are the request fields the provider's adapter does not
	// honour (only with Config.IgnoreUnhonoured): they are ignored there.
	Unhonoured []string `json:"unhonoured_fields,omitempty"`
	// Price is the provider's price per hour per cost unit at placement
	// (placement.Candidate.Price); nil when it publishes none.
	Price *float64 `json:"price,omitempty"`
}

// Attempt outcomes.
const (
	OutcomeInProgress  = "in_progress"
	OutcomeSuccess     = "success"
	OutcomeFailed      = "failed"
	OutcomeTimeout     = "timeout"
	OutcomeInterrupted = "interrupted" // the process died during the attempt
)

// Attempt is one try to provision a job at one provider.
type Attempt struct {
	ProviderID string    `json:"provider_id"`
	ServiceID  string    `json:"service_id"`
	Purpose    OpKind    `json:"purpose"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended,omitzero"`
	Outcome    string    `json:"outcome"`
	ErrorKind  string    `json:"error_kind,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	// Resource is what the adapter returned, recorded as soon as known so
	// a crash cannot lose it.
	Resource *contract.Resource `json:"resource,omitempty"`
	// Partial marks a Resource the adapter returned together with an
	// error: something was (or may have been) created, but the attempt did
	// not succeed. A resumed attempt removes it instead of trusting it.
	// Partial without a Resource: a resumption removed the recorded part
	// but could not ask the provider for the rest; whatever the provider
	// still holds for the job is removed too, not adopted.
	Partial bool `json:"partial,omitempty"`
	// Cleanup says what happened to a failed attempt's partial resource:
	// "removed", "nothing to remove", "failed: ..." (then it is in
	// Job.Orphans and the reaper retries), or, for a Partial one that was
	// removed, cleanupRechecked (then it is in Job.Orphans, Lost, and the
	// reaper removes it again later).
	Cleanup string `json:"cleanup,omitempty"`
	// FindFailures counts the resumptions of this interrupted attempt at
	// which the provider could not be asked what it holds for the job
	// (resumeAttempt): the attempt is resumed again at the next reaper
	// pass rather than retried blind, up to maxFindFailures.
	FindFailures int `json:"find_failures,omitempty"`
}

// Orphan is a resource whose removal failed, or is queued, or (Lost) the
// handle of a create whose answer was lost; the reaper retries it until
// the provider confirms it gone, or, for a Lost one, until its last
// recheck (lostRechecks).
type Orphan struct {
	ProviderID string `json:"provider_id"`
	// ServiceID is the service the resource was placed on, when known
	// (a removal queued while the service was withdrawn).
	ServiceID string             `json:"service_id,omitempty"`
	Resource  *contract.Resource `json:"resource"`
	Since     time.Time          `json:"since"`
	LastError string             `json:"last_error,omitempty"`
	// Lost marks the handle a failed Provision returned (Attempt.Partial):
	// the provider may have carried the create out, and may list what it
	// made only later (an eventually consistent API, a create still
	// queued), so a Remove that succeeded may have found nothing there
	// yet; the contract does not tell the two apart. The reaper removes it
	// again on lostRechecks' schedule, and drops it after the last.
	Lost bool `json:"lost,omitempty"`
	// Removals counts a Lost orphan's Removes that succeeded.
	Removals int `json:"removals,omitempty"`
	// Due is when the reaper next removes a Lost orphan (zero: at every
	// pass, as any orphan, until a Remove succeeds).
	Due time.Time `json:"due,omitzero"`
	// Failures counts the reaper's Removes of the orphan that failed in a
	// row (a provider down), and Retry is when it tries again: one reap
	// interval after the first, twice as long after each further one, up
	// to 15 minutes. Stored with the job, so a restarted broker, or
	// another one sharing the store, keeps to it. Zero: at the next pass.
	Failures int       `json:"failures,omitempty"`
	Retry    time.Time `json:"retry,omitzero"`
}

// ReclaimRetry is when the reaper tries again the reclaim of a lease that
// failed at its provider (a provider down): after one reap interval,
// then twice as long after each failure, up to reclaimBackoffMax.
type ReclaimRetry struct {
	// Expires is the lease end whose reclaim failed.
	Expires time.Time `json:"expires"`
	// Failures counts its failed reclaims.
	Failures int `json:"failures"`
	// Next is when the reaper tries again.
	Next time.Time `json:"next"`
}

// Job is one consumer job.
type Job struct {
	ID     string `json:"id"`
	Owner  string `json:"owner"`
	Status Status `json:"status"`
	// Reason explains the last state change.
	Reason string       `json:"reason,omitempty"`
	Kind   catalog.Kind `json:"kind"`
	// Request is the consumer's request as currently applied (updates are
	// overlaid on it).
	Request csbmsg.ServiceRequest `json:"request"`

	// ProviderID, ServiceID and Service are the placement that holds the
	// job's resources (set on success).
	ProviderID string                `json:"provider_id,omitempty"`
	ServiceID  string                `json:"service_id,omitempty"`
	Service    *catalog.ServiceEntry `json:"service,omitempty"`
	Encryption bool                  `json:"encryption,omitempty"` // provider's encryption-support at placement
	Resource   *contract.Resource    `json:"resource,omitempty"`
	// Ignored are the request fields the job's provider does not honour
	// and ignored (Config.IgnoreUnhonoured); answers name them.
	Ignored []string `json:"ignored_fields,omitempty"`

	Plan     []PlanEntry `json:"plan,omitempty"`
	Decision string      `json:"decision,omitempty"` // placement summary
	Attempts []Attempt   `json:"attempts,omitempty"`
	Op       *Op         `json:"op,omitempty"`
	Orphans  []Orphan    `json:"orphans,omitempty"`

	// LeaseSeconds is the lease granted; Expires is when it ends (zero
	// while in flight). For expired and removed jobs Expires is when the
	// record is purged.
	LeaseSeconds uint64    `json:"lease_seconds"`
	Expires      time.Time `json:"expires,omitzero"`
	// Reclaim is the retry schedule of a lease whose reclaim failed
	// (reaper.go); it stands for the lease end it names only, so a
	// renewal leaves nothing to clear.
	Reclaim *ReclaimRetry `json:"reclaim,omitempty"`
	// Checked is when the provider last confirmed that the job's resource
	// exists (see check.go); zero when it was never asked.
	Checked time.Time `json:"checked,omitzero"`
	// Cost is what the job costs (cost.go); nil until it holds resources
	// at a priced provider.
	Cost *Cost `json:"cost,omitempty"`

	// Labels are a front-end's metadata about the job (the CIMI front-end
	// keeps a machine's name, description and properties here); the
	// engine stores them and never reads them. See SetLabels.
	Labels map[string]string `json:"labels,omitempty"`
	// Actions are the life cycle actions run on the job's resource,
	// oldest first, at most MaxActionRecords (see action.go).
	Actions []ActionRecord `json:"actions,omitempty"`
	// Attachments are, on a machine's job, the volumes attached to it
	// after its creation; on a volume's job, the machine it is attached
	// to (volume_attach.go).
	Attachments []VolumeAttachment `json:"attachments,omitempty"`

	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CopiedFrom     string    `json:"copied_from,omitempty"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
	// Rev counts the writes of the job.
	Rev uint64 `json:"rev"`
	// Events numbers the job's events and keeps what they need
	// (events.go).
	Events EventState `json:"events,omitzero"`

	// gate is shared with the request waiting for a create's outcome
	// (nil when nobody waits: a resumed job).
	gate *answerGate
	// placed tells the placement policy which provider took the job
	// (placement.Decision.Placed; nil when the policy keeps no state, or
	// for a resumed job: the policy's state is this process's only).
	placed func(providerID string)
	// deferWrite makes the next save of a logged job keep the record in
	// memory only: the next write of the job (a log append, or the job's
	// file when it is settled) carries it (wal.go).
	deferWrite bool
}

// ExpiresIn returns the whole seconds left on the lease at now (0 when
// none), for <expires>.
func (j *Job) ExpiresIn(now time.Time) uint64 {
	if j.Status != StatusSuccess || j.Expires.IsZero() || !j.Expires.After(now) {
		if j.Status.InFlight() {
			return j.LeaseSeconds
		}
		return 0
	}
	// Rounded up without adding to the time left: a lease within a
	// second of the longest duration would overflow.
	left := j.Expires.Sub(now)
	s := uint64(left / time.Second)
	if left%time.Second != 0 {
		s++
	}
	return s
}

// CloudServiceURI returns the provider's URI of the job's resource.
func (j *Job) CloudServiceURI() string {
	if j.Resource == nil {
		return ""
	}
	return j.Resource.URI
}

// Granted returns the resources granted with their actual values, or the
// request while nothing is granted.
func (j *Job) Granted() csbmsg.ServiceRequest {
	if j.Resource != nil {
		g := j.Resource.Granted
		if g.IaaS != nil || g.PaaS != nil || g.SaaS != nil || g.DSaaS != nil {
			return g
		}
	}
	return j.Request
}

func (j *Job) clone() *Job {
	b, err := json.Marshal(j)
	if err != nil {
		panic("jobs: job does not marshal: " + err.Error())
	}
	var c Job
	if err := json.Unmarshal(b, &c); err != nil {
		panic("jobs: job does not unmarshal: " + err.Error())
	}
	return &c
}

func (j *Job) lastAttempt() *Attempt {
	if len(j.Attempts) == 0 {
		return nil
	}
	return &j.Attempts[len(j.Attempts)-1]
}

// newID returns an unguessable job id: 128 random bits, base64url (an
// NMTOKEN, as <job-id> requires). An id never begins with '-': shells,
// the CLI's flag parser and most tools read a leading dash as an option,
// so such an id is drawn again (which costs 0.02 bits of the 128).
func newID() string {
	var b [16]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err)
		}
		if b[0]>>2 != 62 { // 62 is '-' in the base64url alphabet
			return base64.RawURLEncoding.EncodeToString(b[:])
		}
	}
}

// ---------------------------------------------------------------------------
// Errors and results

// ErrNoJob is returned for a job id that does not exist or belongs to
// another user: the two are indistinguishable on purpose.
var ErrNoJob = errors.New("no such job")

// ErrNotRecorded is returned when the store refused to record a new job:
// nothing was provisioned and nothing is left that the broker would
// provision later. The consumer may try again.
var ErrNotRecorded = errors.New("the broker could not record the job")

// ErrIdempotencyMismatch is returned when an Idempotency-Key is reused
// with a different request.
var ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")

// ErrIdempotencyBusy is returned when a create with an Idempotency-Key
// arrives while another with the same key is still being carried out,
// and that one did not finish within LockWait: the request conflicts
// with one in progress, and a later retry gets its outcome.
var ErrIdempotencyBusy = errors.New("a create with this idempotency key is still in progress")

// ErrChanged is returned by the operations that take an expected
// revision (UpdateIf, RemoveIf, ActIf, SetLabelsIf, AttachVolumeIf,
// DetachVolumeIf) when the job's record, read under the job's lock, is
// not at that revision (Job.Rev): the job was written since the caller
// read the record it decided on, and the operation did nothing. A
// front-end that evaluated an HTTP precondition (If-Match) on that read
// answers 412 Precondition Failed: checked under the lock, the
// precondition holds when the operation acts, which a check of the
// caller's own read could not promise (a lost update in between).
var ErrChanged = errors.New("the job changed since the revision the request expects")

// Result is the outcome of an operation in the draft's terms: a table 2
// status, a reason, and the job as it stands (nil when no job exists,
// e.g. nothing matched).
type Result struct {
	Status csbmsg.Status
	Reason string
	Job    *Job
}

func result(st csbmsg.Status, job *Job, format string, args ...any) *Result {
	return &Result{Status: st, Job: job, Reason: fmt.Sprintf(format, args...)}
}
