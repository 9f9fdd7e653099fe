package jobs_test

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// The events of a new job's deferred writes (wal.go: the pending record,
// and every write of a create on a contract.Local adapter, are held in
// memory until the job's settle) used to be announced at once, before
// any record carrying them was stored: a process that died before the
// settle had told observers, and handed the webhook Outbox, events of a
// record state never stored, whose seq numbers the job's later events
// reuse after a restart (a webhook delivery is named by subscriber, job
// and seq: the delivery of the event that never happened takes the
// slot). They are held with the record and announced once it is stored.

// heldStore is a memory store whose writes of job files and of job log
// files can be made to fail, and whose first job log write can be made
// to wait.
type heldStore struct {
	*store.Memory
	mu       sync.Mutex
	failJobs int  // job file writes still to fail; negative: every one
	failLogs bool // job log writes fail
	gate     chan struct{}
	entered  chan struct{}
	gated    bool
}

// gateLog makes the first job log write from now on wait until the
// returned release is called (at the latest when the test ends); entered
// is closed when it starts waiting.
func (s *heldStore) gateLog(t *testing.T) (entered chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate, s.entered = make(chan struct{}), make(chan struct{})
	gate := s.gate
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return s.entered, release
}

// blockProvider makes provider a's Provision wait until the returned
// release is called (at the latest when the test ends); started is
// closed when it starts waiting.
func blockProvider(t *testing.T, e *env) (started chan struct{}, release func()) {
	block := make(chan struct{})
	started = make(chan struct{})
	e.ads["a"].SetFault(jobstest.Fault{Block: block, BlockStarted: started})
	var once sync.Once
	release = func() { once.Do(func() { close(block) }) }
	t.Cleanup(release)
	return started, release
}

func (s *heldStore) fail(jobFiles int, logs bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failJobs, s.failLogs = jobFiles, logs
}

func (s *heldStore) Store(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	fail := false
	var wait chan struct{}
	switch {
	case strings.HasPrefix(key, "csb/jobs/job/"):
		if s.failJobs != 0 {
			fail = true
			if s.failJobs > 0 {
				s.failJobs--
			}
		}
	case strings.HasPrefix(key, storeWALPrefix):
		if s.gate != nil && !s.gated {
			s.gated = true
			wait = s.gate
			close(s.entered)
		}
		fail = s.failLogs
	}
	s.mu.Unlock()
	if wait != nil {
		<-wait
	}
	if fail {
		return &fs.PathError{Op: "write", Path: key, Err: errSecJobsDiskFull}
	}
	return s.Memory.Store(ctx, key, value)
}

// heldEnv is an env with the group-committed log on a heldStore, an
// observer, and an Outbox sending every event to "op-1". With isLocal
// its adapter creates nothing outside the broker (contract.Local): every
// write of a create is deferred. The await answers when its request's
// context ends, not on a timer.
func heldEnv(t *testing.T, isLocal bool) (*env, *heldStore, *eventsRecorder, *outboxDeliveries) {
	t.Helper()
	var hs *heldStore
	var e *env
	e = newEnv(t, []string{"a"}, func(c *jobs.Config) {
		storeGroupCommit(c)
		c.RespondWithin = time.Hour
		hs = &heldStore{Memory: c.Store.(*store.Memory)}
		c.Store = hs
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
	rec := new(eventsRecorder)
	t.Cleanup(e.m.Observe(rec.add))
	d := &outboxDeliveries{created: map[string]int{}}
	t.Cleanup(e.m.SetOutbox(&outboxFake{d: d, to: []string{"op-1"}}))
	return e, hs, rec, d
}

// heardAny returns every event the recorder heard.
func heardAny(r *eventsRecorder) []jobs.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]jobs.Event(nil), r.evs...)
}

