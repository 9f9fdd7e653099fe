// Package jobstest provides an in-memory contract.Adapter with real state
// and fault injection, for the tests of the job engine and of the Caddy
// glue until (and besides) the real adapters.
package jobstest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Adapter is an in-memory provider: it keeps every resource it created,
// tagged with the job id, until removed. The zero value needs a Name.
type Adapter struct {
	// Name prefixes resource URIs: mem://<name>/<n>.
	Name string

	mu        sync.Mutex
	seq       int
	resources map[string]*contract.Resource // by URI
	jobs      map[string]string             // URI → job id
	late      map[string]*contract.Resource // created, not listed yet (Fault.Late), by URI
	calls     map[string]int

	// Faults. Set them before use or under SetFault.
	provisionErr   error // Provision fails with it (an *contract.Error as is, else as provider_5xx)
	partialOnError bool  // ... after creating a resource it returns
	lateOnError    bool  // ... which it lists only later, returning a handle on the job
	pending        bool  // Provision returns StatePending; MarkReady or FailPending settle it
	block          chan struct{}
	blockStarted   chan struct{}
	blockAfter     bool
	updateErr      error
	statusErr      error
	findErr        error
	findHang       chan struct{}
	removeKeeps    bool
	removeErr      error
	removeErrTimes int // removeErr applies this many times (0 = always)
}

// Fault configures failures and behaviour.
type Fault struct {
	// Provision fails with this error: an *contract.Error as it is, any
	// other as provider_5xx.
	Provision error
	// Partial makes a failing Provision create a resource first and return
	// it with the error, as a half-built machine would be.
	Partial bool
	// Late, with Partial, makes that resource one the provider lists only
	// later (an eventually consistent API, a create still queued), and
	// the returned Resource a handle on the job rather than on it (as an
	// EC2 client token, or a Nova server's name and csb-job, are): Remove
	// with the handle removes what the provider lists for the job, which
	// is nothing until Surface lists the late resources.
	Late bool
	// Pending makes Provision return a resource still being built.
	Pending bool
	// Block makes Provision wait until the channel closes or its context
	// ends (a provider that never answers). BlockStarted, when set, is
	// closed when the first call starts waiting. With BlockAfterCreate the
	// resource is created first, and a call cut short by its context
	// returns it with the error (a half-built machine).
	Block            chan struct{}
	BlockStarted     chan struct{}
	BlockAfterCreate bool
	// Update and Remove fail with these errors; RemoveTimes bounds how
	// many removals fail (0 = all).
	Update      error
	Remove      error
	RemoveTimes int
	// RemoveKeeps makes Remove answer success and keep the resource (a
	// provider that accepts a delete and never carries it out).
	RemoveKeeps bool
	// Status makes Status fail with a provider 5xx carrying this error.
	Status error
	// Find makes Find fail with a provider 5xx carrying this error.
	Find error
	// FindHang makes Find wait for its context to end (a provider that
	// does not answer), after closing the channel.
	FindHang chan struct{}
}

// SetFault replaces the adapter's faults.
func (a *Adapter) SetFault(f Fault) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.provisionErr, a.partialOnError, a.pending = f.Provision, f.Partial, f.Pending
	a.lateOnError = f.Late
	a.block, a.blockStarted, a.blockAfter = f.Block, f.BlockStarted, f.BlockAfterCreate
	a.updateErr, a.removeErr, a.removeErrTimes = f.Update, f.Remove, f.RemoveTimes
	a.statusErr, a.findErr, a.findHang = f.Status, f.Find, f.FindHang
	a.removeKeeps = f.RemoveKeeps
}

func (a *Adapter) init() {
	if a.resources == nil {
		a.resources = map[string]*contract.Resource{}
		a.jobs = map[string]string{}
		a.late = map[string]*contract.Resource{}
		a.calls = map[string]int{}
	}
}

func clone(r *contract.Resource) *contract.Resource {
	c := *r
	c.Native = map[string]string{}
	for k, v := range r.Native {
		c.Native[k] = v
	}
	return &c
}

