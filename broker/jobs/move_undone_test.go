package jobs_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// TestMoveUndoneKeepsIgnoredFields: a move whose original could not be
// removed is undone and the job stays at its original provider. The
// fields that provider's adapter ignores must still be named: the undo
// kept the move's candidate's list, so the job at a (which ignores
// compute/hostname) said it ignored nothing, because b honours it.
func TestMoveUndoneKeepsIgnoredFields(t *testing.T) {
	base := contract.Fields("IaaS/compute", "IaaS/compute/cores", "IaaS/compute/memory", "IaaS/network")
	sets := map[string]contract.FieldSet{"a": base, "b": base.Union(contract.Fields("IaaS/compute/hostname"))}
	honoured := func(id string, _ catalog.Kind) contract.FieldSet { return sets[id] }
	hp := new(honouredPlacer)
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		c.Placer = hp
		c.IgnoreUnhonoured = true
		c.Honoured = honoured
	})
	var err error
	hp.p, err = placement.New(placement.Config{Catalog: e.cat, Order: []string{"a", "b"}, Honoured: honoured})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(2, 1), jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "a" {
		t.Fatalf("create: %v %+v", err, r)
	}
	// a ignores the hostname an update sets (unhonoured_fields ignore).
	host := "web1"
	r, err = e.m.Update(ctx, "alice", r.Job.ID, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Hostname: &host}}}, 0)
	if err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("update: %v %+v", err, r)
	}
	j := r.Job
	if j.ProviderID != "a" || !slices.Equal(j.Ignored, []string{"IaaS/compute/hostname"}) {
		t.Fatalf("at %s ignoring %v, want a ignoring the hostname", j.ProviderID, j.Ignored)
	}
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("pinned"), RemoveTimes: 1})
	r, err = e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusCannotRemoveResource || r.Job.ProviderID != "a" {
		t.Fatalf("move: %+v %v", r, err)
	}
	j, _ = e.m.Get(ctx, "alice", j.ID)
	if j.ProviderID != "a" || !slices.Equal(j.Ignored, []string{"IaaS/compute/hostname"}) {
		t.Fatalf("after the undone move the job is at %s ignoring %v, want a ignoring the hostname", j.ProviderID, j.Ignored)
	}
}

// TestMoveUndoneKeepsEncryptionSupport: after an undone move the job is
// back at a provider without encryption-support, but kept the move's
// candidate's, so an update asking for encryption was sent to a provider
// that cannot encrypt and answered 200 "updated".
func TestMoveUndoneKeepsEncryptionSupport(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	yes := true
	e.cat.AddProvider(catalog.ProviderEntry{ID: "b", EncryptionSupport: &yes})
	ctx := context.Background()
	j := e.create("alice", 2).Job
	if j.ProviderID != "a" || j.Encryption {
		t.Fatalf("placed at %s (encryption %v), want a without", j.ProviderID, j.Encryption)
	}
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("pinned"), RemoveTimes: 1})
	r, err := e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusCannotRemoveResource || r.Job.ProviderID != "a" {
		t.Fatalf("move: %+v %v", r, err)
	}
	upd := &csbmsg.ServiceRequest{Encryption: &yes}
	r, err = e.m.Update(ctx, "alice", j.ID, upd, 0)
	if err != nil || r.Status != csbmsg.StatusCannotUpdateResource {
		t.Fatalf("an update asking a for encryption: %+v %v, want 409", r, err)
	}
}