// checkHeld checks that job id's events are want, numbered from 1 in
// order, each heard once, and that their webhook deliveries were stored
// in the same order, each once.
func checkHeld(t *testing.T, rec *eventsRecorder, d *outboxDeliveries, id string, want []string) {
	t.Helper()
	evs := rec.of(id)
	if got := eventsKinds(evs); !eventsEqual(got, want) {
		t.Fatalf("events heard: %v, want %v", got, want)
	}
	var seqs []string
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d heard with seq %d: %+v", i, ev.Seq, evs)
		}
		seqs = append(seqs, strconv.FormatUint(ev.Seq, 10))
	}
	if got := d.of(id); strings.Join(got, ",") != strings.Join(seqs, ",") {
		t.Fatalf("deliveries stored: %v, want %v", got, seqs)
	}
	if twice := d.twice(); len(twice) > 0 {
		t.Fatalf("deliveries announced twice: %v", twice)
	}
}

// deliveredAny returns every delivery stored ("<job>/<seq>").
func deliveredAny(d *outboxDeliveries) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.order...)
}

// createAsync starts a create of alice with ctx and returns its answer's
// channel (nil when the create returned an error).
func createAsync(e *env, ctx context.Context) chan *jobs.Result {
	done := make(chan *jobs.Result, 1)
	go func() {
		r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
		if err != nil {
			r = nil
		}
		done <- r
	}()
	return done
}

var heldLifecycle = []string{"state:>pending", "state:pending>provisioning", "state:provisioning>success"}

// TestEventsHeldUntilStored: nobody hears an event of a deferred write,
// nor is any of its webhook deliveries stored, before a record that
// carries it is stored: on a Local adapter, while the provider works
// (nothing of the job is stored yet); with the log, while the write-ahead
// record that follows the held pending record is being logged (the
// pending event's outbox entry is not handed over before it either).
func TestEventsHeldUntilStored(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		e, _, rec, d := heldEnv(t, true)
		started, unblock := blockProvider(t, e)
		done := createAsync(e, ctx)
		<-started
		if keys, _ := e.store.List(ctx, "csb/jobs/job/"); len(keys) > 0 || len(storeWALKeys(t, e.store)) > 0 {
			t.Fatalf("a record of the job is stored while its provider works: %v", keys)
		}
		if got := heardAny(rec); len(got) > 0 {
			t.Fatalf("heard before any record of the job was stored: %v", eventsKinds(got))
		}
		if got := deliveredAny(d); len(got) > 0 {
			t.Fatalf("deliveries stored before any record of the job was: %v", got)
		}
		unblock()
		r := <-done
		if r == nil || r.Job == nil || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("create: %+v", r)
		}
		checkHeld(t, rec, d, r.Job.ID, heldLifecycle)
	})
	t.Run("logged", func(t *testing.T) {
		e, hs, rec, d := heldEnv(t, false)
		entered, release := hs.gateLog(t)
		done := createAsync(e, ctx)
		<-entered // the attempt's write-ahead record is being logged
		if got := heardAny(rec); len(got) > 0 {
			t.Fatalf("heard before any record of the job was stored: %v", eventsKinds(got))
		}
		if got := deliveredAny(d); len(got) > 0 {
			t.Fatalf("deliveries stored before any record of the job was: %v", got)
		}
		release()
		r := <-done
		if r == nil || r.Job == nil || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("create: %+v", r)
		}
		checkHeld(t, rec, d, r.Job.ID, heldLifecycle)
	})
}

