package jobs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// A create's answer never contradicts what happens when the store fails
// (a full volume): for every write of the create that can be the first to
// fail, with deletes working or failing too, and whether or not the first
// candidate fails at the provider, the answer is either a failure after
// which nothing is ever provisioned (also once storage works again and
// the reaper has run), or carries the job id, and the job then exists and
// settles.
func TestCreateAnswerMatchesOutcomeWhenStorageFails(t *testing.T) {
	for _, firstFails := range []bool{false, true} {
		for _, deletes := range []bool{false, true} {
			for n := 1; n <= 9; n++ {
				name := fmt.Sprintf("write%d/deletes_fail=%v/first_candidate_fails=%v", n, deletes, firstFails)
				t.Run(name, func(t *testing.T) {
					e, fst := newSecJobsEnv(t, []string{"a", "b"}, nil)
					if firstFails {
						e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("hypervisor on fire")})
					}
					fst.breakFrom(n, deletes)
					r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
					fst.heal()
					secJobsSettle(t, e)
					stored := e.listJobs()
					switch {
					case err != nil:
						if !errors.Is(err, jobs.ErrNotRecorded) {
							t.Fatalf("create: %v", err)
						}
						if len(stored) != 0 || secJobsLive(e) != 0 {
							t.Fatalf("create refused with %v, yet later: jobs %+v, resources %d", err, stored, secJobsLive(e))
						}
					case r.Status != csbmsg.StatusOK || r.Job == nil || r.Job.Status == jobs.StatusFailed:
						if r.Status == csbmsg.StatusOK {
							t.Fatalf("200 without a live job: %+v", r)
						}
						for _, j := range stored {
							if j.Status != jobs.StatusFailed {
								t.Fatalf("answered %d %q, yet later the job is %s (%s)", r.Status, r.Reason, j.Status, j.Reason)
							}
						}
						if live := secJobsLive(e); live != 0 {
							t.Fatalf("answered %d %q, yet later %d resources are provisioned", r.Status, r.Reason, live)
						}
					default:
						// The answer carries the job id: the job exists and
						// provisions once storage works again.
						j, err := e.m.Get(ctx, "alice", r.Job.ID)
						if err != nil {
							t.Fatalf("answered %s with job %s (%q), yet later: %v", r.Job.Status, r.Job.ID, r.Reason, err)
						}
						if j.Status != jobs.StatusSuccess || secJobsLive(e) != 1 {
							t.Fatalf("answered %s, later %s (%s), %d resources", r.Job.Status, j.Status, j.Reason, secJobsLive(e))
						}
					}
				})
			}
		}
	}
}

// The reported defect itself: the pending record is stored, the
// attempt's write-ahead record is not. The answer is a failure without a
// job, nothing is left in the store, and the reaper provisions nothing.
func TestCreateWhoseAttemptCannotBeRecordedLeavesNothing(t *testing.T) {
	e, fst := newSecJobsEnv(t, []string{"a", "b"}, nil)
	fst.breakFrom(3, false) // 1: owner index key, 2: the pending record, 3: the attempt
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != csbmsg.StatusUnableToFindResource || r.Job != nil || !strings.Contains(r.Reason, "could not record") {
		t.Fatalf("answer %+v", r)
	}
	if e.ads["a"].Calls("provision")+e.ads["b"].Calls("provision") != 0 {
		t.Fatal("a provider was called without a write-ahead record")
	}
	fst.heal()
	e.clock.Advance(time.Minute)
	secJobsSettle(t, e)
	if keys, _ := e.store.List(ctx, "csb/jobs/"); len(keys) != 0 || secJobsLive(e) != 0 {
		t.Fatalf("left behind: %v, %d resources", keys, secJobsLive(e))
	}
}

// When the store refuses to record the outcome and to delete the job,
// the answer carries the job id and says it is pending; once storage
// works the reaper provisions it.
func TestCreateUnrecordableAndUndeletableAnswersPending(t *testing.T) {
	e, fst := newSecJobsEnv(t, []string{"a", "b"}, nil)
	fst.breakFrom(3, true)
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != csbmsg.StatusOK || r.Job == nil || r.Job.Status != jobs.StatusPending || !strings.Contains(r.Reason, "pending") {
		t.Fatalf("answer %+v", r)
	}
	fst.heal()
	secJobsSettle(t, e)
	if j, err := e.m.Get(ctx, "alice", r.Job.ID); err != nil || j.Status != jobs.StatusSuccess {
		t.Fatalf("%+v %v", j, err)
	}
}

