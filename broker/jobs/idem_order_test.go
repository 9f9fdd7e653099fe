package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// failingKeys is a store whose writes of keys under prefix fail while
// failing is set.
type failingKeys struct {
	*store.Memory
	prefix  string
	failing atomic.Bool
}

func (s *failingKeys) Store(ctx context.Context, key string, value []byte) error {
	if s.failing.Load() && strings.HasPrefix(key, s.prefix) {
		return errors.New("disk full")
	}
	return s.Memory.Store(ctx, key, value)
}

// A create with an idempotency key stores the key's record before the
// job's first record. When the key's record cannot be stored, nothing is
// created (a job made without it would be made again by the retry: the
// crash window OSB's provisions hit, where the process exited between
// the two writes); when the job's record cannot be stored after it, the
// retry finds a record naming a job that does not exist, and creates
// the job. Either way the provider ends up with one resource.
func TestIdempotencyRecordBeforeTheJob(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		groupCommit  bool
	}{
		{"idempotency record fails", "csb/jobs/idem/", false},
		{"idempotency record fails, group commit", "csb/jobs/idem/", true},
		{"job record fails", "csb/jobs/job/", false},
		{"job record fails, group commit", "csb/jobs/job/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s *failingKeys
			e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
				c.GroupCommit = tc.groupCommit
				s = &failingKeys{Memory: c.Store.(*store.Memory), prefix: tc.prefix}
				c.Store = s
			})
			opt := jobs.CreateOptions{IdempotencyKey: "op-1"}
			s.failing.Store(true)
			r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), opt)
			if err == nil && r.Job != nil && r.Job.Status == jobs.StatusSuccess {
				t.Fatalf("create answered success while its records could not be stored: %+v", r)
			}
			if live := e.ads["a"].Live(); len(live) != 0 {
				t.Fatalf("resources after a create that stored nothing: %v", live)
			}
			s.failing.Store(false)
			r1, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), opt)
			if err != nil || r1.Job == nil || r1.Job.Status != jobs.StatusSuccess {
				t.Fatalf("retry: %+v %v", r1, err)
			}
			r2, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), opt)
			if err != nil || r2.Job == nil || r2.Job.ID != r1.Job.ID {
				t.Fatalf("second retry: %+v %v, want job %s", r2, err, r1.Job.ID)
			}
			if live := e.ads["a"].Live(); len(live) != 1 {
				t.Fatalf("resources at the provider: %v, want one", live)
			}
		})
	}
}

// unreadableKeys is a store whose reads of keys under prefix fail while
// failing is set.
type unreadableKeys struct {
	*store.Memory
	prefix  string
	failing atomic.Bool
}

func (s *unreadableKeys) Load(ctx context.Context, key string) ([]byte, error) {
	if s.failing.Load() && strings.HasPrefix(key, s.prefix) {
		return nil, errors.New("I/O error")
	}
	return s.Memory.Load(ctx, key)
}

// A retry whose key names a job that cannot be read (a storage error,
// not a missing job) is refused: creating another job could make a
// second resource.
func TestIdempotencyRetryUnreadableJobIsRefused(t *testing.T) {
	var s *unreadableKeys
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		s = &unreadableKeys{Memory: c.Store.(*store.Memory), prefix: "csb/jobs/job/"}
		c.Store = s
		c.CacheTTL = 0
	})
	opt := jobs.CreateOptions{IdempotencyKey: "op-2"}
	r1, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), opt)
	if err != nil || r1.Job == nil || r1.Job.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v %v", r1, err)
	}
	s.failing.Store(true)
	if r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), opt); !errors.Is(err, jobs.ErrNotRecorded) {
		t.Fatalf("retry while the job cannot be read: %+v %v, want ErrNotRecorded (503)", r, err)
	}
	if live := e.ads["a"].Live(); len(live) != 1 {
		t.Fatalf("resources at the provider: %v, want one", live)
	}
}