// Provision implements contract.Adapter.
func (a *Adapter) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	a.mu.Lock()
	a.init()
	a.calls["provision"]++
	block, started, after := a.block, a.blockStarted, a.blockAfter
	if started != nil {
		a.blockStarted = nil
	}
	a.mu.Unlock()
	if block != nil && after {
		res := a.create(req, contract.StatePending)
		if started != nil {
			close(started)
		}
		select {
		case <-block:
			a.settle(res.URI, contract.StateReady)
			res.State = contract.StateReady
			return res, nil
		case <-ctx.Done():
			return res, &contract.Error{Kind: contract.KindTimeout, Op: "provision", Err: ctx.Err()}
		}
	}
	if block != nil {
		if started != nil {
			close(started)
		}
		select {
		case <-block:
		case <-ctx.Done():
			return nil, &contract.Error{Kind: contract.KindTimeout, Op: "provision", Err: ctx.Err()}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.provisionErr != nil && !a.partialOnError {
		var ae *contract.Error
		if errors.As(a.provisionErr, &ae) {
			return nil, a.provisionErr // already classified, e.g. unsupported
		}
		return nil, &contract.Error{Kind: contract.KindServer, Op: "provision", Status: 503, Err: a.provisionErr}
	}
	a.seq++
	uri := fmt.Sprintf("mem://%s/%d", a.Name, a.seq)
	granted := req.Want
	res := &contract.Resource{
		URI:      uri,
		State:    contract.StateReady,
		Granted:  granted,
		Native:   map[string]string{"job_id": req.JobID, "owner": req.Owner},
		Endpoint: "http://" + a.Name + ".invalid/" + req.JobID,
	}
	if a.pending {
		res.State = contract.StatePending
	}
	a.resources[uri] = clone(res)
	a.jobs[uri] = req.JobID
	if a.provisionErr != nil {
		res.State = contract.StateFailed
		a.resources[uri].State = contract.StateFailed
		err := &contract.Error{Kind: contract.KindServer, Op: "provision", Status: 500, Err: a.provisionErr}
		if a.lateOnError {
			a.late[uri] = a.resources[uri]
			delete(a.resources, uri)
			delete(a.jobs, uri)
			return &contract.Resource{URI: "mem://" + a.Name + "/lost/" + req.JobID, State: contract.StateFailed,
				Native: map[string]string{nativeLostJob: req.JobID}}, err
		}
		return res, err
	}
	return res, nil
}

// nativeLostJob is the Native key of a handle on a job (Fault.Late): the
// job whose resources Remove removes.
const nativeLostJob = "lost_job"

// Surface lists the resources created late (Fault.Late): from now on
// Remove, Find and Status see them.
func (a *Adapter) Surface() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	for uri, r := range a.late {
		a.resources[uri] = r
		a.jobs[uri] = r.Native["job_id"]
		delete(a.late, uri)
	}
}

func (a *Adapter) create(req *contract.Request, st contract.State) *contract.Resource {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	uri := fmt.Sprintf("mem://%s/%d", a.Name, a.seq)
	res := &contract.Resource{URI: uri, State: st, Granted: req.Want,
		Native: map[string]string{"job_id": req.JobID, "owner": req.Owner}, Endpoint: "http://" + a.Name + ".invalid/" + req.JobID}
	a.resources[uri] = clone(res)
	a.jobs[uri] = req.JobID
	return res
}

// Status implements contract.Adapter.
func (a *Adapter) Status(_ context.Context, res *contract.Resource) (*contract.Resource, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	a.calls["status"]++
	if a.statusErr != nil {
		return nil, &contract.Error{Kind: contract.KindServer, Op: "status", Status: 503, Err: a.statusErr}
	}
	r, ok := a.resources[res.URI]
	if !ok {
		return nil, &contract.Error{Kind: contract.KindNotFound, Op: "status", Status: 404, Err: errors.New(res.URI)}
	}
	return clone(r), nil
}