// A create answered pending (RespondWithin passed) whose job then cannot
// be recorded is never dropped: the consumer holds its id.
func TestPendingAnswerIsNeverDropped(t *testing.T) {
	block, started := make(chan struct{}), make(chan struct{})
	core, logs := observer.New(zap.InfoLevel)
	e, fst := newSecJobsEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		c.RespondWithin = time.Millisecond
		c.Logger = zap.New(core)
	})
	e.ads["a"].SetFault(jobstest.Fault{Provision: errors.New("boom"), Block: block, BlockStarted: started})
	r := e.create("alice", 1)
	if r.Status != csbmsg.StatusOK || r.Job == nil || !r.Job.Status.InFlight() {
		t.Fatalf("answer %+v", r)
	}
	<-started
	fst.breakFrom(1, false) // every write from now on fails
	close(block)
	// The worker fails at a, cannot record b's attempt, and keeps the
	// job (it logs so).
	deadline := time.Now().Add(10 * time.Second)
	for logs.FilterMessageSnippet("job outcome not recorded").Len() == 0 {
		if logs.FilterMessageSnippet("job dropped").Len() > 0 {
			t.Fatal("a job answered pending was dropped")
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never gave up recording")
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	if n := e.ads["b"].Calls("provision"); n != 0 {
		t.Fatalf("b called %d times without a record", n)
	}
	fst.heal()
	secJobsSettle(t, e)
	if j, err := e.m.Get(ctx, "alice", r.Job.ID); err != nil || j.Status != jobs.StatusSuccess {
		t.Fatalf("job answered pending: %+v %v", j, err)
	}
}

// A job id that does not exist and one that belongs to someone else take
// the same path: the same store operations on keys of the same shape, and
// the same allocations, whether or not the foreign job is cached, for
// every consumer operation. (Before the owner index, a foreign id cost a
// parse of its record, or nothing but a cache hit, and an unknown id a
// store miss: 508 µs against 436 µs over HTTP.)
func TestUnknownAndForeignIDsTakeTheSamePath(t *testing.T) {
	e, fst := newSecJobsEnv(t, []string{"a"}, func(c *jobs.Config) { c.CacheTTL = time.Hour })
	foreign := e.create("alice", 1).Job.ID
	unknown := "AAAAAAAAAAAAAAAAAAAAAA"
	if len(unknown) != len(foreign) {
		t.Fatal("ids of different lengths")
	}
	ops := map[string]func(id string) error{
		"get": func(id string) error { _, err := e.m.Get(ctx, "bob", id); return err },
		"update": func(id string) error {
			_, err := e.m.Update(ctx, "bob", id, &csbmsg.ServiceRequest{}, 0)
			return err
		},
		"remove": func(id string) error { _, err := e.m.Remove(ctx, "bob", id); return err },
		"copy":   func(id string) error { _, err := e.m.Copy(ctx, "bob", id, jobs.CreateOptions{}); return err },
		"move":   func(id string) error { _, err := e.m.Move(ctx, "bob", id, jobs.CreateOptions{}); return err },
		"endpoint": func(id string) error {
			_, err := e.m.JobEndpoint(ctx, "bob", id)
			return err
		},
	}
	for _, cached := range []bool{false, true} {
		for name, op := range ops {
			if cached {
				// alice's own read caches her job.
				if _, err := e.m.Get(ctx, "alice", foreign); err != nil {
					t.Fatal(err)
				}
			}
			fst.snapshot()
			if err := op(foreign); !errors.Is(err, jobs.ErrNoJob) {
				t.Fatalf("%s foreign: %v", name, err)
			}
			fOps, fKeys := fst.snapshot()
			if err := op(unknown); !errors.Is(err, jobs.ErrNoJob) {
				t.Fatalf("%s unknown: %v", name, err)
			}
			uOps, uKeys := fst.snapshot()
			if fmt.Sprint(fOps) != fmt.Sprint(uOps) || len(fKeys) != len(uKeys) {
				t.Fatalf("%s (cached %v): foreign id: %v %v; unknown id: %v %v", name, cached, fOps, fKeys, uOps, uKeys)
			}
			for i := range fKeys {
				if len(fKeys[i]) != len(uKeys[i]) || strings.TrimSuffix(fKeys[i], foreign) != strings.TrimSuffix(uKeys[i], unknown) {
					t.Fatalf("%s: foreign id loads %v, unknown id %v", name, fKeys, uKeys)
				}
			}
			fa := testing.AllocsPerRun(200, func() { _ = op(foreign) })
			ua := testing.AllocsPerRun(200, func() { _ = op(unknown) })
			if fa != ua {
				t.Fatalf("%s (cached %v): %v allocations for a foreign id, %v for an unknown one", name, cached, fa, ua)
			}
		}
	}
}

// An owner holds at most MaxJobsPerOwner job records, retained ones
// included; beyond it a create or copy is answered 408 without calling a
// provider or storing anything, other owners are not affected, and the
// owner may create again once records are purged.
func TestMaxJobsPerOwner(t *testing.T) {
	e, _ := newSecJobsEnv(t, []string{"a", "b"}, func(c *jobs.Config) { c.MaxJobsPerOwner = 2 })
	first := e.create("alice", 1).Job
	e.create("alice", 1)
	calls := e.ads["a"].Calls("provision")
	before, _ := e.store.List(ctx, "csb/jobs/")
	r := e.create("alice", 1)
	if r.Status != csbmsg.StatusUnableToFindResource || r.Job != nil || !strings.Contains(r.Reason, "job limit reached") || !strings.Contains(r.Reason, "at most 2") {
		t.Fatalf("third create: %+v", r)
	}
	if r, err := e.m.Copy(ctx, "alice", first.ID, jobs.CreateOptions{}); err != nil || r.Status != csbmsg.StatusUnableToFindResource || !strings.Contains(r.Reason, "job limit reached") {
		t.Fatalf("copy at the limit: %+v %v", r, err)
	}
	after, _ := e.store.List(ctx, "csb/jobs/")
	if e.ads["a"].Calls("provision") != calls || len(after) != len(before) {
		t.Fatalf("a refused create reached a provider or the store: %v -> %v", before, after)
	}
	if r := e.create("bob", 1); r.Status != csbmsg.StatusOK {
		t.Fatalf("bob: %+v", r)
	}
	// A removed job's record is retained and still counts...
	if r, err := e.m.Remove(ctx, "alice", first.ID); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", r, err)
	}
	if r := e.create("alice", 1); r.Status != csbmsg.StatusUnableToFindResource {
		t.Fatalf("create with a retained record at the limit: %+v", r)
	}
	// ...until it is purged.
	e.clock.Advance(25 * time.Hour)
	if st, err := e.m.ReapOnce(ctx); err != nil || st.Purged != 1 {
		t.Fatalf("reap %+v %v", st, err)
	}
	if r := e.create("alice", 1); r.Status != csbmsg.StatusOK {
		t.Fatalf("create after the purge: %+v", r)
	}
}

