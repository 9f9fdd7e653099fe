package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// lostCreate creates a job whose create at provider a was carried out
// but its answer lost, with a provider that lists the resource only
// later (jobstest.Fault.Late): the plan moves on to b. It returns the
// job and checks what the attempt's cleanup left: the handle removed
// once (finding nothing), and kept as an orphan due again after the
// first recheck delay.
func lostCreate(t *testing.T, e *env) *jobs.Job {
	t.Helper()
	e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("connection reset"), Partial: true, Late: true})
	r := e.create("alice", 1)
	j := r.Job
	if r.Status != csbmsg.StatusOK || j.ProviderID != "b" || len(j.Attempts) != 2 {
		t.Fatalf("create: %+v", r)
	}
	if a0 := j.Attempts[0]; a0.ProviderID != "a" || a0.Cleanup != jobs.CleanupRechecked {
		t.Fatalf("attempt at a: %+v", a0)
	}
	if n := e.ads["a"].Calls("remove"); n != 1 {
		t.Fatalf("removals at a after the attempt: %d, want 1", n)
	}
	want := e.clock.Now().Add(jobs.LostRechecks[0])
	if len(j.Orphans) != 1 || !j.Orphans[0].Lost || j.Orphans[0].Removals != 1 || !j.Orphans[0].Due.Equal(want) || j.Orphans[0].ProviderID != "a" {
		t.Fatalf("orphans %+v, want the lost handle due at %s", j.Orphans, want)
	}
	return j
}