// Update implements contract.Adapter: it grants the overlaid request.
func (a *Adapter) Update(_ context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	a.calls["update"]++
	if a.updateErr != nil {
		return nil, &contract.Error{Kind: contract.KindClient, Op: "update", Status: 409, Err: a.updateErr}
	}
	r, ok := a.resources[res.URI]
	if !ok {
		return nil, &contract.Error{Kind: contract.KindNotFound, Op: "update", Status: 404, Err: errors.New(res.URI)}
	}
	if req.Want.IaaS != nil && req.Want.IaaS.Compute != nil && r.Granted.IaaS != nil {
		c := *req.Want.IaaS.Compute
		if c.Action != nil {
			st := map[csbmsg.ComputeAction]csbmsg.ComputeStatus{
				csbmsg.ComputeStart: csbmsg.ComputeActive, csbmsg.ComputeRestart: csbmsg.ComputeActive,
				csbmsg.ComputeStop: csbmsg.ComputeInactive, csbmsg.ComputeSuspend: csbmsg.ComputeSuspended,
			}[*c.Action]
			c.Status, c.Action = &st, nil
		}
		iaas := *r.Granted.IaaS
		merged := csbmsg.Compute{}
		if iaas.Compute != nil {
			merged = *iaas.Compute
		}
		if c.Cores != nil {
			merged.Cores = c.Cores
		}
		if c.Memory != nil {
			merged.Memory = c.Memory
		}
		if c.Status != nil {
			merged.Status = c.Status
		}
		iaas.Compute = &merged
		r.Granted.IaaS = &iaas
	}
	return clone(r), nil
}

// Remove implements contract.Adapter.
func (a *Adapter) Remove(_ context.Context, res *contract.Resource) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	a.calls["remove"]++
	if a.removeErr != nil {
		if a.removeErrTimes >= 0 {
			err := &contract.Error{Kind: contract.KindServer, Op: "remove", Status: 500, Err: a.removeErr}
			if a.removeErrTimes > 0 {
				a.removeErrTimes--
				if a.removeErrTimes == 0 {
					a.removeErr = nil
				}
			}
			return err
		}
	}
	if a.removeKeeps {
		return nil
	}
	if job := res.Native[nativeLostJob]; job != "" {
		for uri, j := range a.jobs {
			if j == job {
				delete(a.resources, uri)
				delete(a.jobs, uri)
			}
		}
		return nil
	}
	delete(a.resources, res.URI)
	delete(a.jobs, res.URI)
	return nil
}

// Find implements contract.Finder: resources are tagged with the job id.
func (a *Adapter) Find(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	a.mu.Lock()
	hang := a.findHang
	a.findHang = nil
	a.mu.Unlock()
	if hang != nil {
		close(hang)
		<-ctx.Done()
		return nil, &contract.Error{Kind: contract.KindTimeout, Op: "find", Err: ctx.Err()}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	a.calls["find"]++
	if a.findErr != nil {
		return nil, &contract.Error{Kind: contract.KindServer, Op: "find", Status: 503, Err: a.findErr}
	}
	for uri, job := range a.jobs {
		if job == req.JobID {
			return clone(a.resources[uri]), nil
		}
	}
	return nil, nil
}

// MarkReady settles a pending resource as ready.
func (a *Adapter) MarkReady(uri string) {
	a.settle(uri, contract.StateReady)
}

// FailPending settles a pending resource as failed.
func (a *Adapter) FailPending(uri string) {
	a.settle(uri, contract.StateFailed)
}

func (a *Adapter) settle(uri string, st contract.State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	if r, ok := a.resources[uri]; ok {
		r.State = st
	}
}

// Live returns the URIs of the resources the provider holds, sorted.
func (a *Adapter) Live() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for uri := range a.resources {
		out = append(out, uri)
	}
	sort.Strings(out)
	return out
}

// LiveFor returns the URIs held for one job.
func (a *Adapter) LiveFor(jobID string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for uri, j := range a.jobs {
		if j == jobID {
			out = append(out, uri)
		}
	}
	sort.Strings(out)
	return out
}

// Calls returns how often an operation was called.
func (a *Adapter) Calls(op string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[op]
}

var (
	_ contract.Adapter = (*Adapter)(nil)
	_ contract.Finder  = (*Adapter)(nil)
)

// Lister is an Adapter that also lists (contract.Census): Held reports
// which resources it holds, counted as "held" calls, and fails with the
// Status fault.
type Lister struct{ *Adapter }

// Held implements contract.Census.
func (l Lister) Held(_ context.Context, res []*contract.Resource) ([]bool, error) {
	a := l.Adapter
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	a.calls["held"]++
	if a.statusErr != nil {
		return nil, &contract.Error{Kind: contract.KindServer, Op: "held", Status: 503, Err: a.statusErr}
	}
	out := make([]bool, len(res))
	for i, r := range res {
		_, out[i] = a.resources[r.URI]
	}
	return out, nil
}

var _ contract.Census = Lister{}
