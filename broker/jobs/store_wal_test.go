package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

const storeWALPrefix = "csb/jobs/wal/"

// storeGroupCommit turns the group-committed job log on.
func storeGroupCommit(c *jobs.Config) { c.GroupCommit = true }

// storeWALKeys lists the job log files in the store.
func storeWALKeys(t *testing.T, s store.Store) []string {
	t.Helper()
	keys, err := s.List(context.Background(), storeWALPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// storeCreateMany runs n creates of alice concurrently and returns their
// answers (nil where the create returned an error).
func storeCreateMany(e *env, n int) []*jobs.Result {
	out := make([]*jobs.Result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
			if err != nil {
				if !errors.Is(err, jobs.ErrNotRecorded) {
					e.t.Errorf("create: %v", err)
				}
				return
			}
			out[i] = r
		}(i)
	}
	wg.Wait()
	return out
}

// With the group-committed log, concurrent creates whose storage starts
// failing at any write (a full volume), with deletes working or not, lose
// no acknowledged job: once storage works again and a restarted broker's
// reaper has run, every create answered with a job id has its job,
// succeeded; a create answered as a failure left nothing provisioned
// beyond the jobs that exist; and no log file is left.
//
// With an adapter that creates nothing outside the broker (contract.Local),
// whose creates write no log before their job's file, the same holds.
func TestStoreWALNoAcknowledgedJobLostOnStorageErrors(t *testing.T) {
	for _, isLocal := range []bool{false, true} {
		for _, firstFails := range []bool{false, true} {
			for _, deletes := range []bool{false, true} {
				for n := 1; n <= 24; n++ {
					t.Run(fmt.Sprintf("local=%v/write%d/deletes_fail=%v/first_candidate_fails=%v", isLocal, n, deletes, firstFails), func(t *testing.T) {
						e, fst := newSecJobsEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
							storeGroupCommit(c)
							if isLocal {
								inner := c.Adapter
								c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
									a, ok := inner(id, k)
									if !ok {
										return nil, false
									}
									return unwrapping{localAdapter{a}}, true
								}
							}
						})
						if firstFails {
							e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("hypervisor on fire")})
						}
						fst.breakFrom(n, deletes)
						answers := storeCreateMany(e, 8)
						fst.heal()
						secJobsSettle(t, e)
						acked := map[string]bool{}
						for _, r := range answers {
							if r == nil || r.Job == nil || r.Status != csbmsg.StatusOK || r.Job.Status == jobs.StatusFailed {
								continue
							}
							acked[r.Job.ID] = true
							j, err := e.m.Get(ctx, "alice", r.Job.ID)
							if err != nil {
								t.Fatalf("answered %s with job %s (%q), yet later: %v", r.Job.Status, r.Job.ID, r.Reason, err)
							}
							if j.Status != jobs.StatusSuccess {
								t.Fatalf("job %s answered %s, later %s (%s)", r.Job.ID, r.Job.Status, j.Status, j.Reason)
							}
						}
						// Every job that lives was acknowledged: a create
						// answered as a failure never comes back.
						for _, j := range e.listJobs() {
							if j.Status != jobs.StatusFailed && !acked[j.ID] {
								t.Fatalf("job %s is %s (%s), yet its create was answered as a failure", j.ID, j.Status, j.Reason)
							}
						}
						// A Local adapter's resources live in the broker's
						// process only (the restart here keeps the test
						// adapters' ones): a job resumed after the restart
						// provisions again, so they are not counted.
						if live := secJobsLive(e); !isLocal && live != len(acked) {
							t.Fatalf("%d acknowledged, %d resources", len(acked), live)
						}
						if keys := storeWALKeys(t, e.store); len(keys) != 0 {
							t.Fatalf("job log files left: %v", keys)
						}
					})
				}
			}
		}
	}
}

// localAdapter is an adapter that creates nothing outside the broker
// (contract.Local).
type localAdapter struct{ contract.Adapter }

