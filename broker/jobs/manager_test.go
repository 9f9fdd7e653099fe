package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

var ctx = context.Background()

func TestCreateAndOwnership(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	r := e.create("alice", 2)
	if r.Status != csbmsg.StatusOK || r.Job == nil || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v", r)
	}
	j := r.Job
	if len(j.ID) != 22 || j.ProviderID != "a" || j.Resource == nil || j.CloudServiceURI() == "" {
		t.Fatalf("job %+v", j)
	}
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 {
		t.Fatalf("provider holds %v", got)
	}
	if j.LeaseSeconds != 3600 || !j.Expires.Equal(e.clock.Now().Add(time.Hour)) || j.ExpiresIn(e.clock.Now()) != 3600 {
		t.Fatalf("lease %d %v", j.LeaseSeconds, j.Expires)
	}
	if !strings.Contains(r.Reason, "provisioned at a") || !strings.Contains(r.Reason, "chosen by policy first") {
		t.Fatalf("reason %q", r.Reason)
	}
	if _, err := e.m.Get(ctx, "alice", j.ID); err != nil {
		t.Fatal(err)
	}
	// Foreign and unknown ids are indistinguishable.
	for _, id := range []string{j.ID, "AAAAAAAAAAAAAAAAAAAAAA", "../../etc/passwd", ""} {
		if _, err := e.m.Get(ctx, "bob", id); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("bob Get %q: %v", id, err)
		}
		if _, err := e.m.Update(ctx, "bob", id, &csbmsg.ServiceRequest{}, 0); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("bob Update %q: %v", id, err)
		}
		if _, err := e.m.Remove(ctx, "bob", id); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("bob Remove %q: %v", id, err)
		}
		if _, err := e.m.Copy(ctx, "bob", id, jobs.CreateOptions{}); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("bob Copy %q: %v", id, err)
		}
		if _, err := e.m.Move(ctx, "bob", id, jobs.CreateOptions{}); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("bob Move %q: %v", id, err)
		}
		if _, err := e.m.JobEndpoint(ctx, "bob", id); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("bob JobEndpoint %q: %v", id, err)
		}
	}
	ep, err := e.m.JobEndpoint(ctx, "alice", j.ID)
	if err != nil || ep.ProviderID != "a" || ep.URL != "http://a.invalid/"+j.ID {
		t.Fatalf("endpoint %+v %v", ep, err)
	}
	if l := e.m.Load("a"); l.Jobs != 1 || l.Cores != 2 {
		t.Fatalf("load %+v", l)
	}
}

func TestNoMatchAndRequestErrors(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	r := e.create("alice", 64)
	if r.Status != csbmsg.StatusUnableToFindResource || r.Job != nil || !strings.Contains(r.Reason, "a: no service with cores >= 64 (largest 8)") {
		t.Fatalf("%+v", r)
	}
	r, _ = e.m.Create(ctx, "alice", &csbmsg.ServiceRequest{}, jobs.CreateOptions{})
	if r.Status != csbmsg.StatusSyntaxError {
		t.Fatalf("empty: %+v", r)
	}
	r, _ = e.m.Create(ctx, "alice", &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}, PaaS: &csbmsg.PaaS{}}, jobs.CreateOptions{})
	if r.Status != csbmsg.StatusUnsupported {
		t.Fatalf("two kinds: %+v", r)
	}
	if ids, _ := e.store.List(ctx, "csb/jobs/"); len(ids) != 0 {
		t.Fatalf("stored %v for requests that created nothing", ids)
	}
}

func TestSubstitutionRemovesPartialResource(t *testing.T) {
	e := newEnv(t, []string{"a", "b", "c"}, nil)
	e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("hypervisor on fire"), Partial: true})
	r := e.create("alice", 2)
	j := r.Job
	if r.Status != csbmsg.StatusOK || j.ProviderID != "b" || len(j.Attempts) != 2 {
		t.Fatalf("%+v", r)
	}
	a0 := j.Attempts[0]
	if a0.ProviderID != "a" || a0.Outcome != jobs.OutcomeFailed || a0.ErrorKind != "provider_5xx" || a0.Cleanup != jobs.CleanupRechecked || !strings.Contains(a0.Reason, "hypervisor on fire") {
		t.Fatalf("attempt 0 %+v", a0)
	}
	if live := e.ads["a"].Live(); len(live) != 0 {
		t.Fatalf("orphan at a: %v", live)
	}
	if e.ads["a"].Calls("remove") != 1 {
		t.Fatalf("a removals %d", e.ads["a"].Calls("remove"))
	}
}

func TestSubstitutionOnTimeout(t *testing.T) {
	e := newEnv(t, []string{"slow", "fast"}, func(c *jobs.Config) { c.AttemptTimeout = 50 * time.Millisecond })
	block := make(chan struct{})
	defer close(block)
	e.ads["slow"].SetFault(jobstest.Fault{Block: block})
	r := e.create("alice", 1)
	if r.Job.ProviderID != "fast" || r.Job.Attempts[0].Outcome != jobs.OutcomeTimeout {
		t.Fatalf("%+v", r.Job.Attempts)
	}
}

