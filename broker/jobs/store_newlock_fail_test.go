package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// storeLockFail is a store whose jobs' storage locks fail while fail is
// set (the storage refuses them, or they time out); the other locks
// (the instance's, idempotency keys', owners') work.
type storeLockFail struct {
	*store.Memory
	fail atomic.Bool
}

func (s *storeLockFail) Lock(ctx context.Context, name string) error {
	if s.fail.Load() && storeIsJobLock(name) {
		return errors.New("storage lock unavailable")
	}
	return s.Memory.Lock(ctx, name)
}

// storeIsJobLock reports whether storage lock name is a job's: a job id
// (22 characters) after the prefix.
func storeIsJobLock(name string) bool {
	rest, ok := strings.CutPrefix(name, "csb-jobs-")
	if !ok || len(rest) != 22 {
		return false
	}
	for _, p := range []string{"instance-", "idem-", "owner-", "quota"} {
		if strings.HasPrefix(rest, p) {
			return false
		}
	}
	return true
}

// storeLockFailEnv is an env with the job log on, whose broker's jobs'
// storage locks fail on demand, and whose provider blocks each
// provisioning until release is closed (started is closed when the first
// one begins). The peer is a second broker on the same storage, whose
// locks work.
func storeLockFailEnv(t *testing.T, respondWithin time.Duration) (e *env, fs *storeLockFail, peer *jobs.Manager, release, started chan struct{}) {
	t.Helper()
	e = newEnv(t, []string{"a"}, func(c *jobs.Config) {
		fs = &storeLockFail{Memory: c.Store.(*store.Memory)}
		c.Store = fs
		c.GroupCommit = true
		c.RespondWithin = respondWithin
		c.AttemptTimeout = time.Hour
	})
	release, started = make(chan struct{}), make(chan struct{})
	e.ads["a"].SetFault(jobstest.Fault{Block: release, BlockStarted: started})
	cfg := e.cfg
	cfg.Store = e.store
	peer = e.start(cfg)
	return e, fs, peer, release, started
}

// storeOnlyJobID returns the id of the one job in the owner index.
func storeOnlyJobID(t *testing.T, s store.Store) string {
	t.Helper()
	keys, err := s.List(ctx, "csb/jobs/owner/")
	if err != nil || len(keys) != 1 {
		t.Fatalf("owner index: %v %v", keys, err)
	}
	return keys[0][strings.LastIndexByte(keys[0], '/')+1:]
}

// storePeerLeavesJob runs the peer's reaper pass and fails if it wrote
// the job's file from the creator's log or resumed its create.
func storePeerLeavesJob(t *testing.T, e *env, peer *jobs.Manager, id, when string) {
	t.Helper()
	st, err := peer.ReapOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Resumed != 0 {
		t.Fatalf("%s: the peer resumed the create its creator still works on", when)
	}
	if _, err := e.store.Load(ctx, "csb/jobs/job/"+id); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("%s: the peer wrote the file of a job its creator still works on (%v)", when, err)
	}
}

// A create still running newLockHoldAfter after it began whose job's
// storage lock cannot be taken (the timer's case: nobody waits for an
// answer) goes on under its memory lock, and another broker sharing the
// storage leaves its job alone however long that lasts: its reaper,
// which replays a live broker's log file walOrphanAge after it first
// listed it, finds the file refreshed by the creator's retries. Once the
// lock can be taken, the creator holds it, and the create finishes with
// one provisioning.
func TestStoreNewLockFailedAtTimerNotWorkedTwice(t *testing.T) {
	e, fs, peer, release, started := storeLockFailEnv(t, time.Hour)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	answers := make(chan *jobs.Result, 1)
	go func() {
		r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
		if err != nil {
			t.Errorf("create: %v", err)
		}
		answers <- r
	}()
	<-started
	id := storeOnlyJobID(t, e.store)
	if len(storeWALKeys(t, e.store)) == 0 {
		t.Fatal("no log file holds the create's write-ahead record")
	}
	fs.fail.Store(true)
	storePeerLeavesJob(t, e, peer, id, "first look") // the peer lists the log file
	e.m.FireNewLockTimer(id)                         // the take fails
	for round := 0; round < 3; round++ {
		e.clock.Advance(jobs.WALOrphanAge + time.Second)
		storePeerLeavesJob(t, e, peer, id, "past the orphan age")
		e.m.RetryNewLock(id) // still failing
	}
	fs.fail.Store(false)
	e.m.RetryNewLock(id)
	if !storeLockBusy(t, e.store, "csb-jobs-"+id) {
		t.Fatal("the retry did not take the job's storage lock once the storage let it")
	}
	// From now on the storage lock keeps the peer out.
	e.clock.Advance(jobs.WALOrphanAge + time.Second)
	storePeerLeavesJob(t, e, peer, id, "the lock taken")
	close(release)
	released = true
	r := <-answers
	if r == nil || r.Status != csbmsg.StatusOK || r.Job == nil || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v", r)
	}
	if n := e.ads["a"].Calls("provision"); n != 1 {
		t.Fatalf("%d provisionings of one create", n)
	}
	if j, err := peer.Get(ctx, "alice", id); err != nil || j.Status != jobs.StatusSuccess {
		t.Fatalf("the peer's read: %+v %v", j, err)
	}
	if keys := storeWALKeys(t, e.store); len(keys) != 0 {
		t.Fatalf("log files left: %v", keys)
	}
}

