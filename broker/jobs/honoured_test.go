package jobs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// honouredPlacer places with adapters' honoured sets; it is filled in
// once the env's catalogue exists.
type honouredPlacer struct{ p *placement.Placer }

func (h *honouredPlacer) Place(req *csbmsg.ServiceRequest, opt placement.Options) (*placement.Decision, error) {
	return h.p.Place(req, opt)
}

// honouredEnv: providers a and b offer the same VM; b's adapter also
// honours compute/hostname, neither honours network/address.
func honouredEnv(t *testing.T, ignore bool) *env {
	t.Helper()
	hp := new(honouredPlacer)
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		c.Placer = hp
		c.IgnoreUnhonoured = ignore
	})
	base := contract.Fields("IaaS/compute", "IaaS/compute/cores", "IaaS/compute/memory", "IaaS/network")
	sets := map[string]contract.FieldSet{"a": base, "b": base.Union(contract.Fields("IaaS/compute/hostname"))}
	var err error
	hp.p, err = placement.New(placement.Config{Catalog: e.cat, Order: []string{"a", "b"},
		Honoured: func(id string, _ catalog.Kind) contract.FieldSet { return sets[id] }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCreateHonouredFields(t *testing.T) {
	e := honouredEnv(t, false)
	ctx := context.Background()

	req := jobstest.VMRequest(2, 1)
	host := "web1"
	req.IaaS.Compute.Hostname = &host
	r, err := e.m.Create(ctx, "alice", req, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("hostname: %v %+v", err, r)
	}

	addr := "10.0.0.0/24"
	req = jobstest.VMRequest(2, 1)
	req.IaaS.Network = &csbmsg.Network{Address: &addr}
	r, err = e.m.Create(ctx, "alice", req, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusUnsupported || r.Job != nil ||
		!strings.HasPrefix(r.Reason, "unsupported element IaaS/network/address") || !strings.Contains(r.Reason, "a: its adapter does not honour IaaS/network/address") {
		t.Fatalf("address: %v %+v", err, r)
	}
	if n := len(e.listJobs()); n != 1 {
		t.Fatalf("%d jobs stored, want only the hostname one", n)
	}
}

func TestCreateIgnoresUnhonouredFields(t *testing.T) {
	e := honouredEnv(t, true)
	addr := "10.0.0.0/24"
	req := jobstest.VMRequest(2, 1)
	req.IaaS.Network = &csbmsg.Network{Address: &addr}
	r, err := e.m.Create(context.Background(), "alice", req, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("%v %+v", err, r)
	}
	j := e.waitJob(e.m, "alice", r.Job.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if !slices.Equal(j.Ignored, []string{"IaaS/network/address"}) || !strings.Contains(j.Reason, "ignored fields its adapter does not honour: IaaS/network/address") {
		t.Fatalf("job %+v", j)
	}
}