func TestCleanupFailureLeavesOrphanForReaper(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("boom"), Partial: true, Remove: errors.New("busy"), RemoveTimes: 1})
	r := e.create("alice", 1)
	if r.Job.ProviderID != "b" || len(r.Job.Orphans) != 1 || !strings.HasPrefix(r.Job.Attempts[0].Cleanup, "failed:") {
		t.Fatalf("%+v", r.Job)
	}
	if len(e.ads["a"].Live()) != 1 {
		t.Fatal("expected the orphan to be still there")
	}
	st, err := e.m.ReapOnce(ctx)
	if err != nil || st.Orphans != 1 {
		t.Fatalf("reap %+v %v", st, err)
	}
	if live := e.ads["a"].Live(); len(live) != 0 {
		t.Fatalf("orphan survived: %v", live)
	}
	// The handle came with Provision's error: removed, it stays an
	// orphan the reaper removes again later (lost_recheck_test.go).
	j, _ := e.m.Get(ctx, "alice", r.Job.ID)
	if len(j.Orphans) != 1 || !j.Orphans[0].Lost || j.Orphans[0].Removals != 1 || j.Orphans[0].LastError != "" {
		t.Fatalf("orphans %+v", j.Orphans)
	}
}

func TestAllCandidatesFail(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	for _, a := range e.ads {
		a.SetFault(jobstest.Fault{Provision: errors.New("full")})
	}
	r := e.create("alice", 1)
	if r.Status != csbmsg.StatusUnableToFindResource || r.Job.Status != jobs.StatusFailed || len(r.Job.Attempts) != 2 {
		t.Fatalf("%+v", r)
	}
	if !strings.Contains(r.Reason, "a: failed") || !strings.Contains(r.Reason, "b: failed") {
		t.Fatalf("reason %q", r.Reason)
	}
	// A failed job holds nothing: its record is purged once RetainFailed
	// (default 1h) has passed, whatever its lease.
	e.clock.Advance(59 * time.Minute)
	if st, _ := e.m.ReapOnce(ctx); st.Purged != 0 {
		t.Fatalf("%+v", st)
	}
	e.clock.Advance(time.Minute)
	if st, _ := e.m.ReapOnce(ctx); st.Purged != 1 {
		t.Fatalf("%+v", st)
	}
	if _, err := e.m.Get(ctx, "alice", r.Job.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatal(err)
	}
}

func TestLongProvisioningAnsweredPending(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.RespondWithin = time.Millisecond })
	e.ads["a"].SetFault(jobstest.Fault{Pending: true})
	r := e.create("alice", 1)
	if r.Status != csbmsg.StatusOK || !r.Job.Status.InFlight() || !strings.Contains(r.Reason, "poll") {
		t.Fatalf("%+v", r)
	}
	id := r.Job.ID
	j := e.waitJob(e.m, "alice", id, func(j *jobs.Job) bool {
		return len(j.Attempts) == 1 && j.Attempts[0].Resource != nil
	})
	if j.Status != jobs.StatusProvisioning {
		t.Fatalf("status %s", j.Status)
	}
	e.ads["a"].MarkReady(j.Attempts[0].Resource.URI)
	j = e.waitJob(e.m, "alice", id, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if j.Resource.State != "ready" {
		t.Fatalf("%+v", j.Resource)
	}
}

func TestPendingResourceFailsThenSubstitutes(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) { c.RespondWithin = time.Millisecond })
	e.ads["a"].SetFault(jobstest.Fault{Pending: true})
	r := e.create("alice", 1)
	id := r.Job.ID
	j := e.waitJob(e.m, "alice", id, func(j *jobs.Job) bool { return len(j.Attempts) == 1 && j.Attempts[0].Resource != nil })
	e.ads["a"].FailPending(j.Attempts[0].Resource.URI)
	j = e.waitJob(e.m, "alice", id, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if j.ProviderID != "b" || len(e.ads["a"].Live()) != 0 {
		t.Fatalf("%+v / %v", j, e.ads["a"].Live())
	}
}

func TestUpdate(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	j := e.create("alice", 2).Job
	// No change: lease renewal only, no adapter call.
	e.clock.Advance(30 * time.Minute)
	r, err := e.m.Update(ctx, "alice", j.ID, &csbmsg.ServiceRequest{}, 0)
	if err != nil || r.Status != csbmsg.StatusOK || !strings.Contains(r.Reason, "lease renewed") || !r.Job.Expires.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("renew: %+v %v", r, err)
	}
	r, _ = e.m.Update(ctx, "alice", j.ID, jobstest.VMRequest(2, 1), 0)
	if r.Status != csbmsg.StatusOK || e.ads["a"].Calls("update") != 0 {
		t.Fatalf("same values: %+v, %d updates", r, e.ads["a"].Calls("update"))
	}
	// Resize within the service.
	r, _ = e.m.Update(ctx, "alice", j.ID, jobstest.VMRequest(6, 16), 0)
	if r.Status != csbmsg.StatusOK || *r.Job.Resource.Granted.IaaS.Compute.Cores != 6 || *r.Job.Request.IaaS.Compute.Memory != 16 {
		t.Fatalf("resize: %+v", r)
	}
	// An action.
	stop := csbmsg.ComputeStop
	r, _ = e.m.Update(ctx, "alice", j.ID, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Action: &stop}}}, 0)
	if r.Status != csbmsg.StatusOK || *r.Job.Resource.Granted.IaaS.Compute.Status != csbmsg.ComputeInactive || r.Job.Request.IaaS.Compute.Action != nil {
		t.Fatalf("action: %+v", r.Job.Resource.Granted.IaaS.Compute)
	}
	// Beyond the service: 409 without an adapter call.
	calls := e.ads["a"].Calls("update")
	r, _ = e.m.Update(ctx, "alice", j.ID, jobstest.VMRequest(16, 1), 0)
	if r.Status != csbmsg.StatusCannotUpdateResource || !strings.Contains(r.Reason, "cores >= 16") || e.ads["a"].Calls("update") != calls {
		t.Fatalf("beyond: %+v", r)
	}
	// The adapter refuses: 409, the job keeps its resource.
	e.ads["a"].SetFault(jobstest.Fault{Update: errors.New("quota")})
	r, _ = e.m.Update(ctx, "alice", j.ID, jobstest.VMRequest(4, 16), 0)
	if r.Status != csbmsg.StatusCannotUpdateResource || !strings.Contains(r.Reason, "quota") || *r.Job.Request.IaaS.Compute.Cores != 6 {
		t.Fatalf("refused: %+v", r)
	}
	// A lease asked for is clamped to the minimum.
	r, _ = e.m.Update(ctx, "alice", j.ID, &csbmsg.ServiceRequest{}, time.Second)
	if r.Job.LeaseSeconds != 60 {
		t.Fatalf("lease %d", r.Job.LeaseSeconds)
	}
}

