// Package adaptertest is the conformance kit every cloud service adapter
// passes: one table-driven suite that provisions, polls, updates and
// removes through the adapter against a real peer (the sandbox cloud, a
// fixture server written from a specification's examples, or a real
// provider on loopback), and checks the error paths the broker relies on.
//
// What it checks:
//
//   - lifecycle, per case: Provision, Status until ready, each Update
//     (resize and every action the adapter supports) with its own check,
//     Remove; the peer holds nothing afterwards; the Resource survives a
//     JSON round trip (the broker persists it with the job);
//   - remove of something already gone is not an error, and Status then
//     says gone (or not found);
//   - provider 4xx and 5xx answers map to contract.KindClient and
//     contract.KindServer; a provider that never answers maps to
//     contract.KindTimeout within the context deadline; a request the
//     adapter cannot express maps to contract.KindUnsupported and touches
//     nothing;
//   - partial failure: the peer fails after 1, 2, 3, ... calls; whenever
//     something was created, Provision returns a Resource whose Remove
//     leaves no orphan at the peer;
//   - concurrent use: several provision/status/remove cycles at once;
//   - discovery, when the adapter implements contract.Discoverer;
//   - crash reconciliation, when the adapter implements contract.Finder:
//     after a provision whose answer was lost, or that the peer cut short
//     after 1, 2, 3, ... calls (as a killed broker would), Find gathers
//     the job's resources (and no other job's), and removing them leaves
//     no orphan.
//
// Usage:
//
//	adaptertest.Run(t, adaptertest.Target{
//		New:       func(t *testing.T) contract.Adapter { ... },
//		Cases:     []adaptertest.Case{...},
//		Fault:     func(f adaptertest.Fault) { ... },
//		Inventory: func() int { ... },
//	})
//
// This package does not import Caddy.
package adaptertest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// FaultKind is a misbehaviour the peer is asked to show.
type FaultKind int

// Faults a Target must be able to inject.
const (
	// FaultNone: the peer behaves.
	FaultNone FaultKind = iota
	// FaultClient: every call is answered with a 4xx (400 is fine).
	FaultClient
	// FaultServer: every call is answered with a 5xx that is not retried
	// (500 is fine).
	FaultServer
	// FaultHang: every call blocks until the client gives up.
	FaultHang
	// FaultFailAfter: After calls succeed, every later one gets a 500.
	FaultFailAfter
)

// Fault is passed to Target.Fault.
type Fault struct {
	Kind  FaultKind
	After int // for FaultFailAfter
}

// Case is one request the lifecycle test provisions.
type Case struct {
	Name string
	// Req is the provision request; JobID is filled in when empty.
	Req contract.Request
	// Check, if set, checks the ready Resource after provisioning.
	Check func(t testing.TB, res *contract.Resource)
	// Updates are applied in order after provisioning.
	Updates []Update
}

// Update is one change applied to a provisioned case.
type Update struct {
	Name string
	// Req carries the changed request (the full Want, with the new sizes
	// or the action).
	Req contract.Request
	// Check, if set, checks the Resource once it is ready again.
	Check func(t testing.TB, res *contract.Resource)
}

// Target describes an adapter under test and its peer.
type Target struct {
	// New returns an adapter bound to the peer. It is called once per
	// subtest; adapters over the same peer may share state.
	New func(t *testing.T) contract.Adapter
	// Cases are the lifecycle cases. Cases[0] is also used by the error,
	// partial-failure and concurrency tests, so it should be small and
	// touch as many native resources as the adapter creates for one job.
	Cases []Case
	// Unsupported are requests the adapter must refuse with
	// contract.KindUnsupported without touching the peer.
	Unsupported []contract.Request
	// Fault makes the peer misbehave; Fault(Fault{}) restores it.
	Fault func(Fault)
	// Inventory returns how many things the peer holds for consumers
	// (machines, volumes, objects, ...). It must count everything an
	// adapter can create, so orphans show.
	Inventory func() int
	// ReadyTimeout bounds the polling of a pending resource. Default 10 s.
	ReadyTimeout time.Duration
	// CallTimeout is the deadline of the hang test. Default 300 ms.
	CallTimeout time.Duration
	// Concurrency is the number of parallel cycles. Default 8.
	Concurrency int
}

