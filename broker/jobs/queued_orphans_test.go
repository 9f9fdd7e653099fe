package jobs_test

import (
	"context"
	"errors"
	"fmt"
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
)

// reclaimOutcomes records what Config.OnReclaim was told.
type reclaimOutcomes struct {
	mu  sync.Mutex
	out []string
}

func (r *reclaimOutcomes) add(_ *jobs.Job, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, fmt.Sprint(err))
}

func (r *reclaimOutcomes) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.out...)
}

// TestQueuedReclaimAnnouncedWhenDone: a reclaim queued while the provider
// is held back is not a reclaim yet: OnReclaim is not told the resources
// are gone, and csb.job.reclaimed is not sent. Once the provider is
// active again, a failed removal is reported as a failed reclaim attempt
// and the reason says why; the removal that works is the reclaim: the
// event is sent then, OnReclaim hears of it, and the reason no longer
// says the reclaim is queued.
func TestQueuedReclaimAnnouncedWhenDone(t *testing.T) {
	outcomes := new(reclaimOutcomes)
	e := newLifeEnv(t, func(c *jobs.Config) { c.OnReclaim = outcomes.add })
	rec := new(eventsRecorder)
	defer e.m.Observe(rec.add)()
	j := lifeJob(t, e)
	deactivate(e, "a", csbmsg.ServiceUnavailable)
	e.clock.Advance(2 * time.Hour)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := e.m.Inspect(context.Background(), j.ID)
	if got.Status != jobs.StatusExpired || !strings.Contains(got.Reason, "reclaim queued") || len(e.ads["a"].LiveFor(j.ID)) != 1 {
		t.Fatalf("queued reclaim: %s %q", got.Status, got.Reason)
	}
	if o := outcomes.get(); len(o) != 0 {
		t.Fatalf("OnReclaim heard %q while the resources still run at the held-back provider", o)
	}
	for _, ev := range rec.of(j.ID) {
		if ev.Kind == jobs.EventReclaimed {
			t.Fatalf("csb.job.reclaimed sent while the reclaim is only queued: %v", eventsKinds(rec.of(j.ID)))
		}
	}

	// Active again, and the provider refuses once.
	deactivate(e, "a", csbmsg.ServiceActive)
	e.ads["a"].SetFault(jobstest.Fault{Remove: errors.New("volume busy"), RemoveTimes: 1})
	if st, err := e.m.ReapOnce(context.Background()); err != nil || st.Failures != 1 {
		t.Fatalf("pass with a failing removal: %+v %v", st, err)
	}
	got, _ = e.m.Inspect(context.Background(), j.ID)
	if strings.Contains(got.Reason, "unavailable") || !strings.Contains(got.Reason, "volume busy") {
		t.Fatalf("after a failed removal at the active provider the reason is %q", got.Reason)
	}
	if o := outcomes.get(); len(o) != 1 || o[0] == "<nil>" {
		t.Fatalf("OnReclaim heard %q, want one failure", o)
	}
	// The retry waits one reap interval (TestOrphanRemovalBacksOff);
	// meanwhile the provider is not called and the reason keeps saying why.
	if st, err := e.m.ReapOnce(context.Background()); err != nil || st.OrphansWaiting != 1 || st.Failures != 0 || e.ads["a"].Calls("remove") != 1 {
		t.Fatalf("pass before the retry: %+v %v, %d removal calls", st, err, e.ads["a"].Calls("remove"))
	}
	if got, _ = e.m.Inspect(context.Background(), j.ID); !strings.Contains(got.Reason, "reclaim queued") || !strings.Contains(got.Reason, "volume busy") {
		t.Fatalf("while the retry waits the reason is %q", got.Reason)
	}
	e.clock.Advance(e.cfg.ReapInterval)

	if st, err := e.m.ReapOnce(context.Background()); err != nil || st.Orphans != 1 {
		t.Fatalf("pass once the provider removes: %+v %v", st, err)
	}
	if live := e.ads["a"].LiveFor(j.ID); len(live) != 0 {
		t.Fatalf("still live: %v", live)
	}
	got, _ = e.m.Inspect(context.Background(), j.ID)
	if strings.Contains(got.Reason, "queued") || !strings.Contains(got.Reason, "reclaimed") || len(got.Orphans) != 0 {
		t.Fatalf("reclaim done, yet the job says %q (orphans %+v)", got.Reason, got.Orphans)
	}
	if o := outcomes.get(); len(o) != 2 || o[1] != "<nil>" {
		t.Fatalf("OnReclaim heard %q, want a failure then the reclaim", o)
	}
	want := []string{"state:>pending", "state:pending>provisioning", "state:provisioning>success", "state:success>expired", "reclaimed"}
	if got := eventsKinds(rec.of(j.ID)); !eventsEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// Nothing is announced twice.
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := eventsKinds(rec.of(j.ID)); !eventsEqual(got, want) {
		t.Fatalf("events after another pass %v, want %v", got, want)
	}
	// The record goes after the retention, as any expired job's.
	e.clock.Advance(24 * time.Hour)
	if st, _ := e.m.ReapOnce(context.Background()); st.Purged != 1 {
		t.Fatalf("not purged: %+v", st)
	}
}