func TestRemove(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	j := e.create("alice", 1).Job
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("locked"), RemoveTimes: 1})
	r, _ := e.m.Remove(ctx, "alice", j.ID)
	if r.Status != csbmsg.StatusCannotRemoveResource || r.Job.Status != jobs.StatusSuccess || !strings.Contains(r.Reason, "locked") {
		t.Fatalf("%+v", r)
	}
	r, _ = e.m.Remove(ctx, "alice", j.ID)
	if r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusRemoved || len(e.ads["a"].Live()) != 0 {
		t.Fatalf("%+v", r)
	}
	r, _ = e.m.Remove(ctx, "alice", j.ID)
	if r.Status != csbmsg.StatusOK || !strings.Contains(r.Reason, "already removed") {
		t.Fatalf("again: %+v", r)
	}
	if l := e.m.Load("a"); l.Jobs != 0 {
		t.Fatalf("load %+v", l)
	}
	r, _ = e.m.Update(ctx, "alice", j.ID, &csbmsg.ServiceRequest{}, 0)
	if r.Status != csbmsg.StatusCannotUpdateResource {
		t.Fatalf("update removed: %+v", r)
	}
}

func TestLeaseExpiryReclaims(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	j := e.create("alice", 1).Job
	e.clock.Advance(59 * time.Minute)
	if st, _ := e.m.ReapOnce(ctx); st.Expired != 0 {
		t.Fatal("reaped early")
	}
	e.clock.Advance(time.Minute)
	st, err := e.m.ReapOnce(ctx)
	if err != nil || st.Expired != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	got, _ := e.m.Get(ctx, "alice", j.ID)
	if got.Status != jobs.StatusExpired || len(e.ads["a"].Live()) != 0 || got.ExpiresIn(e.clock.Now()) != 0 {
		t.Fatalf("%+v", got)
	}
	if _, err := e.m.JobEndpoint(ctx, "alice", j.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatal("expired job still routable")
	}
	e.clock.Advance(24 * time.Hour)
	if st, _ := e.m.ReapOnce(ctx); st.Purged != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestReclaimFailureRetried(t *testing.T) {
	var mu sync.Mutex
	var outcomes []string
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.OnReclaim = func(_ *jobs.Job, err error) {
			mu.Lock()
			defer mu.Unlock()
			outcomes = append(outcomes, fmt.Sprint(err))
		}
	})
	j := e.create("alice", 1).Job
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("503"), RemoveTimes: 1})
	e.clock.Advance(2 * time.Hour)
	if st, _ := e.m.ReapOnce(ctx); st.Failures != 1 || st.Expired != 0 {
		t.Fatalf("%+v", st)
	}
	// The retry waits one reap interval (TestReclaimFailureBacksOff).
	e.clock.Advance(e.cfg.ReapInterval)
	if st, _ := e.m.ReapOnce(ctx); st.Expired != 1 {
		t.Fatalf("%+v", st)
	}
	mu.Lock()
	if len(outcomes) != 2 || outcomes[0] == "<nil>" || outcomes[1] != "<nil>" {
		t.Fatalf("OnReclaim saw %q, want a failure then a success", outcomes)
	}
	mu.Unlock()
	if got, _ := e.m.Get(ctx, "alice", j.ID); got.Status != jobs.StatusExpired {
		t.Fatal(got.Status)
	}
}

