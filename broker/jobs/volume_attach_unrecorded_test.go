package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// keyFaultStore refuses writes of one key (a full volume under
// that record) while failKey is set.
type keyFaultStore struct {
	inner   store.Store
	mu      sync.Mutex
	failKey string
}

func (s *keyFaultStore) Store(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	fail := key == s.failKey
	s.mu.Unlock()
	if fail {
		return errors.New("no space left on device")
	}
	return s.inner.Store(ctx, key, value)
}

func (s *keyFaultStore) fail(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failKey = key
}

// TestVolumeAttachMachineUnrecorded: an attach whose machine record the
// store refuses must not answer 200. The answer said attached, but the
// machine did not list the attachment: it could not be detached through
// the broker, and the volume, whose attachment counts only while its
// machine lists it, could be attached elsewhere or removed while the
// provider still held it attached.
func TestVolumeAttachMachineUnrecorded(t *testing.T) {
	var at *attacher
	fs := &keyFaultStore{inner: new(store.Memory)}
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.Store = fs
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
	mk := func(req *csbmsg.ServiceRequest) string {
		r, err := e.m.Create(ctx, "alice", req, jobs.CreateOptions{})
		if err != nil || r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("create: %+v %v", r, err)
		}
		return r.Job.ID
	}
	machine, vol := mk(jobstest.VMRequest(1, 1)), mk(volumeRequest())
	fs.fail("csb/jobs/job/" + machine)
	res, a, err := e.m.AttachVolume(ctx, "alice", machine, vol, "")
	if err == nil && res.Status == csbmsg.StatusOK {
		t.Fatalf("attach answered %+v %+v although the machine's record was refused", res, a)
	}
	fs.fail("")
	mj, _ := e.m.Get(ctx, "alice", machine)
	vj, _ := e.m.Get(ctx, "alice", vol)
	at.mu.Lock()
	held := len(at.attached)
	at.mu.Unlock()
	if held != 0 || len(mj.Attachments) != 0 || e.m.AttachedTo(ctx, vj) != nil {
		t.Fatalf("after the unrecorded attach: provider %v machine %+v volume %+v", at.attached, mj.Attachments, vj.Attachments)
	}
	if r, err := e.m.Remove(ctx, "alice", vol); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove the volume: %+v %v", r, err)
	}
}

func (s *keyFaultStore) Load(ctx context.Context, key string) ([]byte, error) {
	return s.inner.Load(ctx, key)
}

func (s *keyFaultStore) Delete(ctx context.Context, key string) error {
	return s.inner.Delete(ctx, key)
}

func (s *keyFaultStore) List(ctx context.Context, prefix string) ([]string, error) {
	return s.inner.List(ctx, prefix)
}

func (s *keyFaultStore) Lock(ctx context.Context, name string) error {
	return s.inner.Lock(ctx, name)
}

func (s *keyFaultStore) Unlock(ctx context.Context, name string) error {
	return s.inner.Unlock(ctx, name)
}
