package jobs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// removeProbe is an adapter that runs during before each Remove.
type removeProbe struct {
	*jobstest.Adapter
	during func()
}

func (p *removeProbe) Remove(ctx context.Context, res *contract.Resource) error {
	p.during()
	return p.Adapter.Remove(ctx, res)
}

// TestJobEndpointEndsWhenRemovalStarts: once a remove is accepted (the
// job records the removal in progress, its status still success while
// the provider removes the resources), the job route no longer reaches
// the job: JobEndpoint answers ErrNoJob during the removal as after it.
// A removal that fails leaves the job as it was, its route with it.
func TestJobEndpointEndsWhenRemovalStarts(t *testing.T) {
	var e *env
	var during error
	probe := &removeProbe{during: func() {
		_, during = e.m.JobEndpoint(ctx, "alice", e.listJobs()[0].ID)
	}}
	e = newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.Adapter = func(string, catalog.Kind) (contract.Adapter, bool) { return probe, true }
	})
	probe.Adapter = e.ads["a"]
	j := e.create("alice", 1).Job
	if _, err := e.m.JobEndpoint(ctx, "alice", j.ID); err != nil {
		t.Fatalf("before the remove: %v", err)
	}

	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("provider down")})
	if res, err := e.m.Remove(ctx, "alice", j.ID); err != nil || res.Job.Status != jobs.StatusSuccess {
		t.Fatalf("failing remove: %+v %v", res, err)
	}
	if !errors.Is(during, jobs.ErrNoJob) {
		t.Fatalf("during a removal (that then failed): %v, want ErrNoJob", during)
	}
	if _, err := e.m.JobEndpoint(ctx, "alice", j.ID); err != nil {
		t.Fatalf("after a failed removal: %v, want the job's endpoint again", err)
	}

	e.ads["a"].SetFault(jobstest.Fault{})
	during = nil
	if res, err := e.m.Remove(ctx, "alice", j.ID); err != nil || res.Job.Status != jobs.StatusRemoved {
		t.Fatalf("remove: %+v %v", res, err)
	}
	if !errors.Is(during, jobs.ErrNoJob) {
		t.Fatalf("during the removal: %v, want ErrNoJob", during)
	}
}