// Two brokers sharing one store reap every lease exactly once.
func TestReapExactlyOnceAcrossInstances(t *testing.T) {
	var reclaims atomic.Int64
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.OnReclaim = func(_ *jobs.Job, err error) {
			if err == nil {
				reclaims.Add(1)
			}
		}
	})
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, e.create("alice", 1).Job.ID)
	}
	other := e.start(e.cfg)
	e.clock.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	stats := make([]jobs.PassStats, 2)
	for i, m := range []*jobs.Manager{e.m, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i], _ = m.ReapOnce(ctx)
		}()
	}
	wg.Wait()
	if n := stats[0].Expired + stats[1].Expired; n != 5 {
		t.Fatalf("reaped %d (%+v)", n, stats)
	}
	if n := e.ads["a"].Calls("remove"); n != 5 {
		t.Fatalf("%d adapter removals for 5 leases", n)
	}
	if n := reclaims.Load(); n != 5 {
		t.Fatalf("OnReclaim reported %d reclaims for 5 leases", n)
	}
	for _, id := range ids {
		if j, _ := other.Get(ctx, "alice", id); j.Status != jobs.StatusExpired {
			t.Fatalf("%s: %s", id, j.Status)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	opt := jobs.CreateOptions{IdempotencyKey: "k-1"}
	r1, _ := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), opt)
	r2, _ := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), opt)
	if r1.Job.ID != r2.Job.ID || len(e.ads["a"].Live()) != 1 || !strings.Contains(r2.Reason, "idempotent retry") {
		t.Fatalf("%s %s %v", r1.Job.ID, r2.Job.ID, e.ads["a"].Live())
	}
	if _, err := e.m.Create(ctx, "alice", jobstest.VMRequest(2, 1), opt); !errors.Is(err, jobs.ErrIdempotencyMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
	r3, _ := e.m.Create(ctx, "bob", jobstest.VMRequest(1, 1), opt)
	if r3.Job.ID == r1.Job.ID {
		t.Fatal("keys are per user")
	}
	// Concurrent retries make one job.
	var wg sync.WaitGroup
	got := make([]string, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.m.Create(ctx, "carol", jobstest.VMRequest(1, 1), jobs.CreateOptions{IdempotencyKey: "same"})
			if err == nil {
				got[i] = r.Job.ID
			}
		}()
	}
	wg.Wait()
	for _, id := range got[1:] {
		if id != got[0] || id == "" {
			t.Fatalf("concurrent retries: %v", got)
		}
	}
}

func TestCopyAndMove(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	j := e.create("alice", 1).Job
	r, err := e.m.Copy(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ID == j.ID || r.Job.ProviderID != "b" || r.Job.CopiedFrom != j.ID {
		t.Fatalf("copy %+v %v", r, err)
	}
	if len(e.ads["a"].Live()) != 1 || len(e.ads["b"].Live()) != 1 {
		t.Fatal("copy must duplicate")
	}
	// Move the original to b: same id, a emptied.
	r, _ = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if r.Status != csbmsg.StatusOK || r.Job.ID != j.ID || r.Job.ProviderID != "b" || !strings.Contains(r.Reason, "moved from a to b") {
		t.Fatalf("move %+v", r)
	}
	if len(e.ads["a"].Live()) != 0 || len(e.ads["b"].Live()) != 2 {
		t.Fatalf("after move a=%v b=%v", e.ads["a"].Live(), e.ads["b"].Live())
	}
	// Move back while a cannot remove at b: undone, 410, nothing left at a.
	e.ads["b"].SetFault(jobstest.Fault{Remove: errors.New("pinned"), RemoveTimes: 1})
	r, _ = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if r.Status != csbmsg.StatusCannotRemoveResource || r.Job.ProviderID != "b" || !strings.Contains(r.Reason, "move undone") {
		t.Fatalf("undone %+v", r)
	}
	if len(e.ads["a"].Live()) != 0 {
		t.Fatalf("orphan at a after undo: %v", e.ads["a"].Live())
	}
	// No other provider: 408.
	e2 := newEnv(t, []string{"only"}, nil)
	j2 := e2.create("alice", 1).Job
	if r, _ := e2.m.Move(ctx, "alice", j2.ID, jobs.CreateOptions{}); r.Status != csbmsg.StatusUnableToFindResource || !strings.Contains(r.Reason, "excluded") {
		t.Fatalf("%+v", r)
	}
}

// A broker that stops in the middle of provisioning leaves the job to the
// next one, which finishes it.
func TestRestartFinishesInterruptedProvisioning(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.RespondWithin = time.Millisecond })
	block, started := make(chan struct{}), make(chan struct{})
	e.ads["a"].SetFault(jobstest.Fault{Block: block, BlockStarted: started})
	r := e.create("alice", 1)
	<-started
	e.m.Stop() // the blocked Provision sees its context end
	j, _ := e.start(e.cfg).Get(ctx, "alice", r.Job.ID)
	if j.Status != jobs.StatusProvisioning || j.Op == nil || j.Attempts[0].Outcome != jobs.OutcomeInProgress {
		t.Fatalf("after stop: %+v", j)
	}
	e.ads["a"].SetFault(jobstest.Fault{})
	m2 := e.start(e.cfg)
	m2.Start()
	j = e.waitJob(m2, "alice", j.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if len(j.Attempts) != 2 || j.Attempts[0].Outcome != jobs.OutcomeInterrupted || len(e.ads["a"].Live()) != 1 {
		t.Fatalf("%+v / %v", j.Attempts, e.ads["a"].Live())
	}
}