// A create whose job's storage lock cannot be taken when RespondWithin
// has passed (the await's case) is not answered as in progress while no
// other broker can see its lock, and its job is not worked on by another
// broker meanwhile; once the lock can be taken, the consumer is answered
// that the job is in progress, and the job is announced under its lock.
func TestStoreNewLockFailedAtAwaitNotWorkedTwice(t *testing.T) {
	e, fs, peer, release, started := storeLockFailEnv(t, 20*time.Millisecond)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	fs.fail.Store(true)
	answers := make(chan *jobs.Result, 1)
	go func() {
		r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
		if err != nil {
			t.Errorf("create: %v", err)
		}
		answers <- r
	}()
	<-started
	id := storeOnlyJobID(t, e.store)
	storePeerLeavesJob(t, e, peer, id, "first look")
	for round := 0; round < 3; round++ {
		e.m.RetryNewLock(id) // still failing
		e.clock.Advance(jobs.WALOrphanAge + time.Second)
		storePeerLeavesJob(t, e, peer, id, "past the orphan age")
	}
	select {
	case r := <-answers:
		t.Fatalf("answered while the job's lock could not be taken: %+v", r)
	default:
	}
	fs.fail.Store(false)
	e.m.RetryNewLock(id)
	r := <-answers
	if r == nil || r.Status != csbmsg.StatusOK || r.Job == nil || r.Job.ID != id || !r.Job.Status.InFlight() ||
		!strings.Contains(r.Reason, "still in progress") {
		t.Fatalf("create: %+v", r)
	}
	if !storeLockBusy(t, e.store, "csb-jobs-"+id) {
		t.Fatal("a job answered as in progress is not locked in the storage")
	}
	if j, err := peer.Get(ctx, "alice", id); err != nil || !j.Status.InFlight() {
		t.Fatalf("the peer's read of the job answered in progress: %+v %v", j, err)
	}
	if st, err := peer.ReapOnce(ctx); err != nil || st.Resumed != 0 {
		t.Fatalf("the peer's pass: %+v %v", st, err)
	}
	close(release)
	released = true
	e.waitJob(e.m, "alice", id, func(j *jobs.Job) bool { return j.Status == jobs.StatusSuccess })
	if n := e.ads["a"].Calls("provision"); n != 1 {
		t.Fatalf("%d provisionings of one create", n)
	}
}

// A create with an idempotency key whose job's storage lock cannot be
// taken when the key's record would name it stops before any provider
// is called: it is answered ErrNotRecorded (503, retry), and leaves
// nothing another broker would work on.
func TestStoreNewLockFailedAtIdempotencyNotRecorded(t *testing.T) {
	e, fs, peer, release, _ := storeLockFailEnv(t, 5*time.Second)
	defer close(release)
	fs.fail.Store(true)
	_, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{IdempotencyKey: "k1"})
	if !errors.Is(err, jobs.ErrNotRecorded) {
		t.Fatalf("create: %v, want ErrNotRecorded", err)
	}
	if n := e.ads["a"].Calls("provision"); n != 0 {
		t.Fatalf("%d provisionings of a create answered as not recorded", n)
	}
	e.clock.Advance(jobs.WALOrphanAge + time.Second)
	for i := 0; i < 2; i++ {
		if st, err := peer.ReapOnce(ctx); err != nil || st.Resumed != 0 {
			t.Fatalf("the peer's pass: %+v %v", st, err)
		}
		e.clock.Advance(jobs.WALOrphanAge + time.Second)
	}
	if jobs := e.listJobs(); len(jobs) != 0 {
		t.Fatalf("jobs left by a create answered as not recorded: %+v", jobs)
	}
	if n := e.ads["a"].Calls("provision"); n != 0 {
		t.Fatalf("%d provisionings of a create answered as not recorded", n)
	}
}