func (localAdapter) CreatesNothing() bool { return true }

// storeFailJobFiles fails writes of the jobs' own files (csb/jobs/job/)
// while broken: the log works, settling does not. With keepLogs, deletes
// of job log files fail too; with failLogsFrom n > 0, the n-th write of a
// job log file and the later ones fail.
type storeFailJobFiles struct {
	*store.Memory
	broken       atomic.Bool
	keepLogs     atomic.Bool
	failLogsFrom atomic.Int32
	logWrites    atomic.Int32
}

func (s *storeFailJobFiles) Store(ctx context.Context, key string, value []byte) error {
	if s.broken.Load() && strings.HasPrefix(key, "csb/jobs/job/") {
		return &fs.PathError{Op: "write", Path: key, Err: errSecJobsDiskFull}
	}
	if strings.HasPrefix(key, storeWALPrefix) {
		if n := s.logWrites.Add(1); s.failLogsFrom.Load() > 0 && n >= s.failLogsFrom.Load() {
			return &fs.PathError{Op: "write", Path: key, Err: errSecJobsDiskFull}
		}
	}
	return s.Memory.Store(ctx, key, value)
}

func (s *storeFailJobFiles) Delete(ctx context.Context, key string) error {
	if s.keepLogs.Load() && strings.HasPrefix(key, storeWALPrefix) {
		return &fs.PathError{Op: "remove", Path: key, Err: errSecJobsDiskFull}
	}
	return s.Memory.Delete(ctx, key)
}

// A create acknowledged while only the log could be written (its job's
// own file refused) is not lost: the broker that made it reads it from
// its log, and when that broker dies (it is never stopped here: a kill
// -9), another broker on the same storage replays the dead one's log at
// its reaper pass and serves the job, succeeded; the log file is gone
// after the replay.
func TestStoreWALAcknowledgedButUnsettledJobIsReplayed(t *testing.T) {
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
	if _, err := e.store.Load(ctx, "csb/jobs/job/"+id); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("the job's file was written: %v", err)
	}
	if len(storeWALKeys(t, e.store)) == 0 {
		t.Fatal("no job log file")
	}
	if j, err := e.m.Get(ctx, "alice", id); err != nil || j.Status != jobs.StatusSuccess {
		t.Fatalf("the creating broker's read: %+v %v", j, err)
	}
	fst.broken.Store(false)
	// The creating broker "dies": its manager is left as it is, its
	// instance lock goes stale. Another one takes over.
	storeKill(t, e)
	peer := e.start(e.cfg)
	if _, err := peer.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	j, err := peer.Get(ctx, "alice", id)
	if err != nil || j.Status != jobs.StatusSuccess {
		t.Fatalf("after the replay: %+v %v", j, err)
	}
	if keys := storeWALKeys(t, e.store); len(keys) != 0 {
		t.Fatalf("job log files left after the replay: %v", keys)
	}
}