// A crash after the provider created the resource but before the broker
// recorded it: the next broker finds it by job id and finishes the job.
func TestRecoveryFindsUnrecordedResource(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	now := e.clock.Now()
	j := &jobs.Job{
		ID: "crashedjob0000000000001", Owner: "alice", Status: jobs.StatusProvisioning, Kind: "IaaS",
		Request: *jobstest.VMRequest(1, 1), LeaseSeconds: 600, Created: now,
		Plan:     []jobs.PlanEntry{{ProviderID: "a", ServiceID: "vm-a", Service: e.cat.Placeable("IaaS")[0]}},
		Attempts: []jobs.Attempt{{ProviderID: "a", ServiceID: "vm-a", Purpose: jobs.OpCreate, Started: now, Outcome: jobs.OutcomeInProgress}},
		Op:       &jobs.Op{Kind: jobs.OpCreate, Instance: "dead", Started: now, Next: 1},
	}
	writeJob(t, e, j)
	// What the dead broker's Provision call created.
	if _, err := e.ads["a"].Provision(ctx, &contract.Request{JobID: j.ID}); err != nil {
		t.Fatal(err)
	}
	m := e.start(e.cfg)
	st, err := m.ReapOnce(ctx)
	if err != nil || st.Resumed != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	got := e.waitJob(m, "alice", j.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if len(got.Attempts) != 1 || got.Attempts[0].Outcome != jobs.OutcomeSuccess || len(e.ads["a"].Live()) != 1 || e.ads["a"].Calls("find") != 1 {
		t.Fatalf("%+v", got.Attempts)
	}
}

// Every state survives a restart, and in-flight operations of each kind
// are finished by the next process.
func TestRestartWithJobsInEveryState(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) { c.RespondWithin = time.Millisecond })
	// With RespondWithin this short a create may answer before its
	// worker is done: wait for each job to settle.
	settled := func(id string) *jobs.Job {
		return e.waitJob(e.m, "alice", id, func(j *jobs.Job) bool { return !j.Status.InFlight() && j.Op == nil })
	}
	success := settled(e.create("alice", 1).Job.ID)
	removed := settled(e.create("alice", 1).Job.ID)
	if r, _ := e.m.Remove(ctx, "alice", removed.ID); r.Job.Status != jobs.StatusRemoved {
		t.Fatal(r.Reason)
	}
	expiring := settled(e.create("alice", 1).Job.ID)
	for _, a := range e.ads {
		a.SetFault(jobstest.Fault{Provision: errors.New("full")})
	}
	failed := settled(e.create("alice", 1).Job.ID)
	// pending: accepted but its worker never ran (written as a dead
	// process left it).
	pending := &jobs.Job{ID: "pendingjob000000000001", Owner: "alice", Status: jobs.StatusPending, Kind: "IaaS",
		Request: *jobstest.VMRequest(1, 1), LeaseSeconds: 600, Created: e.clock.Now(),
		Plan: []jobs.PlanEntry{{ProviderID: "b", ServiceID: "vm-b", Service: e.cat.Placeable("IaaS")[1]}},
		Op:   &jobs.Op{Kind: jobs.OpCreate, Instance: "dead", Started: e.clock.Now()}}
	writeJob(t, e, pending)
	// provisioning: a pending resource recorded at b.
	for _, a := range e.ads {
		a.SetFault(jobstest.Fault{Pending: true})
	}
	prov := e.create("alice", 1).Job
	provJob := e.waitJob(e.m, "alice", prov.ID, func(j *jobs.Job) bool { return len(j.Attempts) == 1 && j.Attempts[0].Resource != nil })
	e.m.Stop()

	e.clock.Advance(61 * time.Minute) // expiring's lease ends while the broker is down
	for _, a := range e.ads {
		a.SetFault(jobstest.Fault{})
	}
	e.ads[provJob.Attempts[0].ProviderID].MarkReady(provJob.Attempts[0].Resource.URI)
	m := e.start(e.cfg)
	for id, want := range map[string]jobs.Status{success.ID: jobs.StatusSuccess, removed.ID: jobs.StatusRemoved, failed.ID: jobs.StatusFailed,
		pending.ID: jobs.StatusPending, prov.ID: jobs.StatusProvisioning, expiring.ID: jobs.StatusSuccess} {
		j, err := m.Get(ctx, "alice", id)
		if err != nil || j.Status != want {
			t.Fatalf("%s after restart: %v %v, want %s", id, j, err, want)
		}
	}
	m.Start()
	e.waitJob(m, "alice", pending.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	e.waitJob(m, "alice", prov.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	e.waitJob(m, "alice", expiring.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusExpired })
	// success's lease (1h) ended too.
	e.waitJob(m, "alice", success.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusExpired })
	// failed's record is purged once RetainFailed (1h) has passed.
	if _, err := m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, "alice", failed.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("failed job after RetainFailed: %v", err)
	}
}

func TestInterruptedRemovalAndUpdateAreFinished(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	rem := e.create("alice", 1).Job
	upd := e.create("alice", 1).Job
	// Record the operations as a process that died right after writing
	// its intent would have left them.
	rj, _ := e.m.Get(ctx, "alice", rem.ID)
	rj.Op = &jobs.Op{Kind: jobs.OpRemove, Instance: "dead"}
	writeJob(t, e, rj)
	uj, _ := e.m.Get(ctx, "alice", upd.ID)
	uj.Op = &jobs.Op{Kind: jobs.OpUpdate, Instance: "dead", Update: jobstest.VMRequest(4, 1)}
	writeJob(t, e, uj)
	m := e.start(e.cfg)
	if st, _ := m.ReapOnce(ctx); st.Resumed != 2 {
		t.Fatalf("%+v", st)
	}
	e.waitJob(m, "alice", rem.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusRemoved && j.Op == nil })
	j := e.waitJob(m, "alice", upd.ID, func(j *jobs.Job) bool { return j.Op == nil })
	if *j.Request.IaaS.Compute.Cores != 4 || len(e.ads["a"].Live()) != 1 {
		t.Fatalf("%+v", j)
	}
}

