package jobs_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// failLogReads is a store whose reads of job log files fail while
// broken (an I/O error on one file, a stale handle of a network volume).
type failLogReads struct {
	*storeFailJobFiles
	broken atomic.Bool
}

func (s *failLogReads) Load(ctx context.Context, key string) ([]byte, error) {
	if s.broken.Load() && strings.HasPrefix(key, storeWALPrefix) {
		return nil, &fs.PathError{Op: "read", Path: key, Err: errIO}
	}
	return s.storeFailJobFiles.Load(ctx, key)
}

// TestOwnerKeyOfUnreadLogKept: a job acknowledged while only the
// log could hold it, whose creator then died, is not lost when the
// peer's reads of that log file fail for a few passes. The peer could
// not tell which jobs the file holds, took the job's index key for stale
// (no job file, not a job of a log it had read) and deleted it on its
// second pass; once the file was readable again, the replay found no
// index key, took the job for one purged and dropped its records.
func TestOwnerKeyOfUnreadLogKept(t *testing.T) {
	var fst *storeFailJobFiles
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		fst = &storeFailJobFiles{Memory: c.Store.(*store.Memory)}
		c.Store = fst
		c.GroupCommit = true
	})
	fst.broken.Store(true)
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	if err != nil || r.Job == nil || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v %v", r, err)
	}
	id := r.Job.ID
	fst.broken.Store(false)
	storeKill(t, e)
	flaky := &failLogReads{storeFailJobFiles: fst}
	flaky.broken.Store(true)
	cfg := e.cfg
	cfg.Store = flaky
	peer := e.start(cfg)
	for range 3 {
		if _, err := peer.ReapOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fst.Load(ctx, secJobsOwnerKey("alice", id)); err != nil {
		t.Fatalf("the owner index key of a job in an unread log file was deleted: %v", err)
	}
	flaky.broken.Store(false)
	if _, err := peer.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	j, err := peer.Get(ctx, "alice", id)
	if err != nil || j.Status != jobs.StatusSuccess {
		t.Fatalf("the acknowledged job after the log is readable again: %+v %v", j, err)
	}
	if _, err := fst.Load(ctx, "csb/jobs/job/"+id); errors.Is(err, store.ErrNotExist) {
		t.Fatal("the job's file was never written")
	}
}

// A live peer's job log file that could not be read at one pass is read
// again at the next: once readable, its jobs are known and the owner
// index's cleanup, held back while it was unread, resumes. It was read
// once only, so one failed read held the cleanup back for as long as the
// file existed.
func TestLogFileUnreadOnceIsReadAgain(t *testing.T) {
	var fst *storeFailJobFiles
	block := make(chan struct{})
	started := make(chan struct{})
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		fst = &storeFailJobFiles{Memory: c.Store.(*store.Memory)}
		c.Store = fst
		c.GroupCommit = true
	})
	e.ads["a"].SetFault(jobstest.Fault{Block: block, BlockStarted: started})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	}()
	defer func() { close(block); <-done }()
	<-started // its write-ahead record is in a log file of a live instance
	flaky := &failLogReads{storeFailJobFiles: fst}
	flaky.broken.Store(true)
	cfg := e.cfg
	cfg.Store = flaky
	peer := e.start(cfg)
	if _, err := peer.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if !peer.LogsUnread() {
		t.Fatal("the peer read a log file whose reads fail")
	}
	flaky.broken.Store(false)
	if _, err := peer.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if peer.LogsUnread() {
		t.Fatal("a log file readable again is still unread after the next pass")
	}
}
