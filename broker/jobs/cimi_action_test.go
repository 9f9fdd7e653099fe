package jobs_test

import (
	"errors"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// TestCIMIActAndMachineState: an action goes to the job's provider (through
// Update's compute action for an adapter without contract.Actor), is
// recorded on the job, and MachineState then reports the provider's state; a
// foreign job is ErrNoJob and an unknown action 420.
func TestCIMIActAndMachineState(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{Labels: map[string]string{"cimi.name": "m1"}})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v %v", r, err)
	}
	id := r.Job.ID
	if r.Job.Labels["cimi.name"] != "m1" {
		t.Fatalf("labels not stored: %v", r.Job.Labels)
	}
	if _, st, err := e.m.MachineState(ctx, "alice", id); err != nil || st != contract.MachineStarted {
		t.Fatalf("observe a new machine: %q %v", st, err)
	}
	if _, err := e.m.Act(ctx, "bob", id, contract.ActionStop); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("bob stops alice's machine: %v", err)
	}
	if _, _, err := e.m.MachineState(ctx, "bob", id); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("bob observes alice's machine: %v", err)
	}
	updates := e.ads["a"].Calls("update")
	res, err := e.m.Act(ctx, "alice", id, contract.ActionStop)
	if err != nil || res.Status != csbmsg.StatusOK {
		t.Fatalf("stop: %+v %v", res, err)
	}
	if e.ads["a"].Calls("update") != updates+1 {
		t.Fatal("the action did not reach the adapter")
	}
	j, st, err := e.m.MachineState(ctx, "alice", id)
	if err != nil || st != contract.MachineStopped {
		t.Fatalf("observe after stop: %q %v", st, err)
	}
	if len(j.Actions) != 1 || j.Actions[0].Action != contract.ActionStop || j.Actions[0].Outcome != jobs.OutcomeSuccess {
		t.Fatalf("action records: %+v", j.Actions)
	}
	if res, _ := e.m.Act(ctx, "alice", id, "explode"); res == nil || res.Status != csbmsg.StatusUnsupported {
		t.Fatalf("unknown action: %+v", res)
	}
}

// TestCIMISetLabels: labels merge, an empty value deletes, and only the
// owner may set them.
func TestCIMISetLabels(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	r := e.create("alice", 1)
	id := r.Job.ID
	if _, err := e.m.SetLabels(ctx, "bob", id, map[string]string{"x": "1"}); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("bob labels alice's job: %v", err)
	}
	if _, err := e.m.SetLabels(ctx, "alice", id, map[string]string{"x": "1", "y": "2"}); err != nil {
		t.Fatal(err)
	}
	res, err := e.m.SetLabels(ctx, "alice", id, map[string]string{"x": "", "z": "3"})
	if err != nil || res.Status != csbmsg.StatusOK {
		t.Fatalf("%+v %v", res, err)
	}
	j, _ := e.m.Get(ctx, "alice", id)
	if len(j.Labels) != 2 || j.Labels["y"] != "2" || j.Labels["z"] != "3" {
		t.Fatalf("labels: %v", j.Labels)
	}
}
