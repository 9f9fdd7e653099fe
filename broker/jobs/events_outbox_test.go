package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// outboxDeliveries stands for the webhook dispatcher's store: what was
// stored, shared by the brokers (Outboxes) of a test.
type outboxDeliveries struct {
	mu      sync.Mutex
	created map[string]int // "<job>/<seq>" → 1 once stored, more when announced again
	order   []string       // "<job>/<seq>" in the order created
}

func (d *outboxDeliveries) of(job string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, k := range d.order {
		if strings.HasPrefix(k, job+"/") {
			out = append(out, k[len(job)+1:])
		}
	}
	return out
}

func (d *outboxDeliveries) twice() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for k, n := range d.created {
		if n > 1 {
			out = append(out, k)
		}
	}
	return out
}

// outboxFake is one broker's Outbox: every event goes to "op-1"; fail
// makes the storing of an event's deliveries fail.
type outboxFake struct {
	d        *outboxDeliveries
	to       []string
	fail     func(jobs.Event) bool
	delivers atomic.Int64
}

func (o *outboxFake) Recipients(jobs.Event) []string { return o.to }

func (o *outboxFake) Deliver(_ context.Context, ev jobs.Event, recovered bool) error {
	o.delivers.Add(1)
	if o.fail != nil && o.fail(ev) {
		return errors.New("storage unavailable")
	}
	k := fmt.Sprintf("%s/%d", ev.JobID, ev.Seq)
	o.d.mu.Lock()
	defer o.d.mu.Unlock()
	switch {
	case o.d.created[k] == 0:
		o.d.order = append(o.d.order, k)
		o.d.created[k] = 1
	case !recovered:
		// A new event whose delivery exists: it was announced twice.
		o.d.created[k]++
	}
	return nil
}

func (o *outboxFake) Delivered(_ context.Context, ev jobs.Event) (bool, error) {
	o.d.mu.Lock()
	defer o.d.mu.Unlock()
	return o.d.created[fmt.Sprintf("%s/%d", ev.JobID, ev.Seq)] > 0, nil
}

// TestOutboxHandedOverAfterACrash: a job's state change is written in its
// record, and its webhook deliveries after it; a broker that died (or
// whose storing of the deliveries failed) in between lost the event's
// deliveries for good, though the record's seq says it happened. The
// record keeps the events whose deliveries are not known stored (its
// outbox): a fresh broker's reaper pass on the same store stores the
// missing ones, in seq order, each once; the events after a missing one
// wait for it, so a subscriber never gets them out of order; the next
// write of the job drops what is stored without storing it again.
func TestOutboxHandedOverAfterACrash(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	d := &outboxDeliveries{created: map[string]int{}}
	// The first broker cannot store seq 2's deliveries, and then dies.
	first := &outboxFake{d: d, to: []string{"op-1"}, fail: func(ev jobs.Event) bool { return ev.Seq == 2 }}
	e.m.SetOutbox(first)
	j := e.create("alice", 1).Job
	if got := d.of(j.ID); len(got) != 1 || got[0] != "1" {
		t.Fatalf("stored by the first broker: %v, want [1] (3 waits for 2)", got)
	}
	rec, err := e.m.Inspect(ctx, j.ID)
	if err != nil || len(rec.Events.Outbox) != 2 || rec.Events.Outbox[0].Seq != 2 || rec.Events.Outbox[1].Seq != 3 ||
		len(rec.Events.Outbox[0].To) != 1 || rec.Events.Outbox[0].To[0] != "op-1" {
		t.Fatalf("record's outbox: %+v %v", rec.Events.Outbox, err)
	}

	// A fresh broker on the same store.
	m2 := e.start(e.cfg)
	second := &outboxFake{d: d, to: []string{"op-1"}}
	m2.SetOutbox(second)
	if _, err := m2.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.of(j.ID); strings.Join(got, ",") != "1,2,3" {
		t.Fatalf("after the fresh broker's pass: %v, want 1,2,3", got)
	}
	// A pass that finds them stored stores nothing (the record did not
	// change: not even looked at), nor does a third broker's first pass.
	calls := second.delivers.Load()
	m2.ReapOnce(ctx)
	m3 := e.start(e.cfg)
	third := &outboxFake{d: d, to: []string{"op-1"}}
	m3.SetOutbox(third)
	m3.ReapOnce(ctx)
	if second.delivers.Load() != calls || third.delivers.Load() != 0 {
		t.Fatalf("stored deliveries handed over again: %d, %d", second.delivers.Load()-calls, third.delivers.Load())
	}
	// The job's next write hands its entries over (known stored: kept as
	// they are) and drops them; its own event is stored after them.
	if r, err := m3.Remove(ctx, "alice", j.ID); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove: %+v %v", r, err)
	}
	if got := d.of(j.ID); strings.Join(got, ",") != "1,2,3,4" {
		t.Fatalf("after the remove: %v, want 1,2,3,4", got)
	}
	if twice := d.twice(); len(twice) > 0 {
		t.Fatalf("deliveries created twice: %v", twice)
	}
	rec, _ = m3.Inspect(ctx, j.ID)
	if len(rec.Events.Outbox) != 1 || rec.Events.Outbox[0].Seq != 4 {
		t.Fatalf("record's outbox after the remove: %+v", rec.Events.Outbox)
	}
}

// outboxCountingStore counts the writes of job records.
type outboxCountingStore struct {
	inner  store.Store
	writes atomic.Int64
}

func (s *outboxCountingStore) Load(ctx context.Context, key string) ([]byte, error) {
	return s.inner.Load(ctx, key)
}
func (s *outboxCountingStore) Delete(ctx context.Context, key string) error {
	return s.inner.Delete(ctx, key)
}
func (s *outboxCountingStore) List(ctx context.Context, prefix string) ([]string, error) {
	return s.inner.List(ctx, prefix)
}
func (s *outboxCountingStore) Lock(ctx context.Context, name string) error {
	return s.inner.Lock(ctx, name)
}
func (s *outboxCountingStore) Unlock(ctx context.Context, name string) error {
	return s.inner.Unlock(ctx, name)
}

func (s *outboxCountingStore) Store(ctx context.Context, key string, value []byte) error {
	if strings.HasPrefix(key, "csb/jobs/job/") {
		s.writes.Add(1)
	}
	return s.inner.Store(ctx, key, value)
}

// TestOutboxNoExtraWrite: the outbox rides on the job's writes: a create
// writes its record as many times with deliveries to store as without,
// and a record with no event to deliver (no webhook, no callback) carries
// no outbox.
func TestOutboxNoExtraWrite(t *testing.T) {
	writes := map[string]int64{}
	for name, o := range map[string]jobs.Outbox{
		"no outbox":     nil,
		"no recipients": &outboxFake{d: &outboxDeliveries{created: map[string]int{}}},
		"recipients":    &outboxFake{d: &outboxDeliveries{created: map[string]int{}}, to: []string{"op-1"}},
	} {
		var cs *outboxCountingStore
		e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
			cs = &outboxCountingStore{inner: c.Store}
			c.Store = cs
		})
		if o != nil {
			e.m.SetOutbox(o)
		}
		j := e.create("alice", 1).Job
		writes[name] = cs.writes.Load()
		rec, err := e.m.Inspect(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := name == "recipients"; (len(rec.Events.Outbox) > 0) != want {
			t.Errorf("%s: record's outbox %+v", name, rec.Events.Outbox)
		}
	}
	t.Logf("job record writes per create: %v", writes)
	if writes["no outbox"] != writes["no recipients"] || writes["no outbox"] != writes["recipients"] {
		t.Fatalf("job record writes per create: %v", writes)
	}
}