// pass runs one reaper pass of m and fails the test on an error.
func pass(t *testing.T, m *jobs.Manager) jobs.PassStats {
	t.Helper()
	st, err := m.ReapOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLostCreateRemovedWhenItShowsUpLater: a provider that lists a create
// whose answer was lost only after the attempt's cleanup removed its
// handle (finding nothing) gets a later Remove with the handle, which
// removes the resource, instead of leaving it running for ever.
func TestLostCreateRemovedWhenItShowsUpLater(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	j := lostCreate(t, e)
	e.ads["a"].Surface()
	if live := e.ads["a"].LiveFor(j.ID); len(live) != 1 {
		t.Fatalf("a lists %v for the job, want the late resource", live)
	}
	// Not due yet: a is not called.
	e.clock.Advance(jobs.LostRechecks[0] - time.Second)
	if st := pass(t, e.m); st.Orphans != 0 || e.ads["a"].Calls("remove") != 1 || len(e.ads["a"].LiveFor(j.ID)) != 1 {
		t.Fatalf("pass before the recheck is due: %+v, %d removals", st, e.ads["a"].Calls("remove"))
	}
	e.clock.Advance(time.Second)
	if st := pass(t, e.m); st.Orphans != 1 || st.Failures != 0 {
		t.Fatalf("pass at the recheck: %+v", st)
	}
	if live := e.ads["a"].LiveFor(j.ID); len(live) != 0 {
		t.Fatalf("the late resource survived the recheck: %v", live)
	}
	// Remove does not say it found something: the schedule goes on.
	got, _ := e.m.Get(ctx, "alice", j.ID)
	if len(got.Orphans) != 1 || got.Orphans[0].Removals != 2 || !got.Orphans[0].Due.Equal(e.clock.Now().Add(jobs.LostRechecks[1])) {
		t.Fatalf("orphans after the recheck: %+v", got.Orphans)
	}
	if got.Status != jobs.StatusSuccess || got.ProviderID != "b" || len(e.ads["b"].LiveFor(j.ID)) != 1 {
		t.Fatalf("the job itself: %s at %s", got.Status, got.ProviderID)
	}
}

// TestLostCreateDroppedAfterLastRecheck: a create whose answer was lost
// and that never shows up is removed again at each recheck, and then
// dropped: the job holds no orphan any more and a is not called again.
func TestLostCreateDroppedAfterLastRecheck(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	j := lostCreate(t, e)
	for i, d := range jobs.LostRechecks {
		e.clock.Advance(d)
		st := pass(t, e.m)
		last := i == len(jobs.LostRechecks)-1
		if st.Orphans != 1 || (st.Dropped == 1) != last {
			t.Fatalf("recheck %d: %+v", i+1, st)
		}
		if n := e.ads["a"].Calls("remove"); n != i+2 {
			t.Fatalf("recheck %d: %d removals at a, want %d", i+1, n, i+2)
		}
	}
	got, _ := e.m.Get(ctx, "alice", j.ID)
	if len(got.Orphans) != 0 {
		t.Fatalf("orphans after the last recheck: %+v", got.Orphans)
	}
	e.clock.Advance(time.Hour)
	pass(t, e.m)
	if n := e.ads["a"].Calls("remove"); n != 1+len(jobs.LostRechecks) {
		t.Fatalf("a called again after the handle was dropped: %d removals", n)
	}
}

// TestLostCreateRecheckSurvivesRestart: the schedule is in the job's
// record: a broker restarted between the cleanup and the rechecks
// neither removes early nor forgets the handle.
func TestLostCreateRecheckSurvivesRestart(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	j := lostCreate(t, e)
	e.m.Stop()
	e.clock.Advance(jobs.LostRechecks[0] / 2)
	m2 := e.start(e.cfg)
	if st := pass(t, m2); st.Orphans != 0 || e.ads["a"].Calls("remove") != 1 {
		t.Fatalf("restarted broker's pass before the recheck is due: %+v, %d removals", st, e.ads["a"].Calls("remove"))
	}
	e.ads["a"].Surface()
	e.clock.Advance(jobs.LostRechecks[0] / 2)
	if st := pass(t, m2); st.Orphans != 1 || len(e.ads["a"].LiveFor(j.ID)) != 0 {
		t.Fatalf("restarted broker's recheck: %+v, a lists %v", st, e.ads["a"].LiveFor(j.ID))
	}
	m2.Stop()
	m3 := e.start(e.cfg)
	got, err := m3.Get(ctx, "alice", j.ID)
	if err != nil || len(got.Orphans) != 1 || got.Orphans[0].Removals != 2 || !got.Orphans[0].Due.Equal(e.clock.Now().Add(jobs.LostRechecks[1])) {
		t.Fatalf("after a second restart: %+v %v", got, err)
	}
	e.clock.Advance(jobs.LostRechecks[1])
	if st := pass(t, m3); st.Orphans != 1 || e.ads["a"].Calls("remove") != 3 {
		t.Fatalf("second recheck after the restarts: %+v, %d removals", st, e.ads["a"].Calls("remove"))
	}
}

// TestLostRecheckWaitsWhileJobHoldsAtProvider: a lost create's handle
// names the job at its provider (an EC2 client token, a Nova server's
// name), so its Remove would take the job's own resource there too (a
// later attempt on the same provider, or the retry of an interrupted
// one, that succeeded). The recheck waits until the job's resource there
// is removed, and is made then.
func TestLostRecheckWaitsWhileJobHoldsAtProvider(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	j := e.create("alice", 1).Job
	if j.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v", j)
	}
	// As a failed earlier attempt at a would have left it, due now.
	e.m.Stop()
	m1 := e.start(e.cfg)
	j, _ = m1.Get(ctx, "alice", j.ID)
	m1.Stop()
	j.Orphans = append(j.Orphans, jobs.Orphan{ProviderID: "a", Since: e.clock.Now(), Lost: true, Removals: 1, Due: e.clock.Now(),
		Resource: &contract.Resource{URI: "mem://a/lost/" + j.ID, State: contract.StateFailed, Native: map[string]string{"lost_job": j.ID}}})
	writeJob(t, e, j)
	m := e.start(e.cfg)
	removals := e.ads["a"].Calls("remove")
	e.clock.Advance(jobs.LostRechecks[2])
	pass(t, m)
	if n := e.ads["a"].Calls("remove"); n != removals || len(e.ads["a"].LiveFor(j.ID)) != 1 {
		t.Fatalf("the recheck ran while the job holds its resource at a: %d removals, a lists %v", n-removals, e.ads["a"].LiveFor(j.ID))
	}
	if r, err := m.Remove(ctx, "alice", j.ID); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", r, err)
	}
	removals = e.ads["a"].Calls("remove")
	if st := pass(t, m); st.Orphans != 1 || e.ads["a"].Calls("remove") != removals+1 {
		t.Fatalf("pass after the job's removal: %+v", st)
	}
	got, _ := m.Get(ctx, "alice", j.ID)
	if len(got.Orphans) != 1 || got.Orphans[0].Removals != 2 {
		t.Fatalf("orphans after the recheck: %+v", got.Orphans)
	}
}