// A job dropped (its create answered as a failure) whose records stay in
// a log file (its delete failed) is not resurrected when another broker
// replays that file after the first died. The provider fails, then the
// n-th log write fails, for every n that leaves a log file.
func TestStoreWALDroppedJobIsNotReplayed(t *testing.T) {
	leftFile := false
	for n := int32(1); n <= 4; n++ {
		t.Run(fmt.Sprintf("log_write%d", n), func(t *testing.T) {
			var fst *storeFailJobFiles
			e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
				fst = &storeFailJobFiles{Memory: c.Store.(*store.Memory)}
				c.Store = fst
				c.GroupCommit = true
			})
			e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("hypervisor on fire")})
			fst.failLogsFrom.Store(n)
			fst.keepLogs.Store(true)
			r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
			if err == nil && r.Job != nil && r.Job.Status != jobs.StatusFailed {
				return // answered with the job (pending): it may live on
			}
			fst.failLogsFrom.Store(0)
			fst.keepLogs.Store(false)
			if len(storeWALKeys(t, e.store)) == 0 {
				return
			}
			leftFile = true
			// A resurrected job would now be provisioned. The first
			// broker dies.
			e.ads["a"].SetFault(jobstest.Fault{})
			storeKill(t, e)
			peer := e.start(e.cfg)
			if _, err := peer.ReapOnce(ctx); err != nil {
				t.Fatal(err)
			}
			peer.Stop() // waits for the work the pass started
			for _, j := range e.listJobs() {
				if j.Status != jobs.StatusFailed {
					t.Fatalf("a create answered %+v %v came back as %s (%s)", r, err, j.Status, j.Reason)
				}
			}
			if live := secJobsLive(e); live != 0 {
				t.Fatalf("%d resources provisioned for a failed create", live)
			}
			if keys := storeWALKeys(t, e.store); len(keys) != 0 {
				t.Fatalf("job log files left after the replay: %v", keys)
			}
		})
	}
	if !leftFile {
		t.Fatal("no case left a job log file to replay (the test needs one)")
	}
}

// walWrites counts the writes of job log files.
type walWrites struct {
	*store.Memory
	n atomic.Int64
}

func (w *walWrites) Store(ctx context.Context, key string, value []byte) error {
	if strings.HasPrefix(key, storeWALPrefix) {
		w.n.Add(1)
	}
	return w.Memory.Store(ctx, key, value)
}

// A logged create whose provider answers with a ready resource writes
// the log once, the attempt's write-ahead record: the handle goes to the
// job's file with the outcome. One still being built has its handle
// logged before the first poll.
func TestStoreWALReadyHandleGoesWithTheOutcome(t *testing.T) {
	var w *walWrites
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		storeGroupCommit(c)
		w = &walWrites{Memory: c.Store.(*store.Memory)}
		c.Store = w
	})
	r := e.create("alice", 1)
	if r.Job == nil || r.Job.Status != jobs.StatusSuccess || r.Job.Resource == nil {
		t.Fatalf("create: %+v", r)
	}
	if n := w.n.Load(); n != 1 {
		t.Fatalf("%d job log writes for a create whose resource was ready, want 1", n)
	}
	j, err := e.m.Get(ctx, "alice", r.Job.ID)
	if err != nil || j.Resource == nil || j.Resource.URI != r.Job.Resource.URI {
		t.Fatalf("stored job: %+v %v", j, err)
	}

	e.ads["a"].SetFault(jobstest.Fault{Pending: true})
	w.n.Store(0)
	done := make(chan *jobs.Result, 1)
	go func() { done <- e.create("alice", 1) }()
	// The handle is logged before the first poll: two log writes while
	// the resource is still being built.
	first := r.Job.Resource.URI
	pending := ""
	for pending == "" || w.n.Load() < 2 {
		select {
		case r := <-done:
			t.Fatalf("create answered before the resource was ready: %+v", r)
		default:
		}
		for _, uri := range e.ads["a"].Live() {
			if uri != first {
				pending = uri
			}
		}
		runtime.Gosched()
	}
	e.ads["a"].MarkReady(pending)
	if r := <-done; r.Job == nil || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("pending create: %+v", r)
	}
}

// local is an adapter that creates nothing outside the broker
// (contract.Local), as the link adapter.
type local struct{ *jobstest.Adapter }

func (local) CreatesNothing() bool { return true }

