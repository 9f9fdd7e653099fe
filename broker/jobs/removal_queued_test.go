package jobs_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestRemoveOfQueuedRemovalSaysQueued: a remove of a job removed (or
// expired) whose removal is still queued, its resource running at a
// held-back provider, answered 200 "job ... is already removed", which
// hid that the resources still run. It answers 200 (a remove of a
// removed job) with the job's reason: the removal is queued, and why.
// Once the queued removal is done, "already removed" is the truth again.
func TestRemoveOfQueuedRemovalSaysQueued(t *testing.T) {
	e := newLifeEnv(t, nil)
	removed, expired := lifeJob(t, e), lifeJob(t, e)
	deactivate(e, "a", csbmsg.ServiceDeactivated)
	if r, err := e.m.Remove(context.Background(), "alice", removed.ID); err != nil || !strings.Contains(r.Reason, "queued") {
		t.Fatalf("remove: %+v %v", r, err)
	}
	e.clock.Advance(2 * time.Hour) // past the 1h lease of the other job
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id     string
		status jobs.Status
		queued string
	}{{removed.ID, jobs.StatusRemoved, "removal queued"}, {expired.ID, jobs.StatusExpired, "reclaim queued"}} {
		r, err := e.m.Remove(context.Background(), "alice", c.id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != csbmsg.StatusOK || r.Job.Status != c.status {
			t.Fatalf("remove again of a %s job: %s %s", c.status, r.Status, r.Job.Status)
		}
		if strings.Contains(r.Reason, "already") || !strings.Contains(r.Reason, c.queued) || !strings.Contains(r.Reason, "deactivated") {
			t.Fatalf("remove again of a %s job whose removal is queued answered %q", c.status, r.Reason)
		}
	}
	deactivate(e, "a", csbmsg.ServiceActive)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live := e.ads["a"].Live(); len(live) != 0 {
		t.Fatalf("queued removals not done: %v", live)
	}
	r, err := e.m.Remove(context.Background(), "alice", removed.ID)
	if err != nil || r.Status != csbmsg.StatusOK || !strings.Contains(r.Reason, "already removed") {
		t.Fatalf("remove once the queued removal is done: %+v %v", r, err)
	}
}

// TestReclaimAtUnconfiguredProviderQueued: the lease of a job whose
// provider left the configuration (no adapter) ends. The reclaim failed
// on every reaper pass: the job was written twice a pass, OnReclaim
// heard a failure each time, and the job stayed successful with its
// cost running. It is queued as at a held-back provider: the job becomes
// expired once, its cost final, its resource an orphan that says why,
// and further passes write and report nothing. Once the provider is
// configured again the resource goes, and the reclaim is reported then.
func TestReclaimAtUnconfiguredProviderQueued(t *testing.T) {
	outcomes := new(reclaimOutcomes)
	e, gone := unconfiguredEnv(t, func(c *jobs.Config) { c.OnReclaim = outcomes.add })
	quotaPrice(e, "a", 1)
	rec := new(eventsRecorder)
	defer e.m.Observe(rec.add)()
	j := lifeJob(t, e)
	gone.Store(true)
	e.clock.Advance(2 * time.Hour)
	if st, err := e.m.ReapOnce(context.Background()); err != nil || st.Failures != 0 {
		t.Fatalf("reclaim at a provider no longer configured: %+v %v", st, err)
	}
	got, _ := e.m.Inspect(context.Background(), j.ID)
	if got.Status != jobs.StatusExpired || !strings.Contains(got.Reason, "reclaim queued") || !strings.Contains(got.Reason, "no adapter") {
		t.Fatalf("after the reclaim pass: %s %q", got.Status, got.Reason)
	}
	if len(got.Orphans) != 1 || !strings.Contains(got.Orphans[0].LastError, "no adapter") || len(e.ads["a"].LiveFor(j.ID)) != 1 {
		t.Fatalf("orphan %+v, live %v", got.Orphans, e.ads["a"].LiveFor(j.ID))
	}
	if got.Cost == nil || !got.Cost.Final() || got.Cost.Amount(e.clock.Now()) != 4 { // 2 cores × 1 × 2 h
		t.Fatalf("cost of a job whose reclaim is queued: %+v", got.Cost)
	}
	if o := outcomes.get(); len(o) != 0 {
		t.Fatalf("OnReclaim heard %q while the resources still run", o)
	}
	rev := got.Rev
	e.clock.Advance(time.Hour)
	for range 2 {
		if st, err := e.m.ReapOnce(context.Background()); err != nil || st.Failures != 0 {
			t.Fatalf("later pass: %+v %v", st, err)
		}
	}
	got, _ = e.m.Inspect(context.Background(), j.ID)
	if got.Rev != rev || got.Status != jobs.StatusExpired || got.Cost.Amount(e.clock.Now()) != 4 {
		t.Fatalf("later passes: rev %d (was %d), %s, cost %v", got.Rev, rev, got.Status, got.Cost.Amount(e.clock.Now()))
	}
	if o := outcomes.get(); len(o) != 0 {
		t.Fatalf("OnReclaim heard %q on later passes", o)
	}

	gone.Store(false)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live := e.ads["a"].Live(); len(live) != 0 {
		t.Fatalf("configured again, still live: %v", live)
	}
	got, _ = e.m.Inspect(context.Background(), j.ID)
	if strings.Contains(got.Reason, "queued") || len(got.Orphans) != 0 {
		t.Fatalf("configured again: %q, orphans %+v", got.Reason, got.Orphans)
	}
	if o := outcomes.get(); len(o) != 1 || o[0] != "<nil>" {
		t.Fatalf("OnReclaim heard %q, want the one reclaim", o)
	}
	want := []string{"state:>pending", "state:pending>provisioning", "state:provisioning>success", "state:success>expired", "reclaimed"}
	if got := eventsKinds(rec.of(j.ID)); !eventsEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// unconfiguredEnv is an env over providers a and b whose provider a
// leaves the configuration (has no adapter) when gone is set.
func unconfiguredEnv(t *testing.T, tweak func(*jobs.Config)) (*env, *atomic.Bool) {
	t.Helper()
	gone := new(atomic.Bool)
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		inner := c.Adapter
		c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
			if id == "a" && gone.Load() {
				return nil, false
			}
			return inner(id, k)
		}
		if tweak != nil {
			tweak(c)
		}
	})
	return e, gone
}