// Concurrent creates of one owner cannot overshoot the limit.
func TestMaxJobsPerOwnerConcurrent(t *testing.T) {
	e, _ := newSecJobsEnv(t, []string{"a"}, func(c *jobs.Config) { c.MaxJobsPerOwner = 3 })
	results := make(chan *jobs.Result, 10)
	for range 10 {
		go func() {
			r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
			if err != nil {
				r = &jobs.Result{Reason: err.Error()}
			}
			results <- r
		}()
	}
	ok := 0
	for range 10 {
		r := <-results
		switch {
		case r.Status == csbmsg.StatusOK:
			ok++
		case !strings.Contains(r.Reason, "job limit reached"):
			t.Errorf("unexpected answer %+v", r)
		}
	}
	if ok != 3 || len(e.listJobs()) != 3 {
		t.Fatalf("%d creates accepted, %d jobs stored; want 3", ok, len(e.listJobs()))
	}
}

// A job record written before the owner index existed is found once the
// reaper has added its index key; an index key whose record is gone is
// deleted by the second pass that finds it so (the first may have seen a
// storage's key being written; see TestOwnerIndexKeyBeingWrittenKept).
func TestOwnerIndexReconciled(t *testing.T) {
	e, _ := newSecJobsEnv(t, []string{"a"}, nil)
	j := e.create("alice", 1).Job
	key := secJobsOwnerKey("alice", j.ID)
	if err := e.store.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Get(ctx, "alice", j.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("without its index key: %v", err)
	}
	stale := secJobsOwnerKey("alice", "staleJobId000000000000")
	if err := e.store.Store(ctx, stale, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Get(ctx, "alice", j.ID); err != nil {
		t.Fatalf("after a reaper pass: %v", err)
	}
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Load(ctx, stale); err == nil {
		t.Fatal("stale index key kept after two passes")
	}
}

// Caddy's file system storage writes a key through a temporary file in
// the key's directory, named with digits, and lists it meanwhile: a reaper
// pass that ran while the first job of an owner was being created deleted
// that file, and the create failed with 503 ("failed to rename ... no such
// file or directory"). A key found stale once is kept; only a second pass
// that still finds it without a record deletes it.
func TestOwnerIndexKeyBeingWrittenKept(t *testing.T) {
	e, _ := newSecJobsEnv(t, []string{"a"}, nil)
	inFlight := secJobsOwnerKey("bob", "2296955789") // the temporary file of a write under way
	if err := e.store.Store(ctx, inFlight, []byte("X_NONDy8FB7n8II8mQSJsg")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Load(ctx, inFlight); err != nil {
		t.Fatalf("a key being written was deleted by one reaper pass: %v", err)
	}
	// The write completes: its temporary file is renamed away.
	if err := e.store.Delete(ctx, inFlight); err != nil {
		t.Fatal(err)
	}
	leftover := secJobsOwnerKey("bob", "1234567890") // a crash left this one
	if err := e.store.Store(ctx, leftover, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.m.ReapOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.Load(ctx, leftover); err == nil {
		t.Fatal("a leftover key without a record survived two passes")
	}
}
