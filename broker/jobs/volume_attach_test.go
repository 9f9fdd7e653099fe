package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// attacher is a jobstest.Adapter whose provider attaches volumes.
type attacher struct {
	*jobstest.Adapter
	mu       sync.Mutex
	attached map[string]string // attachment -> volume URI
	n        int
	refuse   error
}

func (a *attacher) AttachVolume(_ context.Context, machine, volume *contract.Resource, location string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse != nil {
		return "", a.refuse
	}
	a.n++
	ref := machine.URI + "/volumes/" + string(rune('0'+a.n))
	a.attached[ref] = volume.URI
	return ref, nil
}

func (a *attacher) DetachVolume(_ context.Context, _ *contract.Resource, attachment string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.attached[attachment]; !ok {
		return &contract.Error{Kind: contract.KindNotFound, Op: "detach", Err: errors.New("no such attachment")}
	}
	delete(a.attached, attachment)
	return nil
}

func volumeRequest() *csbmsg.ServiceRequest {
	size := uint64(10)
	return &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{Size: &size}}}
}

// TestVolumeAttach: a volume of its own attaches to a machine of the same
// owner through the provider's VolumeAttacher and is recorded on both
// jobs; another owner's volume or machine is ErrNoJob; an attached volume
// does not attach twice; a detach undoes it at the provider and on both
// jobs; a provider refusal is 409 with a failed action record.
func TestVolumeAttach(t *testing.T) {
	var at *attacher
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		inner := c.Adapter
		c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
			ad, ok := inner(id, k)
			if !ok {
				return nil, false
			}
			if at == nil {
				at = &attacher{Adapter: ad.(*jobstest.Adapter), attached: map[string]string{}}
			}
			return at, true
		}
	})
	mk := func(owner string, req *csbmsg.ServiceRequest) string {
		r, err := e.m.Create(ctx, owner, req, jobs.CreateOptions{})
		if err != nil || r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("create: %+v %v", r, err)
		}
		return r.Job.ID
	}
	m1, m2 := mk("alice", jobstest.VMRequest(1, 1)), mk("alice", jobstest.VMRequest(1, 1))
	vol, bobVol := mk("alice", volumeRequest()), mk("bob", volumeRequest())

	if _, _, err := e.m.AttachVolume(ctx, "alice", m1, bobVol, ""); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("alice attaches bob's volume: %v", err)
	}
	if _, _, err := e.m.AttachVolume(ctx, "bob", m1, bobVol, ""); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("bob attaches to alice's machine: %v", err)
	}
	if res, _, err := e.m.AttachVolume(ctx, "alice", m1, m2, ""); err != nil || res.Status != csbmsg.StatusCannotUpdateResource {
		t.Fatalf("a machine as the volume: %+v %v", res, err)
	}
	res, a, err := e.m.AttachVolume(ctx, "alice", m1, vol, "/dev/vdc")
	if err != nil || res.Status != csbmsg.StatusOK || a == nil || a.Volume != vol || a.Location != "/dev/vdc" {
		t.Fatalf("attach: %+v %+v %v", res, a, err)
	}
	if len(at.attached) != 1 {
		t.Fatalf("the provider holds %v", at.attached)
	}
	mj, _ := e.m.Get(ctx, "alice", m1)
	vj, _ := e.m.Get(ctx, "alice", vol)
	if len(mj.Attachments) != 1 || mj.Attachments[0] != *a || len(vj.Attachments) != 1 || e.m.AttachedTo(ctx, vj) == nil {
		t.Fatalf("records: machine %+v volume %+v", mj.Attachments, vj.Attachments)
	}
	if last := mj.Actions[len(mj.Actions)-1]; last.Action != jobs.ActionAttach || last.Outcome != jobs.OutcomeSuccess {
		t.Fatalf("action record: %+v", last)
	}
	if res, _, err := e.m.AttachVolume(ctx, "alice", m2, vol, ""); err != nil || res.Status != csbmsg.StatusCannotUpdateResource {
		t.Fatalf("attach an attached volume: %+v %v", res, err)
	}
	// The engine refuses to remove an attached volume, whichever front
	// door asks (the Consumer interface has no check of its own).
	if res, err := e.m.Remove(ctx, "alice", vol); err != nil || res.Status != csbmsg.StatusCannotRemoveResource || !strings.Contains(res.Reason, "detach it first") || len(at.attached) != 1 {
		t.Fatalf("remove an attached volume: %+v %v; the provider holds %v", res, err, at.attached)
	}

	if _, err := e.m.DetachVolume(ctx, "bob", m1, a.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("bob detaches: %v", err)
	}
	if _, err := e.m.DetachVolume(ctx, "alice", m1, "99"); !errors.Is(err, jobs.ErrNoAttachment) {
		t.Fatalf("unknown attachment: %v", err)
	}
	if res, err := e.m.DetachVolume(ctx, "alice", m1, a.ID); err != nil || res.Status != csbmsg.StatusOK {
		t.Fatalf("detach: %+v %v", res, err)
	}
	mj, _ = e.m.Get(ctx, "alice", m1)
	vj, _ = e.m.Get(ctx, "alice", vol)
	if len(at.attached) != 0 || len(mj.Attachments) != 0 || len(vj.Attachments) != 0 || e.m.AttachedTo(ctx, vj) != nil {
		t.Fatalf("after detach: provider %v machine %+v volume %+v", at.attached, mj.Attachments, vj.Attachments)
	}

	// Attached to m2, then m2 is removed: the volume is free again.
	if res, _, err := e.m.AttachVolume(ctx, "alice", m2, vol, ""); err != nil || res.Status != csbmsg.StatusOK {
		t.Fatalf("attach to m2: %+v %v", res, err)
	}
	if res, err := e.m.Remove(ctx, "alice", m2); err != nil || res.Status != csbmsg.StatusOK {
		t.Fatalf("remove m2: %+v %v", res, err)
	}
	e.waitJob(e.m, "alice", m2, func(j *jobs.Job) bool { return j.Status.Final() })
	vj, _ = e.m.Get(ctx, "alice", vol)
	if e.m.AttachedTo(ctx, vj) != nil {
		t.Fatalf("a removed machine still holds the volume: %+v", vj.Attachments)
	}

	at.refuse = &contract.Error{Kind: contract.KindClient, Op: "attach", Err: errors.New("no free slot")}
	res, _, err = e.m.AttachVolume(ctx, "alice", m1, vol, "")
	if err != nil || res.Status != csbmsg.StatusCannotUpdateResource {
		t.Fatalf("refused attach: %+v %v", res, err)
	}
	mj, _ = e.m.Get(ctx, "alice", m1)
	if last := mj.Actions[len(mj.Actions)-1]; last.Action != jobs.ActionAttach || last.Outcome != jobs.OutcomeFailed || len(mj.Attachments) != 0 {
		t.Fatalf("refused attach recorded as %+v, attachments %+v", last, mj.Attachments)
	}
}

// TestVolumeAttachUnsupported: a provider whose adapter has no
// VolumeAttacher answers 420, and nothing is recorded.
func TestVolumeAttachUnsupported(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	m := e.create("alice", 1).Job.ID
	r, err := e.m.Create(ctx, "alice", volumeRequest(), jobs.CreateOptions{})
	if err != nil || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("volume: %+v %v", r, err)
	}
	res, a, err := e.m.AttachVolume(ctx, "alice", m, r.Job.ID, "")
	if err != nil || res.Status != csbmsg.StatusUnsupported || a != nil {
		t.Fatalf("attach: %+v %+v %v", res, a, err)
	}
	if vj, _ := e.m.Get(ctx, "alice", r.Job.ID); len(vj.Attachments) != 0 {
		t.Fatalf("recorded: %+v", vj.Attachments)
	}
}
