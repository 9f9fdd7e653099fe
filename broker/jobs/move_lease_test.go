package jobs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

// TestMoveGrantsAskedLease: a MOVE with Csb-Lease (CreateOptions.Lease)
// grants the job that lease at its new provider, bounded as a create's
// is. The lease was dropped: the move answered 200 with the job's old
// lease, less than asked and nothing said. A move that fails (the new
// provider fails) or is undone (the original cannot be removed) leaves
// the job where it was with its old lease and its old lease's end: the
// asked lease came with the move only.
func TestMoveGrantsAskedLease(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) { c.LeaseMax = 5 * time.Hour })
	j := quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{Lease: time.Hour}).Job
	if j.ProviderID != "a" || j.LeaseSeconds != 3600 {
		t.Fatalf("create: at %s lease %d", j.ProviderID, j.LeaseSeconds)
	}
	e.clock.Advance(10 * time.Minute)

	// The new provider fails: the job stays at a, with its lease.
	e.ads["b"].SetFault(jobstest.Fault{Provision: errors.New("full")})
	r, err := e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{Lease: 3 * time.Hour})
	if err != nil || r.Status != csbmsg.StatusUnableToFindResource || r.Job.ProviderID != "a" {
		t.Fatalf("failing move: %+v %v", r, err)
	}
	got, _ := e.m.Get(ctx, "alice", j.ID)
	if got.LeaseSeconds != 3600 || !got.Expires.Equal(j.Expires) || r.Job.LeaseSeconds != 3600 {
		t.Fatalf("after the failed move: lease %d (answer %d) ending %v, want 3600 ending %v", got.LeaseSeconds, r.Job.LeaseSeconds, got.Expires, j.Expires)
	}

	// The original cannot be removed: the move is undone.
	e.ads["b"].SetFault(jobstest.Fault{})
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("pinned"), RemoveTimes: 1})
	r, err = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{Lease: 3 * time.Hour})
	if err != nil || r.Status != csbmsg.StatusCannotRemoveResource || r.Job.ProviderID != "a" {
		t.Fatalf("undone move: %+v %v", r, err)
	}
	got, _ = e.m.Get(ctx, "alice", j.ID)
	if got.LeaseSeconds != 3600 || !got.Expires.Equal(j.Expires) {
		t.Fatalf("after the undone move: lease %d ending %v, want 3600 ending %v", got.LeaseSeconds, got.Expires, j.Expires)
	}

	// The move goes through: the asked lease from the move on.
	r, err = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{Lease: 3 * time.Hour})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("move: %+v %v", r, err)
	}
	if r.Job.LeaseSeconds != 3*3600 || !r.Job.Expires.Equal(e.clock.Now().Add(3*time.Hour)) {
		t.Fatalf("moved with lease %d ending %v, want 10800 ending %v", r.Job.LeaseSeconds, r.Job.Expires, e.clock.Now().Add(3*time.Hour))
	}
	// Bounded as a create's lease: 10 h asked, lease_max 5 h granted.
	r, err = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{Lease: 10 * time.Hour})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "a" || r.Job.LeaseSeconds != 5*3600 {
		t.Fatalf("move asking 10 h: %+v %v", r, err)
	}
	// Without Csb-Lease, a lease as long as the job's.
	r, err = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.LeaseSeconds != 5*3600 {
		t.Fatalf("move without a lease: %+v %v", r, err)
	}
}

// TestQuotaMoveLeasePriced: the quotas price a MOVE for the lease it
// grants, the asked one: a move whose asked lease at the new price does
// not fit the spend left is refused (it was priced for the job's old
// lease and passed), and the job keeps its lease; a shorter one passes.
func TestQuotaMoveLeasePriced(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		c.CheckInterval = 24 * time.Hour // no background check writes the job between the reads compared
		c.Quota = &quota.Policy{Users: map[string]quota.Limits{"alice": {Spend: []quota.Spend{{Amount: 5, Period: quota.Day}}}}}
	})
	quotaPrice(e, "a", 1)
	quotaPrice(e, "b", 1)
	// 2 cores × 1 × 1 h = 2 committed at a.
	j := quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{Lease: time.Hour}).Job
	before, _ := e.m.Get(ctx, "alice", j.ID)
	// 3 h at b cost 6, 4 more than the 2 committed: 6 > 5.
	r, err := e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{Lease: 3 * time.Hour})
	if err != nil || r.Status != csbmsg.StatusUnableToFindResource ||
		!strings.HasSuffix(r.Reason, "2 spent or committed this day, the request would cost 4 for its lease") {
		t.Fatalf("3 h move: %+v %v", r, err)
	}
	after, _ := e.m.Get(ctx, "alice", j.ID)
	sameJob(t, "the refused 3 h move", after, before)
	// 2 h cost 4, 2 more: 4 <= 5.
	r, err = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{Lease: 2 * time.Hour})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" || r.Job.LeaseSeconds != 2*3600 {
		t.Fatalf("2 h move: %+v %v", r, err)
	}
}
