package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// TestMoveRefusedWhileAttached: a volume attached to a machine, and a
// machine with a volume attached, are not moved: the move would remove
// the original at its provider, the volume from under its machine, or
// leave the machine naming volumes it no longer has there. Once
// detached, the volume moves.
func TestMoveRefusedWhileAttached(t *testing.T) {
	ats := map[string]*attacher{}
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		inner := c.Adapter
		c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
			ad, ok := inner(id, k)
			if !ok {
				return nil, false
			}
			if ats[id] == nil {
				ats[id] = &attacher{Adapter: ad.(*jobstest.Adapter), attached: map[string]string{}}
			}
			return ats[id], true
		}
	})
	mk := func(req *csbmsg.ServiceRequest) string {
		r, err := e.m.Create(ctx, "alice", req, jobs.CreateOptions{})
		if err != nil || r.Job == nil || r.Job.Status != jobs.StatusSuccess || r.Job.ProviderID != "a" {
			t.Fatalf("create: %+v %v", r, err)
		}
		return r.Job.ID
	}
	m1, vol := mk(jobstest.VMRequest(1, 1)), mk(volumeRequest())
	res, a, err := e.m.AttachVolume(ctx, "alice", m1, vol, "")
	if err != nil || res.Status != csbmsg.StatusOK {
		t.Fatalf("attach: %+v %v", res, err)
	}
	for id, want := range map[string]string{vol: "detach it before moving it", m1: "detach its volumes before moving it"} {
		r, err := e.m.Move(ctx, "alice", id, jobs.CreateOptions{})
		if err != nil || r.Status == csbmsg.StatusOK || !strings.Contains(r.Reason, want) {
			t.Fatalf("move of %s while attached: %+v %v, want a refusal saying %q", id, r, err, want)
		}
	}
	if len(ats["a"].attached) != 1 || len(e.ads["b"].Live()) != 0 {
		t.Fatalf("after the refused moves: a holds %v, b %v", ats["a"].attached, e.ads["b"].Live())
	}
	if r, err := e.m.DetachVolume(ctx, "alice", m1, a.ID); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("detach: %+v %v", r, err)
	}
	r, err := e.m.Move(ctx, "alice", vol, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("move of the detached volume: %+v %v", r, err)
	}
}

// TestCopyRefusedWhileMoving: a job with a move in progress is not
// copied: its request and place are about to change.
func TestCopyRefusedWhileMoving(t *testing.T) {
	e := newEnv(t, []string{"a", "b", "c"}, nil)
	j := e.create("alice", 1).Job
	block, started := make(chan struct{}), make(chan struct{})
	e.ads["b"].SetFault(jobstest.Fault{Block: block, BlockStarted: started})
	moved := make(chan *jobs.Result, 1)
	go func() {
		r, _ := e.m.Move(context.Background(), "alice", j.ID, jobs.CreateOptions{})
		moved <- r
	}()
	<-started
	r, err := e.m.Copy(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status == csbmsg.StatusOK || !strings.Contains(r.Reason, "move in progress") {
		t.Fatalf("copy while moving: %+v %v, want a refusal", r, err)
	}
	close(block)
	if r := <-moved; r == nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("move: %+v", r)
	}
}