func TestBusyJobAnswers(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.RespondWithin = time.Millisecond })
	e.ads["a"].SetFault(jobstest.Fault{Pending: true})
	j := e.create("alice", 1).Job
	if r, _ := e.m.Remove(ctx, "alice", j.ID); r.Status != csbmsg.StatusCannotRemoveResource {
		t.Fatalf("remove in flight: %+v", r)
	}
	if r, _ := e.m.Update(ctx, "alice", j.ID, &csbmsg.ServiceRequest{}, 0); r.Status != csbmsg.StatusCannotUpdateResource {
		t.Fatalf("update in flight: %+v", r)
	}
	if r, _ := e.m.Copy(ctx, "alice", j.ID, jobs.CreateOptions{}); r.Status != csbmsg.StatusUnableToFindResource {
		t.Fatalf("copy in flight: %+v", r)
	}
}

// writeJob stores a job record directly, as a process that died would
// have left it.
func writeJob(t *testing.T, e *env, j *jobs.Job) {
	t.Helper()
	data, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Store(ctx, "csb/jobs/job/"+j.ID, data); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Store(ctx, secJobsOwnerKey(j.Owner, j.ID), []byte(j.ID)); err != nil {
		t.Fatal(err)
	}
}

// stopAfterPartialCreate stops a broker while provider a is building a
// create's resources, after it created part of them, and returns the job
// as the stopped broker left it.
func stopAfterPartialCreate(t *testing.T) (*env, *jobs.Job) {
	t.Helper()
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.RespondWithin = time.Millisecond })
	block, started := make(chan struct{}), make(chan struct{})
	e.ads["a"].SetFault(jobstest.Fault{Block: block, BlockStarted: started, BlockAfterCreate: true})
	r := e.create("alice", 1)
	<-started
	e.m.Stop()
	close(block)
	j, err := e.start(e.cfg).Get(ctx, "alice", r.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	return e, j
}

// A provisioning cut short by a stop after the adapter created part of
// the resources: the next broker removes the part and provisions again.
func TestRestartRemovesPartialResourceAndRetries(t *testing.T) {
	e, j := stopAfterPartialCreate(t)
	if !j.Attempts[0].Partial || j.Attempts[0].Outcome != jobs.OutcomeInProgress || len(e.ads["a"].LiveFor(j.ID)) != 1 {
		t.Fatalf("after stop: %+v, provider holds %v", j.Attempts[0], e.ads["a"].LiveFor(j.ID))
	}
	e.ads["a"].SetFault(jobstest.Fault{})
	m2 := e.start(e.cfg)
	m2.Start()
	j = e.waitJob(m2, "alice", j.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 || got[0] != j.Resource.URI {
		t.Fatalf("provider holds %v for the job, want only %s", got, j.Resource.URI)
	}
	if a0 := j.Attempts[0]; a0.Outcome != jobs.OutcomeInterrupted || a0.Cleanup != jobs.CleanupRechecked || len(j.Attempts) != 2 {
		t.Fatalf("attempts %+v", j.Attempts)
	}
}

// stopAfterUnrecordedPartialCreate is stopAfterPartialCreate for a
// process that died before it recorded what the provider had created: the
// provider holds the part (failed, as the Finder contract returns a
// partly built resource), the job's attempt names nothing. It returns
// the part's URIs.
func stopAfterUnrecordedPartialCreate(t *testing.T) (*env, *jobs.Job, []string) {
	t.Helper()
	e, j := stopAfterPartialCreate(t)
	live := e.ads["a"].LiveFor(j.ID)
	if len(live) != 1 {
		t.Fatalf("provider holds %v", live)
	}
	e.ads["a"].FailPending(live[0])
	j.Attempts[0].Resource, j.Attempts[0].Partial = nil, false
	writeJob(t, e, j)
	return e, j, live
}

// A process that died after the provider had created part of the
// resources but before it recorded them: the next broker finds them
// (failed, per the Finder contract), removes them and provisions again
// on the same provider instead of handing half a job to the consumer.
func TestRestartFindsUnrecordedPartialResource(t *testing.T) {
	e, j, live := stopAfterUnrecordedPartialCreate(t)
	e.ads["a"].SetFault(jobstest.Fault{})
	m2 := e.start(e.cfg)
	m2.Start()
	j = e.waitJob(m2, "alice", j.ID, func(j *jobs.Job) bool { return j.Status != jobs.StatusProvisioning && j.Status != jobs.StatusPending })
	if j.Status != jobs.StatusSuccess {
		t.Fatalf("job %s: %+v", j.Status, j.Attempts)
	}
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 || got[0] != j.Resource.URI || got[0] == live[0] {
		t.Fatalf("provider holds %v for the job, want only a new resource %s (old %s)", got, j.Resource.URI, live[0])
	}
	if a0 := j.Attempts[0]; a0.Outcome != jobs.OutcomeInterrupted || a0.Cleanup != "removed" || len(j.Attempts) != 2 {
		t.Fatalf("attempts %+v", j.Attempts)
	}
}

// TestLoadsFollowEveryChange: the per-provider load adjusted write by
// write (create, resize, copy, move, remove) equals what a reaper pass
// recounts from storage, and a provider with nothing left reports zero.
func TestLoadsFollowEveryChange(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	j1 := e.create("alice", 2).Job
	j2 := e.create("alice", 3).Job
	e.create("bob", 1)
	if r, _ := e.m.Update(ctx, "alice", j1.ID, jobstest.VMRequest(6, 4), 0); r.Status != csbmsg.StatusOK {
		t.Fatalf("resize: %+v", r)
	}
	if r, _ := e.m.Copy(ctx, "alice", j2.ID, jobs.CreateOptions{}); r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("copy: %+v", r)
	}
	if r, _ := e.m.Move(ctx, "alice", j1.ID, jobs.CreateOptions{}); r.Status != csbmsg.StatusOK {
		t.Fatalf("move: %+v", r)
	}
	if r, _ := e.m.Remove(ctx, "alice", j2.ID); r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v", r)
	}
	// a: bob's 1 core; b: the copy (3 cores) and the moved job (6 cores).
	want := map[string]placement.Load{"a": {Jobs: 1, Cores: 1, MemoryGB: 1}, "b": {Jobs: 2, Cores: 9, MemoryGB: 5}}
	for p, w := range want {
		if l := e.m.Load(p); l.Jobs != w.Jobs || l.Cores != w.Cores || l.MemoryGB != w.MemoryGB {
			t.Fatalf("load of %s after the writes: %+v, want %+v", p, l, w)
		}
	}
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for p, w := range want {
		if l := e.m.Load(p); l.Jobs != w.Jobs || l.Cores != w.Cores || l.MemoryGB != w.MemoryGB {
			t.Fatalf("load of %s recounted: %+v, want %+v", p, l, w)
		}
	}
	// Remove everything at a: its load is zero.
	for _, j := range e.listJobs() {
		if j.ProviderID == "a" && j.Status == jobs.StatusSuccess {
			if r, _ := e.m.Remove(ctx, j.Owner, j.ID); r.Status != csbmsg.StatusOK {
				t.Fatalf("remove: %+v", r)
			}
		}
	}
	if l := e.m.Load("a"); l != (placement.Load{}) {
		t.Fatalf("load of a with nothing left: %+v", l)
	}
}

