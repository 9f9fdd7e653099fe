package jobs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// eventsRecorder keeps what an observer heard.
type eventsRecorder struct {
	mu  sync.Mutex
	evs []jobs.Event
}

func (r *eventsRecorder) add(ev jobs.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

// of returns the events of job id, in the order heard.
func (r *eventsRecorder) of(id string) []jobs.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []jobs.Event
	for _, ev := range r.evs {
		if ev.JobID == id {
			out = append(out, ev)
		}
	}
	return out
}

func eventsKinds(evs []jobs.Event) []string {
	var out []string
	for _, ev := range evs {
		s := string(ev.Kind)
		if ev.Kind == jobs.EventStateChange {
			s += ":" + string(ev.OldStatus) + ">" + string(ev.NewStatus)
		}
		out = append(out, s)
	}
	return out
}

func eventsEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestEventsLifecycle: a job's observers hear create, success, one lease
// warning per lease end, and reclaim, numbered 1, 2, 3, ... in order.
func TestEventsLifecycle(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.LeaseWarning = 10 * time.Minute })
	rec := new(eventsRecorder)
	cancel := e.m.Observe(rec.add)
	defer cancel()
	r, err := e.m.Create(ctx, "alice", eventsVM(1), jobs.CreateOptions{Subscribers: []string{"sub-1"}})
	if err != nil || r.Job == nil || r.Job.Status != jobs.StatusSuccess {
		t.Fatalf("create: %+v %v", r, err)
	}
	id := r.Job.ID
	want := []string{"state:>pending", "state:pending>provisioning", "state:provisioning>success"}
	if got := eventsKinds(rec.of(id)); !eventsEqual(got, want) {
		t.Fatalf("after create: %v, want %v", got, want)
	}
	// Not yet within the warning.
	e.clock.Advance(49 * time.Minute)
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.of(id)); n != 3 {
		t.Fatalf("warned early: %v", eventsKinds(rec.of(id)))
	}
	e.clock.Advance(2 * time.Minute)
	for range 2 { // once per lease end, however many passes
		if _, err := e.m.ReapOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "lease_warning")
	if got := eventsKinds(rec.of(id)); !eventsEqual(got, want) {
		t.Fatalf("after warning: %v, want %v", got, want)
	}
	e.clock.Advance(10 * time.Minute)
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want = append(want, "state:success>expired", "reclaimed")
	evs := rec.of(id)
	if got := eventsKinds(evs); !eventsEqual(got, want) {
		t.Fatalf("after reclaim: %v, want %v", got, want)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.Owner != "alice" || ev.ProviderID == "" && i > 1 || len(ev.Subscribers) != 1 || ev.Subscribers[0] != "sub-1" || ev.Time.IsZero() {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	if evs[3].Expires.IsZero() {
		t.Errorf("lease warning without the lease end: %+v", evs[3])
	}
	// The numbering lives in the record: a new process goes on from it.
	j, err := e.m.Get(ctx, "alice", id)
	if err != nil || j.Events.Seq != uint64(len(evs)) {
		t.Fatalf("record: %+v %v", j, err)
	}
}

// TestEventsDriftAndHealth: a vanished resource is announced as drift
// with the failed state; a provider health change reaches observers.
func TestEventsDriftAndHealth(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	rec := new(eventsRecorder)
	defer e.m.Observe(rec.add)()
	r := e.create("alice", 1)
	j := r.Job
	if err := e.ads["a"].Remove(context.Background(), j.Resource); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(jobs.DefaultCheckInterval)
	if st, err := e.m.CheckOnce(ctx); err != nil || st.Gone != 1 {
		t.Fatal(st, err)
	}
	want := []string{"state:>pending", "state:pending>provisioning", "state:provisioning>success", "state:success>failed", "drift"}
	if got := eventsKinds(rec.of(j.ID)); !eventsEqual(got, want) {
		t.Fatalf("drift: %v, want %v", got, want)
	}
	e.m.ProviderHealth("a", false)
	all := rec.of("")
	if len(all) != 1 || all[0].Kind != jobs.EventProviderHealth || all[0].ProviderID != "a" || all[0].Healthy == nil || *all[0].Healthy {
		t.Fatalf("health: %+v", all)
	}
}

// TestEventsRenewalWarnsAgain: a renewal moves the lease end, so its new
// end is warned of too.
func TestEventsRenewalWarnsAgain(t *testing.T) {
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) { c.LeaseWarning = 10 * time.Minute })
	rec := new(eventsRecorder)
	defer e.m.Observe(rec.add)()
	j := e.create("alice", 1).Job
	e.clock.Advance(55 * time.Minute)
	e.m.ReapOnce(ctx)
	if _, err := e.m.Update(ctx, "alice", j.ID, eventsNoChange(), 0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(55 * time.Minute)
	e.m.ReapOnce(ctx)
	n := 0
	for _, ev := range rec.of(j.ID) {
		if ev.Kind == jobs.EventLeaseWarning {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("warnings %d: %v", n, eventsKinds(rec.of(j.ID)))
	}
}

func eventsVM(cores uint64) *csbmsg.ServiceRequest { return jobstest.VMRequest(cores, 1) }

// eventsNoChange is an update that asks for nothing: a lease renewal.
func eventsNoChange() *csbmsg.ServiceRequest { return &csbmsg.ServiceRequest{} }