// TestEventsHeldAnnouncedOnceStoredByRetry: a create answered in progress
// whose every settle fails to store the job's file and to log its record
// announces nothing; once storage works, the reaper's retry of the settle
// stores the record and announces its events, once, in seq order.
func TestEventsHeldAnnouncedOnceStoredByRetry(t *testing.T) {
	e, hs, rec, d := heldEnv(t, true)
	started, unblock := blockProvider(t, e)
	hs.fail(-1, true)
	rctx, cancel := context.WithCancel(ctx)
	done := createAsync(e, rctx)
	<-started
	cancel() // the request ends: the await settles the job (which fails) and answers
	r := <-done
	if r == nil || r.Job == nil || !r.Job.Status.InFlight() {
		t.Fatalf("create: %+v", r)
	}
	id := r.Job.ID
	unblock()
	e.m.WaitWork(id)
	if got := heardAny(rec); len(got) > 0 {
		t.Fatalf("heard though no record of the job was stored: %v", eventsKinds(got))
	}
	if got := deliveredAny(d); len(got) > 0 {
		t.Fatalf("deliveries stored though no record of the job was: %v", got)
	}
	hs.fail(0, false)
	for range 2 {
		if _, err := e.m.ReapOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The outcome's write failed (its event is announced by the job's
	// next write, as after any failed write): the record the retry
	// stored carries the first two.
	checkHeld(t, rec, d, id, heldLifecycle[:2])
	j, err := e.m.Inspect(ctx, id)
	if err != nil || j.Status != jobs.StatusSuccess || j.Events.Seq != 2 {
		t.Fatalf("stored job: %+v %v", j, err)
	}
}

// TestEventsHeldInOrderAcrossAnnounceAndWrite: the await's announce
// settles a create's job on the request's goroutine while the worker
// goes on; here its write of the job's file fails and its log append
// hangs, while the worker's next writes store the job's file and
// announce. The held events come first, in seq order, then the worker's;
// the settle, once its append is done, announces none of them again.
func TestEventsHeldInOrderAcrossAnnounceAndWrite(t *testing.T) {
	e, hs, rec, d := heldEnv(t, true)
	got3 := make(chan struct{})
	var once sync.Once
	t.Cleanup(e.m.Observe(func(ev jobs.Event) {
		if ev.Seq == 3 {
			once.Do(func() { close(got3) })
		}
	}))
	started, unblock := blockProvider(t, e)
	hs.fail(1, false)
	entered, release := hs.gateLog(t)
	rctx, cancel := context.WithCancel(ctx)
	done := createAsync(e, rctx)
	<-started
	cancel()
	<-entered // the announce's settle: its file write failed, its log append waits
	if got := heardAny(rec); len(got) > 0 {
		t.Fatalf("heard before any record of the job was stored: %v", eventsKinds(got))
	}
	unblock() // the worker's writes go to the job's file
	select {
	case <-got3:
	case <-time.After(10 * time.Second):
		t.Fatalf("the worker's event was not announced while the settle's append waits: %v", eventsKinds(heardAny(rec)))
	}
	release()
	r := <-done
	if r == nil || r.Job == nil {
		t.Fatalf("create: %+v", r)
	}
	e.m.WaitWork(r.Job.ID)
	checkHeld(t, rec, d, r.Job.ID, heldLifecycle)
	data, err := e.store.Load(ctx, "csb/jobs/job/"+r.Job.ID)
	if err != nil || !strings.Contains(string(data), `"status":"success"`) {
		t.Fatalf("job file: %.200s %v", data, err)
	}
}

// TestEventsHeldOfADroppedCreate: a create none of whose records could
// be stored (a Local adapter's: nothing but its settle writes) is
// answered as not recorded and dropped; nothing of it is announced, then
// or after storage works again.
func TestEventsHeldOfADroppedCreate(t *testing.T) {
	e, hs, rec, d := heldEnv(t, true)
	hs.fail(-1, true)
	r, err := e.m.Create(ctx, "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	if err != nil || r.Job != nil || r.Status != csbmsg.StatusUnableToFindResource {
		t.Fatalf("create: %+v %v", r, err)
	}
	hs.fail(0, false)
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heardAny(rec); len(got) > 0 {
		t.Fatalf("heard events of a dropped create: %v", eventsKinds(got))
	}
	if got := deliveredAny(d); len(got) > 0 {
		t.Fatalf("deliveries stored for a dropped create: %v", got)
	}
	if jobs := e.listJobs(); len(jobs) > 0 {
		t.Fatalf("jobs left: %+v", jobs)
	}
}
