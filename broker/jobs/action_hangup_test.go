package jobs_test

import (
	"context"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// hangup is an attacher whose consumer goes away while the provider
// carries out a call: the provider does it, then the request's context
// ends before the answer arrives, and the call returns the context's
// error, as an HTTP client does.
type hangup struct {
	*attacher
	mu     sync.Mutex
	cancel context.CancelFunc // the consumer's request, cancelled once
}

func (h *hangup) during(cancel context.CancelFunc) {
	h.mu.Lock()
	h.cancel = cancel
	h.mu.Unlock()
}

func (h *hangup) hangUp(ctx context.Context) error {
	h.mu.Lock()
	c := h.cancel
	h.cancel = nil
	h.mu.Unlock()
	if c != nil {
		c()
	}
	return ctx.Err()
}

func (h *hangup) AttachVolume(ctx context.Context, machine, volume *contract.Resource, location string) (string, error) {
	native, err := h.attacher.AttachVolume(ctx, machine, volume, location)
	if cerr := h.hangUp(ctx); cerr != nil {
		return "", cerr
	}
	return native, err
}

func (h *hangup) Update(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	out, err := h.attacher.Update(ctx, res, req)
	if cerr := h.hangUp(ctx); cerr != nil {
		return nil, cerr
	}
	return out, err
}

// TestActionsOutliveTheirRequest: a consumer that goes away while its
// action or attach is at the provider must not cut the call short. The
// provider carried it out, yet the broker recorded a failure: a stopped
// machine recorded as running, and, worse, an attachment the provider
// holds and the broker does not, so that the volume counted as free
// (another attach, a remove). Update and Remove call providers with the
// manager's context for the same reason.
func TestActionsOutliveTheirRequest(t *testing.T) {
	var h *hangup
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		inner := c.Adapter
		c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
			ad, ok := inner(id, k)
			if !ok {
				return nil, false
			}
			if h == nil {
				h = &hangup{attacher: &attacher{Adapter: ad.(*jobstest.Adapter), attached: map[string]string{}}}
			}
			return h, true
		}
	})
	mk := func(req *csbmsg.ServiceRequest) string {
		r, err := e.m.Create(context.Background(), "alice", req, jobs.CreateOptions{})
		if err != nil || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("create: %+v %v", r, err)
		}
		return r.Job.ID
	}
	m, v := mk(jobstest.VMRequest(1, 1)), mk(volumeRequest())

	rctx, cancel := context.WithCancel(context.Background())
	h.during(cancel)
	if _, err := e.m.Act(rctx, "alice", m, contract.ActionStop); err != nil {
		t.Fatal(err)
	}
	mj, _ := e.m.Inspect(context.Background(), m)
	if last := mj.Actions[len(mj.Actions)-1]; last.Outcome != jobs.OutcomeSuccess || jobs.MachineStateOf(mj.Resource) != contract.MachineStopped {
		t.Fatalf("the provider stopped the machine, the record says %+v, state %s", last, jobs.MachineStateOf(mj.Resource))
	}

	rctx, cancel = context.WithCancel(context.Background())
	h.during(cancel)
	if _, _, err := e.m.AttachVolume(rctx, "alice", m, v, ""); err != nil {
		t.Fatal(err)
	}
	h.attacher.mu.Lock()
	held := len(h.attacher.attached)
	h.attacher.mu.Unlock()
	vj, _ := e.m.Inspect(context.Background(), v)
	mj, _ = e.m.Inspect(context.Background(), m)
	if held != 1 || e.m.AttachedTo(context.Background(), vj) == nil || len(mj.Attachments) != 1 {
		t.Fatalf("the provider holds %d attachment(s); the machine records %+v, the volume %+v", held, mj.Attachments, vj.Attachments)
	}
}
