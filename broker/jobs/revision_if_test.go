package jobs_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// lockHookStore runs fn (once, then it is cleared) when the lock name is
// asked for, before it is taken: a test writes the job there, between
// the operation's first read of the record and its lock.
type lockHookStore struct {
	*store.Memory
	mu   sync.Mutex
	name string
	fn   func()
}

func (s *lockHookStore) Lock(ctx context.Context, name string) error {
	s.mu.Lock()
	fn := s.fn
	if name != s.name {
		fn = nil
	} else {
		s.fn = nil
	}
	s.mu.Unlock()
	if fn != nil {
		fn()
	}
	return s.Memory.Lock(ctx, name)
}

func (s *lockHookStore) hook(name string, fn func()) {
	s.mu.Lock()
	s.name, s.fn = name, fn
	s.mu.Unlock()
}

// TestRevisionIf: the operations that take an expected revision (the
// CIMI front-end's If-Match) act only on a job still at that revision,
// decided under the job's lock. Before, the engine took no revision: a
// front-end could compare an entity tag only with its own read, and a
// change made between that read and the operation (another client's
// update in the same instant) was overwritten, the lost update RFC 9110
// 13.1.1 exists to prevent. Each operation is tried with a revision
// that another write makes stale between the operation's first read and
// its lock (the store's lock hook), so the check on the record read
// under the lock is what refuses it; then with a stale revision outright,
// with the current one, and with 0 (no precondition, the callers' old
// behaviour).
func TestRevisionIf(t *testing.T) {
	var hs *lockHookStore
	var at *attacher
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		hs = &lockHookStore{Memory: c.Store.(*store.Memory)}
		c.Store = hs
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
	id, vol := mk(jobstest.VMRequest(1, 1)), mk(volumeRequest())
	read := func() *jobs.Job {
		t.Helper()
		j, err := e.m.Get(ctx, "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	// meanwhile makes the next operation on the machine write it first,
	// once it has read the record and before it takes the machine's lock
	// (another client's change), and reports whether it did.
	others := 0
	meanwhile := func() *bool {
		done := new(bool)
		others++
		n := strconv.Itoa(others)
		hs.hook("csb-jobs-"+id, func() {
			if _, err := e.m.SetLabels(ctx, "alice", id, map[string]string{"other": n}); err != nil {
				t.Errorf("the other client's change: %v", err)
			}
			*done = true
		})
		return done
	}
	changed := func(what string, err error, done *bool) {
		t.Helper()
		if !errors.Is(err, jobs.ErrChanged) {
			t.Fatalf("%s at a stale revision: %v, want ErrChanged", what, err)
		}
		if done != nil && !*done {
			t.Fatalf("%s: the change between its read and its lock was not made", what)
		}
	}
	ok := func(what string, res *jobs.Result, err error) {
		t.Helper()
		if err != nil || res == nil || res.Status != csbmsg.StatusOK {
			t.Fatalf("%s: %+v %v", what, res, err)
		}
	}

	// SetLabelsIf.
	j := read()
	done := meanwhile()
	_, err := e.m.SetLabelsIf(ctx, "alice", id, j.Rev, map[string]string{"cimi.name": "lost"})
	changed("SetLabelsIf", err, done)
	if read().Labels["cimi.name"] == "lost" {
		t.Fatal("SetLabelsIf at a stale revision set the labels")
	}
	_, err = e.m.SetLabelsIf(ctx, "alice", id, j.Rev, map[string]string{"cimi.name": "lost"})
	changed("SetLabelsIf, stale outright", err, nil)
	res, err := e.m.SetLabelsIf(ctx, "alice", id, read().Rev, map[string]string{"cimi.name": "kept"})
	ok("SetLabelsIf at the current revision", res, err)

	// UpdateIf (a lease renewal).
	j = read()
	done = meanwhile()
	_, err = e.m.UpdateIf(ctx, "alice", id, j.Rev, &csbmsg.ServiceRequest{}, 3*e.cfg.LeaseMin)
	changed("UpdateIf", err, done)
	if got := read(); got.LeaseSeconds != j.LeaseSeconds || !got.Expires.Equal(j.Expires) {
		t.Fatalf("UpdateIf at a stale revision changed the lease: %d, was %d", got.LeaseSeconds, j.LeaseSeconds)
	}
	res, err = e.m.UpdateIf(ctx, "alice", id, read().Rev, &csbmsg.ServiceRequest{}, 3*e.cfg.LeaseMin)
	ok("UpdateIf at the current revision", res, err)
	if got := read(); got.LeaseSeconds != uint64(3*e.cfg.LeaseMin.Seconds()) {
		t.Fatalf("UpdateIf at the current revision: lease %d s", got.LeaseSeconds)
	}

	// ActIf: the provider is not called.
	j = read()
	updates := at.Calls("update")
	done = meanwhile()
	_, err = e.m.ActIf(ctx, "alice", id, j.Rev, contract.ActionStop)
	changed("ActIf", err, done)
	if at.Calls("update") != updates || len(read().Actions) != len(j.Actions) {
		t.Fatal("ActIf at a stale revision ran the action")
	}
	res, err = e.m.ActIf(ctx, "alice", id, read().Rev, contract.ActionStop)
	ok("ActIf at the current revision", res, err)

	// AttachVolumeIf and DetachVolumeIf: the machine's revision.
	j = read()
	done = meanwhile()
	_, _, err = e.m.AttachVolumeIf(ctx, "alice", id, j.Rev, vol, "")
	changed("AttachVolumeIf", err, done)
	if len(read().Attachments) != 0 || len(at.attached) != 0 {
		t.Fatal("AttachVolumeIf at a stale revision attached the volume")
	}
	res, a, err := e.m.AttachVolumeIf(ctx, "alice", id, read().Rev, vol, "")
	ok("AttachVolumeIf at the current revision", res, err)
	j = read()
	done = meanwhile()
	_, err = e.m.DetachVolumeIf(ctx, "alice", id, j.Rev, a.ID)
	changed("DetachVolumeIf", err, done)
	if len(read().Attachments) != 1 || len(at.attached) != 1 {
		t.Fatal("DetachVolumeIf at a stale revision detached the volume")
	}
	res, err = e.m.DetachVolumeIf(ctx, "alice", id, read().Rev, a.ID)
	ok("DetachVolumeIf at the current revision", res, err)

	// RemoveIf.
	j = read()
	removes := at.Calls("remove")
	done = meanwhile()
	_, err = e.m.RemoveIf(ctx, "alice", id, j.Rev)
	changed("RemoveIf", err, done)
	if got := read(); got.Status != jobs.StatusSuccess || at.Calls("remove") != removes {
		t.Fatalf("RemoveIf at a stale revision removed the job: %s", got.Status)
	}
	res, err = e.m.RemoveIf(ctx, "alice", id, read().Rev)
	ok("RemoveIf at the current revision", res, err)

	// Revision 0 expects none: the operations without If act as before.
	res, err = e.m.SetLabelsIf(ctx, "alice", vol, 0, map[string]string{"x": "1"})
	ok("SetLabelsIf at revision 0", res, err)
	res, err = e.m.RemoveIf(ctx, "alice", vol, 0)
	ok("RemoveIf at revision 0", res, err)
}