// TestQueuedRemovalDoneReasonSaysSo: the consumer's answer (and listing,
// and console, which show the reason) of a removed job whose removal was
// queued stops saying the broker still has to remove the resources once
// it has, and the record is kept for the retention from then: a
// provider held back longer than the retention does not make the record
// go as soon as the removal is done.
func TestQueuedRemovalDoneReasonSaysSo(t *testing.T) {
	outcomes := new(reclaimOutcomes)
	e := newLifeEnv(t, func(c *jobs.Config) { c.OnReclaim = outcomes.add })
	j := lifeJob(t, e)
	deactivate(e, "a", csbmsg.ServiceDeactivated)
	if r, err := e.m.Remove(context.Background(), "alice", j.ID); err != nil || !strings.Contains(r.Reason, "queued") {
		t.Fatalf("remove: %+v %v", r, err)
	}
	// Held back for longer than the retention (24h).
	e.clock.Advance(48 * time.Hour)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	deactivate(e, "a", csbmsg.ServiceActive)
	for range 2 { // the pass that removes, and the next
		if _, err := e.m.ReapOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.m.Get(context.Background(), "alice", j.ID)
	if err != nil {
		t.Fatalf("the record went with the removal that was queued: %v", err)
	}
	if len(e.ads["a"].LiveFor(j.ID)) != 0 || got.Status != jobs.StatusRemoved {
		t.Fatalf("queued removal not done: %s, live %v", got.Status, e.ads["a"].LiveFor(j.ID))
	}
	if strings.Contains(got.Reason, "queued") || strings.Contains(got.Reason, "once it is active again") || !strings.Contains(got.Reason, "removed") {
		t.Fatalf("removal done, yet the job says %q", got.Reason)
	}
	if o := outcomes.get(); len(o) != 0 {
		t.Fatalf("a consumer's removal reported as a lease reclaim: %q", o)
	}
}

// TestQueuedRemovalProviderLeftConfiguration: the provider of a queued
// removal leaves the configuration (the catalogue no longer knows it, no
// adapter). The resource may still run there: the record is kept, and
// neither the orphan nor the job's reason goes on saying the broker
// removes it once the provider is active again, which it cannot. Once
// the provider is configured again, the removal happens.
func TestQueuedRemovalProviderLeftConfiguration(t *testing.T) {
	var gone atomic.Bool // provider a left the configuration
	var e *env
	e = newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		c.ProviderStatus = func(id string) (csbmsg.ServiceStatus, bool) {
			if id == "a" && gone.Load() {
				return "", false
			}
			p, ok := e.cat.Provider(id)
			return p.Status, ok
		}
		inner := c.Adapter
		c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
			if id == "a" && gone.Load() {
				return nil, false
			}
			return inner(id, k)
		}
	})
	j := lifeJob(t, e)
	deactivate(e, "a", csbmsg.ServiceDeactivated)
	if r, err := e.m.Remove(context.Background(), "alice", j.ID); err != nil || !strings.Contains(r.Reason, "queued") {
		t.Fatalf("remove: %+v %v", r, err)
	}
	gone.Store(true)
	e.clock.Advance(48 * time.Hour)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := e.m.Inspect(context.Background(), j.ID)
	if err != nil {
		t.Fatalf("purged with its resource left at the provider: %v", err)
	}
	if len(got.Orphans) != 1 || strings.Contains(got.Orphans[0].LastError, "active again") || !strings.Contains(got.Orphans[0].LastError, "no adapter") {
		t.Fatalf("orphan of a provider no longer configured: %+v", got.Orphans)
	}
	if strings.Contains(got.Reason, "active again") || !strings.Contains(got.Reason, "no adapter") {
		t.Fatalf("reason of a removal whose provider is no longer configured: %q", got.Reason)
	}
	// Another pass writes nothing new.
	rev := got.Rev
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ = e.m.Inspect(context.Background(), j.ID); got.Rev != rev {
		t.Fatalf("an unchanged orphan rewritten: rev %d, was %d", got.Rev, rev)
	}
	// Configured again (and active): removed.
	gone.Store(false)
	deactivate(e, "a", csbmsg.ServiceActive)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ = e.m.Inspect(context.Background(), j.ID)
	if len(e.ads["a"].LiveFor(j.ID)) != 0 || len(got.Orphans) != 0 || strings.Contains(got.Reason, "queued") {
		t.Fatalf("configured again: live %v, orphans %+v, reason %q", e.ads["a"].LiveFor(j.ID), got.Orphans, got.Reason)
	}
}