// A logged create on an adapter that creates nothing at a provider
// (contract.Local), seen through a wrapper as the glue's metered
// adapters are, writes no log record: nothing a crash could leave
// behind needs one. Its job's file is stored before the answer, with
// the outcome; an adapter that does create something still has its
// write-ahead record logged before it is called.
func TestStoreWALLocalAdapterWritesNoLog(t *testing.T) {
	var w *walWrites
	isLocal := true
	var e *env
	e = newEnv(t, []string{"a"}, func(c *jobs.Config) {
		storeGroupCommit(c)
		w = &walWrites{Memory: c.Store.(*store.Memory)}
		c.Store = w
		c.Adapter = func(id string, _ catalog.Kind) (contract.Adapter, bool) {
			a, ok := e.ads[id]
			if !ok {
				return nil, false
			}
			if isLocal {
				return unwrapping{local{a}}, true
			}
			return unwrapping{a}, true
		}
	})
	r := e.create("alice", 1)
	if r.Job == nil || r.Job.Status != jobs.StatusSuccess || r.Job.Resource == nil {
		t.Fatalf("create: %+v", r)
	}
	if n := w.n.Load(); n != 0 {
		t.Fatalf("%d job log writes for a create on an adapter that creates nothing, want 0", n)
	}
	data, err := w.Memory.Load(ctx, "csb/jobs/job/"+r.Job.ID)
	if err != nil || !strings.Contains(string(data), `"status":"success"`) {
		t.Fatalf("the job's file when the create answered: %.300s %v", data, err)
	}
	isLocal = false
	if r := e.create("alice", 1); r.Job == nil || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v", r)
	}
	if n := w.n.Load(); n != 1 {
		t.Fatalf("%d job log writes for a create on an adapter that creates something, want 1 (its write-ahead record)", n)
	}
}

// A logged create on a Local adapter encodes its record once, before its
// settle; when its answer comes first (RespondWithin passed while the
// provider is slow) the job's file gets the record the log held then,
// and the outcome follows: the file ends with the job succeeded, and a
// read meanwhile sees the job, never an error.
func TestStoreWALLocalAnsweredPendingThenSettled(t *testing.T) {
	block := make(chan struct{})
	started := make(chan struct{})
	succeeded := make(chan string, 1)
	var w *walWrites
	var e *env
	e = newEnv(t, []string{"a"}, func(c *jobs.Config) {
		storeGroupCommit(c)
		c.RespondWithin = time.Millisecond
		w = &walWrites{Memory: c.Store.(*store.Memory)}
		c.Store = w
		c.Adapter = func(id string, _ catalog.Kind) (contract.Adapter, bool) {
			a, ok := e.ads[id]
			if !ok {
				return nil, false
			}
			return unwrapping{local{a}}, true
		}
		c.OnChange = func(j *jobs.Job) {
			if j.Status == jobs.StatusSuccess {
				select {
				case succeeded <- j.ID:
				default:
				}
			}
		}
	})
	e.ads["a"].SetFault(jobstest.Fault{Block: block, BlockStarted: started})
	r := e.create("alice", 1)
	<-started
	if r.Job == nil || !r.Job.Status.InFlight() {
		t.Fatalf("create answered before the provider did: %+v", r)
	}
	data, err := w.Memory.Load(ctx, "csb/jobs/job/"+r.Job.ID)
	if err != nil || strings.Contains(string(data), `"status":"success"`) {
		t.Fatalf("the job's file when the create answered pending: %.200s %v", data, err)
	}
	if j, err := e.m.Get(ctx, "alice", r.Job.ID); err != nil || !j.Status.InFlight() {
		t.Fatalf("a read while the provider works: %+v %v", j, err)
	}
	close(block)
	if id := <-succeeded; id != r.Job.ID {
		t.Fatalf("job %s succeeded, want %s", id, r.Job.ID)
	}
	e.m.Stop() // waits for the job's worker: its file is written
	data, err = w.Memory.Load(ctx, "csb/jobs/job/"+r.Job.ID)
	if err != nil || !strings.Contains(string(data), `"status":"success"`) {
		t.Fatalf("the job's file after the provider answered: %.300s %v", data, err)
	}
	if n := w.n.Load(); n != 0 {
		t.Fatalf("%d job log writes, want 0", n)
	}
}