// TestRemoveAtUnconfiguredProviderQueued: a consumer's remove of a job
// whose provider left the configuration answered 410 "cannot remove"
// for as long as the provider stayed away, the job successful and its
// cost running, though the broker can do nothing about it. It is queued
// as at a held-back provider: 200, the job removed, the reason saying
// the resources go if the provider is configured again, which they do.
func TestRemoveAtUnconfiguredProviderQueued(t *testing.T) {
	e, gone := unconfiguredEnv(t, nil)
	j := lifeJob(t, e)
	gone.Store(true)
	r, err := e.m.Remove(context.Background(), "alice", j.ID)
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusRemoved || !strings.Contains(r.Reason, "removal queued") || !strings.Contains(r.Reason, "no adapter") {
		t.Fatalf("remove at a provider no longer configured: %+v %v", r, err)
	}
	if r, _ = e.m.Remove(context.Background(), "alice", j.ID); r.Status != csbmsg.StatusOK || !strings.Contains(r.Reason, "no adapter") {
		t.Fatalf("remove again: %s %q", r.Status, r.Reason)
	}
	gone.Store(false)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := e.m.Inspect(context.Background(), j.ID)
	if len(e.ads["a"].LiveFor(j.ID)) != 0 || len(got.Orphans) != 0 || got.Status != jobs.StatusRemoved || strings.Contains(got.Reason, "queued") {
		t.Fatalf("configured again: live %v, %s %q", e.ads["a"].LiveFor(j.ID), got.Status, got.Reason)
	}
}

// TestUnconfiguredProviderVanishedResourceRemoved: a job whose resource
// vanished at a provider that then left the configuration holds nothing:
// its remove needs no adapter and keeps no orphan.
func TestUnconfiguredProviderVanishedResourceRemoved(t *testing.T) {
	e, gone := unconfiguredEnv(t, nil)
	j := lifeJob(t, e)
	vanish(t, e, j)
	e.clock.Advance(jobs.DefaultCheckInterval)
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Gone != 1 {
		t.Fatalf("check: %+v %v", st, err)
	}
	gone.Store(true)
	r, err := e.m.Remove(context.Background(), "alice", j.ID)
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusRemoved || strings.Contains(r.Reason, "queued") || len(r.Job.Orphans) != 0 {
		t.Fatalf("remove of a vanished job at a provider no longer configured: %+v %v", r, err)
	}
}