// TestCensusMatchesList: the census reports every stored job with the
// status and revision List reads.
func TestCensusMatchesList(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	j := e.create("alice", 1).Job
	e.create("bob", 2)
	if r, _ := e.m.Remove(ctx, "alice", j.ID); r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v", r)
	}
	e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("full")})
	if r := e.create("carol", 1); r.Job == nil || r.Job.Status != jobs.StatusFailed {
		t.Fatalf("failed job: %+v", r)
	}
	census, err := e.m.Census(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list := e.listJobs()
	if len(census) != 3 || len(list) != 3 {
		t.Fatalf("census %d jobs, list %d, want 3", len(census), len(list))
	}
	byID := map[string]*jobs.Job{}
	for _, j := range list {
		byID[j.ID] = j
	}
	seen := map[jobs.Status]bool{}
	for _, s := range census {
		j := byID[s.ID]
		if j == nil || j.Status != s.Status || j.Rev != s.Rev || s.Rev == 0 {
			t.Fatalf("census %+v, list %+v", s, j)
		}
		seen[s.Status] = true
	}
	if !seen[jobs.StatusSuccess] || !seen[jobs.StatusRemoved] || !seen[jobs.StatusFailed] {
		t.Fatalf("statuses %v", seen)
	}
}

// A create in flight when the broker stopped may be carried out by the
// provider after the broker stopped listening: the provider then holds a
// part the stopped broker never recorded. The next broker removes the
// recorded part and, before it provisions again, what the provider still
// holds tagged with the job, so the retry leaves nothing behind.
func TestRestartRemovesUnrecordedPartsBeforeRetrying(t *testing.T) {
	e, j := stopAfterPartialCreate(t)
	recorded := e.ads["a"].LiveFor(j.ID)
	if !j.Attempts[0].Partial || len(recorded) != 1 {
		t.Fatalf("after stop: %+v, provider holds %v", j.Attempts[0], recorded)
	}
	// The part created by the call the stopped broker no longer awaited.
	e.ads["a"].SetFault(jobstest.Fault{})
	if _, err := e.ads["a"].Provision(ctx, &contract.Request{JobID: j.ID, Want: *jobstest.VMRequest(1, 1)}); err != nil {
		t.Fatal(err)
	}
	m2 := e.start(e.cfg)
	m2.Start()
	j = e.waitJob(m2, "alice", j.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 || got[0] != j.Resource.URI {
		t.Fatalf("provider holds %v for the job, want only %s (recorded part was %s)", got, j.Resource.URI, recorded[0])
	}
	if a0 := j.Attempts[0]; a0.Outcome != jobs.OutcomeInterrupted || a0.Cleanup != jobs.CleanupRechecked || len(j.Attempts) != 2 {
		t.Fatalf("attempts %+v", j.Attempts)
	}
}

// A resumed attempt whose provider cannot say what it holds for the job
// (its Find fails) is not retried blind, which could leave behind what
// the interrupted attempt created: it stays in progress and the next
// reaper pass asks again; once the provider answers, what it holds is
// removed and the job provisioned once.
func TestResumeAsksAgainWhenFindFails(t *testing.T) {
	e, j, live := stopAfterUnrecordedPartialCreate(t)
	e.ads["a"].SetFault(jobstest.Fault{Find: errors.New("identity service down")})
	m2 := e.start(e.cfg)
	if _, err := m2.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	e.waitJob(m2, "alice", j.ID, func(j *jobs.Job) bool { return j.Attempts[0].FindFailures == 1 })
	m2.Stop() // waits for the resumed work
	j2, err := e.start(e.cfg).Get(ctx, "alice", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 || got[0] != live[0] {
		t.Fatalf("provider holds %v after a resumption that could not ask it, want only %s", got, live[0])
	}
	if len(j2.Attempts) != 1 || j2.Attempts[0].Outcome != jobs.OutcomeInProgress || j2.Attempts[0].FindFailures != 1 || j2.Op == nil {
		t.Fatalf("job after the failed find: %s %+v", j2.Status, j2.Attempts)
	}

	e.ads["a"].SetFault(jobstest.Fault{})
	m3 := e.start(e.cfg)
	m3.Start()
	j3 := e.waitJob(m3, "alice", j.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 || got[0] != j3.Resource.URI || got[0] == live[0] {
		t.Fatalf("provider holds %v, want only the new %s", got, j3.Resource.URI)
	}
}

// A resumption that removed the recorded part but could not ask the
// provider what else it holds for the job (its Find fails) does not
// retry blind either: the attempt stays in progress, and the next pass
// asks, removes what is left and provisions once.
func TestResumeAsksAgainWhenFindFailsAfterRemovingTheRecordedPart(t *testing.T) {
	e, j := stopAfterPartialCreate(t)
	recorded := e.ads["a"].LiveFor(j.ID)
	// The part created by the call the stopped broker no longer awaited.
	e.ads["a"].SetFault(jobstest.Fault{})
	extra, err := e.ads["a"].Provision(ctx, &contract.Request{JobID: j.ID, Want: *jobstest.VMRequest(1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e.ads["a"].SetFault(jobstest.Fault{Find: errors.New("identity service down")})
	m2 := e.start(e.cfg)
	if _, err := m2.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	e.waitJob(m2, "alice", j.ID, func(j *jobs.Job) bool { return j.Attempts[0].FindFailures == 1 })
	m2.Stop()
	j2, err := e.start(e.cfg).Get(ctx, "alice", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := j2.Attempts; len(a) != 1 || a[0].Outcome != jobs.OutcomeInProgress || a[0].Resource != nil || !a[0].Partial {
		t.Fatalf("attempts after the failed find: %+v", a)
	}
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 || got[0] != extra.URI {
		t.Fatalf("provider holds %v, want only the unrecorded part %s (recorded %v removed)", got, extra.URI, recorded)
	}

	e.ads["a"].SetFault(jobstest.Fault{})
	m3 := e.start(e.cfg)
	m3.Start()
	j3 := e.waitJob(m3, "alice", j.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 || got[0] != j3.Resource.URI || got[0] == extra.URI {
		t.Fatalf("provider holds %v, want only the new %s", got, j3.Resource.URI)
	}
}

// A provider that accepts the removal of an interrupted attempt's part
// but keeps listing it for the job: after a few rounds the part becomes
// an orphan, which the reaper removes once the provider carries deletes
// out, rather than being forgotten.
func TestResumeOrphansWhatTheProviderStillLists(t *testing.T) {
	e, j := stopAfterPartialCreate(t)
	recorded := e.ads["a"].LiveFor(j.ID)
	e.ads["a"].SetFault(jobstest.Fault{RemoveKeeps: true})
	m2 := e.start(e.cfg)
	m2.Start()
	j2 := e.waitJob(m2, "alice", j.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	// The recorded handle came with Provision's error: besides the part
	// still listed, it is an orphan to remove again (Lost), once the job
	// holds nothing at a.
	if len(j2.Orphans) != 2 || !j2.Orphans[0].Lost || j2.Orphans[1].Lost || j2.Orphans[1].Resource.URI != recorded[0] {
		t.Fatalf("orphans %+v, want the part %s the provider still lists", j2.Orphans, recorded[0])
	}
	e.ads["a"].SetFault(jobstest.Fault{})
	if _, err := m2.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 || got[0] != j2.Resource.URI {
		t.Fatalf("provider holds %v after the reaper pass, want only %s", got, j2.Resource.URI)
	}
}

// A find cut short by the broker's own stop is not the provider's
// refusal: it does not count towards the retries without knowing.
func TestResumeFindCutByStopIsNotAFailure(t *testing.T) {
	e, j, live := stopAfterUnrecordedPartialCreate(t)
	hang := make(chan struct{})
	e.ads["a"].SetFault(jobstest.Fault{FindHang: hang})
	m2 := e.start(e.cfg)
	if _, err := m2.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	<-hang
	m2.Stop()
	j2, err := e.start(e.cfg).Get(ctx, "alice", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := j2.Attempts; len(a) != 1 || a[0].Outcome != jobs.OutcomeInProgress || a[0].FindFailures != 0 {
		t.Fatalf("attempts after a stop during the find: %+v", a)
	}
	if got := e.ads["a"].LiveFor(j.ID); len(got) != 1 || got[0] != live[0] {
		t.Fatalf("provider holds %v", got)
	}
}