func (tg *Target) defaults() {
	if tg.ReadyTimeout == 0 {
		tg.ReadyTimeout = 10 * time.Second
	}
	if tg.CallTimeout == 0 {
		tg.CallTimeout = 300 * time.Millisecond
	}
	if tg.Concurrency == 0 {
		tg.Concurrency = 8
	}
}

// Run runs the conformance suite against the target.
func Run(t *testing.T, tg Target) {
	t.Helper()
	tg.defaults()
	if tg.New == nil || tg.Fault == nil || tg.Inventory == nil || len(tg.Cases) == 0 {
		t.Fatal("adaptertest: Target needs New, Fault, Inventory and at least one Case")
	}
	var jobSeq int
	var jobMu sync.Mutex
	jobID := func() string {
		jobMu.Lock()
		defer jobMu.Unlock()
		jobSeq++
		return fmt.Sprintf("kit%d", jobSeq)
	}
	prepare := func(r contract.Request) *contract.Request {
		if r.JobID == "" {
			r.JobID = jobID()
		}
		return &r
	}
	t.Cleanup(func() { tg.Fault(Fault{}) })

	for _, c := range tg.Cases {
		t.Run("lifecycle/"+c.Name, func(t *testing.T) {
			a := tg.New(t)
			before := tg.Inventory()
			ctx := context.Background()
			req := prepare(c.Req)
			res, err := a.Provision(ctx, req)
			if err != nil {
				t.Fatalf("provision: %v", err)
			}
			if res == nil {
				t.Fatal("provision returned no resource and no error")
			}
			defer func() {
				if t.Failed() {
					_ = a.Remove(ctx, res)
				}
			}()
			if tg.Inventory() <= before {
				t.Errorf("provision created nothing at the peer (inventory %d before, %d after)", before, tg.Inventory())
			}
			res = waitReady(t, tg, a, res)
			if res.URI == "" {
				t.Error("ready resource has no URI (the job's Cloud-service-URI)")
			}
			res = roundTrip(t, res)
			census(t, a, res, true)
			if c.Check != nil {
				c.Check(t, res)
			}
			for _, u := range c.Updates {
				ureq := prepare(u.Req)
				ureq.JobID = req.JobID
				got, err := a.Update(ctx, res, ureq)
				if err != nil {
					t.Fatalf("update %s: %v", u.Name, err)
				}
				res = roundTrip(t, waitReady(t, tg, a, got))
				if u.Check != nil {
					u.Check(t, res)
				}
			}
			removeTo(t, tg, a, res, before, "the job")
			census(t, a, res, false)
			if err := a.Remove(ctx, res); err != nil {
				t.Errorf("remove of something already gone: %v", err)
			}
			st, err := a.Status(ctx, res)
			switch {
			case err != nil && contract.KindOf(err) != contract.KindNotFound:
				t.Errorf("status after remove: %v (want gone or not_found)", err)
			case err == nil && st.State != contract.StateGone:
				t.Errorf("status after remove: state %q, want %q", st.State, contract.StateGone)
			}
		})
	}

	t.Run("errors/provider_4xx", func(t *testing.T) {
		checkFault(t, tg, Fault{Kind: FaultClient}, contract.KindClient, prepare)
	})
	t.Run("errors/provider_5xx", func(t *testing.T) {
		checkFault(t, tg, Fault{Kind: FaultServer}, contract.KindServer, prepare)
	})
	t.Run("errors/timeout", func(t *testing.T) {
		a := tg.New(t)
		before := tg.Inventory()
		tg.Fault(Fault{Kind: FaultHang})
		ctx, cancel := context.WithTimeout(context.Background(), tg.CallTimeout)
		defer cancel()
		start := time.Now()
		res, err := a.Provision(ctx, prepare(tg.Cases[0].Req))
		elapsed := time.Since(start)
		tg.Fault(Fault{})
		if k := contract.KindOf(err); k != contract.KindTimeout {
			t.Fatalf("provision against a hung peer: kind %q (%v), want %q", k, err, contract.KindTimeout)
		}
		if limit := tg.CallTimeout + 2*time.Second; elapsed > limit {
			t.Errorf("provision returned after %v, deadline was %v", elapsed, tg.CallTimeout)
		}
		cleanup(t, a, res)
		if got := tg.Inventory(); got != before {
			t.Errorf("peer holds %d things, %d before", got, before)
		}
	})
	t.Run("errors/unsupported", func(t *testing.T) {
		a := tg.New(t)
		reqs := append([]contract.Request{{Want: csbmsg.ServiceRequest{}}}, tg.Unsupported...)
		for i, r := range reqs {
			before := tg.Inventory()
			res, err := a.Provision(context.Background(), prepare(r))
			if k := contract.KindOf(err); k != contract.KindUnsupported {
				t.Errorf("unsupported request %d: kind %q (%v), want %q", i, k, err, contract.KindUnsupported)
			}
			if res != nil {
				t.Errorf("unsupported request %d returned a resource", i)
				cleanup(t, a, res)
			}
			if got := tg.Inventory(); got != before {
				t.Errorf("unsupported request %d left %d things at the peer", i, got-before)
			}
		}
	})
	t.Run("errors/partial_failure", func(t *testing.T) {
		before := tg.Inventory()
		partials := 0
		for n := 1; n <= 64; n++ {
			// A fresh adapter each time, so caches do not shift which call
			// fails: n = 1, 2, 3, ... fails each step of provisioning once.
			a := tg.New(t)
			tg.Fault(Fault{Kind: FaultFailAfter, After: n})
			res, err := a.Provision(context.Background(), prepare(tg.Cases[0].Req))
			tg.Fault(Fault{})
			held := tg.Inventory() - before
			if err == nil {
				if res == nil {
					t.Fatalf("fail after %d: no error and no resource", n)
				}
				if err := a.Remove(context.Background(), res); err != nil {
					t.Fatalf("fail after %d: remove of a provisioned resource: %v", n, err)
				}
				if got := tg.Inventory(); got != before {
					t.Fatalf("fail after %d: %d orphans after remove", n, got-before)
				}
				t.Logf("provision needs %d calls; %d of the failures left something to clean up", n, partials)
				return
			}
			if held > 0 && res == nil {
				t.Fatalf("fail after %d: provision failed (%v) leaving %d things at the peer and no Resource to remove them", n, err, held)
			}
			if res != nil {
				partials++
				if err := a.Remove(context.Background(), res); err != nil {
					t.Fatalf("fail after %d: remove of the partial resource: %v", n, err)
				}
			}
			if got := tg.Inventory(); got != before {
				t.Fatalf("fail after %d: %d orphans after cleanup", n, got-before)
			}
		}
		t.Fatal("provision never succeeded within 64 calls")
	})
	t.Run("concurrent", func(t *testing.T) {
		a := tg.New(t)
		before := tg.Inventory()
		var wg sync.WaitGroup
		errs := make(chan error, tg.Concurrency)
		for i := 0; i < tg.Concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				res, err := a.Provision(ctx, prepare(tg.Cases[0].Req))
				if err != nil {
					if res != nil {
						_ = a.Remove(ctx, res)
					}
					errs <- fmt.Errorf("provision: %w", err)
					return
				}
				for j := 0; j < 1000 && res.State == contract.StatePending; j++ {
					if res, err = a.Status(ctx, res); err != nil {
						errs <- fmt.Errorf("status: %w", err)
						return
					}
					runtime.Gosched()
				}
				if err := a.Remove(ctx, res); err != nil {
					errs <- fmt.Errorf("remove: %w", err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := tg.Inventory(); got != before {
			t.Errorf("peer holds %d things after concurrent cycles, %d before", got, before)
		}
	})
	runFind(t, tg, prepare)
	t.Run("discover", func(t *testing.T) {
		d, ok := tg.New(t).(contract.Discoverer)
		if !ok {
			t.Skip("adapter does not implement contract.Discoverer")
		}
		svcs, err := d.Discover(context.Background())
		if err != nil {
			t.Fatalf("discover: %v", err)
		}
		if len(svcs) == 0 {
			t.Fatal("discover found no service")
		}
		for _, s := range svcs {
			n := 0
			for _, x := range []bool{s.IaaS != nil, s.PaaS != nil, s.SaaS != nil, s.DSaaS != nil} {
				if x {
					n++
				}
			}
			if s.ID == "" || s.Status == "" || n != 1 {
				t.Errorf("discovered service %+v: needs an id, a status and exactly one support element", s)
			}
		}
		tg.Fault(Fault{Kind: FaultServer})
		_, err = tg.New(t).(contract.Discoverer).Discover(context.Background())
		tg.Fault(Fault{})
		if k := contract.KindOf(err); k != contract.KindServer {
			t.Errorf("discover against a failing peer: kind %q (%v), want %q", k, err, contract.KindServer)
		}
	})
}

func checkFault(t *testing.T, tg Target, f Fault, want contract.ErrorKind, prepare func(contract.Request) *contract.Request) {
	a := tg.New(t)
	before := tg.Inventory()
	tg.Fault(f)
	res, err := a.Provision(context.Background(), prepare(tg.Cases[0].Req))
	tg.Fault(Fault{})
	if k := contract.KindOf(err); k != want {
		t.Fatalf("provision: kind %q (%v), want %q", k, err, want)
	}
	cleanup(t, a, res)
	if got := tg.Inventory(); got != before {
		t.Errorf("peer holds %d things, %d before", got, before)
	}
	// The same fault on an existing resource: status and remove report it
	// too, and nothing is lost once the peer recovers.
	res, err = a.Provision(context.Background(), prepare(tg.Cases[0].Req))
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	tg.Fault(f)
	_, serr := a.Status(context.Background(), res)
	rerr := a.Remove(context.Background(), res)
	tg.Fault(Fault{})
	if k := contract.KindOf(serr); k != want {
		t.Errorf("status: kind %q (%v), want %q", k, serr, want)
	}
	if k := contract.KindOf(rerr); k != want {
		t.Errorf("remove: kind %q (%v), want %q", k, rerr, want)
	}
	if err := a.Remove(context.Background(), res); err != nil {
		t.Errorf("remove after recovery: %v", err)
	}
	if got := tg.Inventory(); got != before {
		t.Errorf("peer holds %d things, %d before", got, before)
	}
}

// census checks, for an adapter that lists (contract.Census), that its
// listing shows res as held (want) or not.
func census(t *testing.T, a contract.Adapter, res *contract.Resource, want bool) {
	t.Helper()
	c, ok := a.(contract.Census)
	if !ok {
		return
	}
	held, err := c.Held(context.Background(), []*contract.Resource{res})
	if err != nil || len(held) != 1 || held[0] != want {
		t.Errorf("Held(%s) = %v, %v; want [%v]", res.URI, held, err, want)
	}
}

func cleanup(t *testing.T, a contract.Adapter, res *contract.Resource) {
	t.Helper()
	if res == nil {
		return
	}
	if err := a.Remove(context.Background(), res); err != nil {
		t.Errorf("remove of the partial resource: %v", err)
	}
}

// waitReady polls Status until the resource is no longer pending. Peers
// settle either at once or per request, so no wall-clock wait is needed;
// the deadline only stops a peer that never settles.
// removeTo removes res (what names it in failures) and checks that the
// peer then holds want things.
func removeTo(t *testing.T, tg Target, a contract.Adapter, res *contract.Resource, want int, what string) {
	t.Helper()
	if err := a.Remove(context.Background(), res); err != nil {
		t.Fatalf("remove of %s: %v", what, err)
	}
	if got := tg.Inventory(); got != want {
		t.Errorf("peer holds %d things after the remove of %s, want %d", got, what, want)
	}
}

func waitReady(t *testing.T, tg Target, a contract.Adapter, res *contract.Resource) *contract.Resource {
	t.Helper()
	deadline := time.Now().Add(tg.ReadyTimeout)
	for res.State == contract.StatePending {
		if time.Now().After(deadline) {
			t.Fatalf("resource still pending after %v", tg.ReadyTimeout)
		}
		var err error
		if res, err = a.Status(context.Background(), res); err != nil {
			t.Fatalf("status: %v", err)
		}
		runtime.Gosched()
	}
	if res.State != contract.StateReady {
		t.Fatalf("resource state %q, want %q", res.State, contract.StateReady)
	}
	return res
}

// roundTrip checks that the Resource survives the broker's persistence.
func roundTrip(t *testing.T, res *contract.Resource) *contract.Resource {
	t.Helper()
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("resource does not marshal: %v", err)
	}
	var back contract.Resource
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("resource does not unmarshal: %v", err)
	}
	if !reflect.DeepEqual(normalize(res), normalize(&back)) {
		t.Fatalf("resource changes in a JSON round trip:\n%+v\n%+v", res, &back)
	}
	return &back
}

func normalize(r *contract.Resource) *contract.Resource {
	out := *r
	if len(out.Native) == 0 {
		out.Native = nil
	}
	return &out
}
