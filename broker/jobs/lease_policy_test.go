package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// TestRenewalBoundByCurrentLeaseMax: the operator lowers lease_max (a
// config reload) below the lease a job was granted. A renewal that asks
// for no length (an empty PUT) renewed the job for its old lease, beyond
// the maximum a create is now granted; it gets the maximum, as a create
// would.
func TestRenewalBoundByCurrentLeaseMax(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.LeaseMax = 720 * time.Hour })
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{Lease: 700 * time.Hour})
	if err != nil || r.Job == nil || r.Job.LeaseSeconds != uint64(700*time.Hour/time.Second) {
		t.Fatalf("create: %v %+v", err, r)
	}
	cfg := e.m.Config()
	cfg.LeaseMax = 2 * time.Hour
	if err := e.m.SetTunables(cfg); err != nil {
		t.Fatal(err)
	}
	res, err := e.m.Update(ctx, "alice", r.Job.ID, &csbmsg.ServiceRequest{}, 0)
	if err != nil || res.Status != csbmsg.StatusOK {
		t.Fatalf("renew: %v %+v", err, res)
	}
	if got := res.Job.Expires.Sub(e.clock.Now()); got != 2*time.Hour {
		t.Fatalf("renewed for %v, want lease_max 2h", got)
	}
	if got := res.Job.ExpiresIn(e.clock.Now()); got != 7200 {
		t.Fatalf("<expires> %d, want 7200", got)
	}
}

// TestCopyAndMoveBoundByCurrentLeaseMax: a copy or a move that asks for
// no lease length is granted one as long as the job's, bounded by the
// current lease_max as a create's is.
func TestCopyAndMoveBoundByCurrentLeaseMax(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) { c.LeaseMax = 720 * time.Hour })
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{Lease: 700 * time.Hour})
	if err != nil || r.Job == nil {
		t.Fatalf("create: %v %+v", err, r)
	}
	cfg := e.m.Config()
	cfg.LeaseMax = 2 * time.Hour
	if err := e.m.SetTunables(cfg); err != nil {
		t.Fatal(err)
	}
	want := uint64(2 * time.Hour / time.Second)
	c, err := e.m.Copy(ctx, "alice", r.Job.ID, jobs.CreateOptions{})
	if err != nil || c.Job == nil {
		t.Fatalf("copy: %v %+v", err, c)
	}
	if c.Job.LeaseSeconds != want {
		t.Fatalf("copy granted %d s, want lease_max %d s", c.Job.LeaseSeconds, want)
	}
	mv, err := e.m.Move(ctx, "alice", r.Job.ID, jobs.CreateOptions{})
	if err != nil || mv.Status != csbmsg.StatusOK || mv.Job == nil {
		t.Fatalf("move: %v %+v", err, mv)
	}
	if mv.Job.LeaseSeconds != want {
		t.Fatalf("move granted %d s, want lease_max %d s", mv.Job.LeaseSeconds, want)
	}
}

// TestHeldRenewalNotRecordedIsNotAnsweredRenewed: a renewal of a job at
// a deactivated provider renews the broker's lease without calling the
// provider. When that lease could not be stored, the renewal was
// answered 200 "lease renewed" all the same, and the reaper reclaimed
// the job at the old lease's end: the consumer who renewed in time lost
// the resource. It is an error now, as an unrecorded renewal is at an
// active provider.
func TestHeldRenewalNotRecordedIsNotAnsweredRenewed(t *testing.T) {
	ctx := context.Background()
	var s *failingKeys
	e := newLifeEnv(t, func(c *jobs.Config) {
		s = &failingKeys{Memory: c.Store.(*store.Memory), prefix: "csb/jobs/job/"}
		c.Store = s
	})
	j := lifeJob(t, e)
	deactivate(e, "a", csbmsg.ServiceDeactivated)
	e.clock.Advance(50 * time.Minute)
	s.failing.Store(true)
	res, err := e.m.Update(ctx, "alice", j.ID, &csbmsg.ServiceRequest{}, 0)
	s.failing.Store(false)
	if err != nil && !errors.Is(err, jobs.ErrNotRecorded) {
		t.Errorf("the unrecorded renewal's error %v is no ErrNotRecorded (answered 500, not 503)", err)
	}
	if err == nil && res.Status == csbmsg.StatusOK {
		t.Fatalf("renewal answered %s %q although its lease was not stored", res.Status, res.Reason)
	}
	got, err := e.m.Inspect(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expires.Equal(j.Expires) {
		t.Fatalf("stored lease end %v, want the old one %v", got.Expires, j.Expires)
	}
}

// TestActiveRenewalNotRecordedIsNotRecordedError: a renewal at an active
// provider whose lease cannot be stored is ErrNotRecorded, which the
// consumer interface answers 503 ("the broker could not record the job"),
// not a bare store error answered 500.
func TestActiveRenewalNotRecordedIsNotRecordedError(t *testing.T) {
	ctx := context.Background()
	var s *failingKeys
	e := newLifeEnv(t, func(c *jobs.Config) {
		s = &failingKeys{Memory: c.Store.(*store.Memory), prefix: "csb/jobs/job/"}
		c.Store = s
	})
	j := lifeJob(t, e)
	e.clock.Advance(50 * time.Minute)
	s.failing.Store(true)
	res, err := e.m.Update(ctx, "alice", j.ID, &csbmsg.ServiceRequest{}, 0)
	s.failing.Store(false)
	if !errors.Is(err, jobs.ErrNotRecorded) {
		t.Fatalf("renewal not stored: %v %v, want ErrNotRecorded", res, err)
	}
}
