package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// newLifeEnv is an env whose manager reads provider statuses from the
// env's catalogue, as the Caddy glue wires it.
func newLifeEnv(t *testing.T, tweak func(*jobs.Config)) *env {
	t.Helper()
	var e *env
	e = newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		c.ProviderStatus = func(id string) (csbmsg.ServiceStatus, bool) {
			p, ok := e.cat.Provider(id)
			return p.Status, ok
		}
		c.ServiceStatus = func(p, id string) (csbmsg.ServiceStatus, bool) { return e.cat.ServiceStatus(p, id) }
		if tweak != nil {
			tweak(c)
		}
	})
	return e
}

// lifeJob creates a successful job for alice on provider a.
func lifeJob(t *testing.T, e *env) *jobs.Job {
	t.Helper()
	r := e.create("alice", 2)
	if r.Status != csbmsg.StatusOK || r.Job == nil || r.Job.Status != jobs.StatusSuccess || r.Job.ProviderID != "a" {
		t.Fatalf("create: %+v", r)
	}
	return r.Job
}

func deactivate(e *env, id string, st csbmsg.ServiceStatus) {
	e.cat.AddProvider(catalog.ProviderEntry{ID: id, Status: st})
}

func TestDeactivatedProviderUpdateRefused(t *testing.T) {
	e := newLifeEnv(t, nil)
	j := lifeJob(t, e)
	deactivate(e, "a", csbmsg.ServiceDeactivated)
	r, err := e.m.Update(context.Background(), "alice", j.ID, jobstest.VMRequest(4, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != csbmsg.StatusCannotUpdateResource || !strings.Contains(r.Reason, "deactivated") {
		t.Fatalf("update at a deactivated provider: %s %q, want 409 naming the status", r.Status, r.Reason)
	}
	if n := e.ads["a"].Calls("update"); n != 0 {
		t.Fatalf("the deactivated provider got %d update calls", n)
	}
	// Active again: the update goes through.
	deactivate(e, "a", csbmsg.ServiceActive)
	if r, _ := e.m.Update(context.Background(), "alice", j.ID, jobstest.VMRequest(4, 1), 0); r.Status != csbmsg.StatusOK {
		t.Fatalf("update once active: %s %q", r.Status, r.Reason)
	}
}

func TestDeactivatedProviderRenewalDoesNotCallIt(t *testing.T) {
	e := newLifeEnv(t, nil)
	j := lifeJob(t, e)
	deactivate(e, "a", csbmsg.ServiceDeactivated)
	before := e.ads["a"].Calls("status")
	e.clock.Advance(10 * time.Minute)
	r, err := e.m.Update(context.Background(), "alice", j.ID, &csbmsg.ServiceRequest{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != csbmsg.StatusOK || !r.Job.Expires.After(j.Expires) {
		t.Fatalf("renewal: %s %q expires %v (was %v)", r.Status, r.Reason, r.Job.Expires, j.Expires)
	}
	if n := e.ads["a"].Calls("status") - before; n != 0 {
		t.Fatalf("the renewal called the deactivated provider %d times", n)
	}
	// The periodic check leaves it alone too.
	e.clock.Advance(time.Hour)
	if _, err := e.m.CheckOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.ads["a"].Calls("status") - before; n != 0 {
		t.Fatalf("the check pass called the deactivated provider %d times", n)
	}
}

func TestDeactivatedProviderRemoveQueued(t *testing.T) {
	e := newLifeEnv(t, nil)
	j := lifeJob(t, e)
	deactivate(e, "a", csbmsg.ServiceDeactivated)
	r, err := e.m.Remove(context.Background(), "alice", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusRemoved || !strings.Contains(r.Reason, "queued") {
		t.Fatalf("remove at a deactivated provider: %s %s %q", r.Status, r.Job.Status, r.Reason)
	}
	if n := e.ads["a"].Calls("remove"); n != 0 || len(e.ads["a"].LiveFor(j.ID)) != 1 {
		t.Fatalf("the deactivated provider got %d remove calls; live %v", n, e.ads["a"].LiveFor(j.ID))
	}
	// The reaper leaves it queued while the provider is deactivated, past
	// the retention: the record is not purged with the resource left.
	e.clock.Advance(48 * time.Hour)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.ads["a"].Calls("remove"); n != 0 {
		t.Fatalf("the reaper called the deactivated provider %d times", n)
	}
	if _, err := e.m.Inspect(context.Background(), j.ID); err != nil {
		t.Fatalf("job purged with its removal still queued: %v", err)
	}
	deactivate(e, "a", csbmsg.ServiceActive)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live := e.ads["a"].LiveFor(j.ID); len(live) != 0 {
		t.Fatalf("once active, the queued removal did not happen: %v", live)
	}
}

func TestDeactivatedProviderReclaimQueued(t *testing.T) {
	e := newLifeEnv(t, nil)
	j := lifeJob(t, e)
	deactivate(e, "a", csbmsg.ServiceUnavailable)
	e.clock.Advance(2 * time.Hour) // past the 1h default lease
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := e.m.Inspect(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != jobs.StatusExpired || len(got.Orphans) != 1 || !strings.Contains(got.Reason, "unavailable") {
		t.Fatalf("reclaim at an unavailable provider: %s %q orphans %d", got.Status, got.Reason, len(got.Orphans))
	}
	if n := e.ads["a"].Calls("remove"); n != 0 {
		t.Fatalf("the reclaim called the unavailable provider %d times", n)
	}
	deactivate(e, "a", csbmsg.ServiceActive)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live := e.ads["a"].LiveFor(j.ID); len(live) != 0 {
		t.Fatalf("once active, the queued reclaim did not happen: %v", live)
	}
}

// vanish deletes a job's resource at the fake provider behind the
// broker's back.
func vanish(t *testing.T, e *env, j *jobs.Job) {
	t.Helper()
	if err := e.ads[j.ProviderID].Remove(context.Background(), j.Resource); err != nil {
		t.Fatal(err)
	}
}

func TestVanishedResourceFoundByCheckPass(t *testing.T) {
	e := newLifeEnv(t, func(c *jobs.Config) { c.CheckInterval = 10 * time.Minute })
	j := lifeJob(t, e)
	vanish(t, e, j)
	// Within the interval the pass asks nothing.
	st, err := e.m.CheckOnce(context.Background())
	if err != nil || st.Checked != 0 {
		t.Fatalf("check within the interval: %+v %v", st, err)
	}
	e.clock.Advance(10 * time.Minute)
	st, err = e.m.CheckOnce(context.Background())
	if err != nil || st.Gone != 1 {
		t.Fatalf("check after the interval: %+v %v", st, err)
	}
	got, err := e.m.Get(context.Background(), "alice", j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != jobs.StatusFailed || !strings.Contains(got.Reason, "gone") {
		t.Fatalf("read after the check: %s %q, want failed, gone", got.Status, got.Reason)
	}
}

func TestVanishedResourceNotRenewed(t *testing.T) {
	e := newLifeEnv(t, nil)
	j := lifeJob(t, e)
	vanish(t, e, j)
	r, err := e.m.Update(context.Background(), "alice", j.ID, &csbmsg.ServiceRequest{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status == csbmsg.StatusOK || r.Job.Status != jobs.StatusFailed || !strings.Contains(r.Reason, "gone") {
		t.Fatalf("empty PUT on a vanished resource: %s %s %q, want it refused and the job failed", r.Status, r.Job.Status, r.Reason)
	}
	if !r.Job.Expires.Before(j.Expires.Add(time.Hour)) {
		t.Fatalf("lease renewed: %v", r.Job.Expires)
	}
}

func TestStaleReadStartsCheck(t *testing.T) {
	e := newLifeEnv(t, func(c *jobs.Config) { c.CheckInterval = 10 * time.Minute })
	j := lifeJob(t, e)
	vanish(t, e, j)
	before := e.ads["a"].Calls("status")
	if _, err := e.m.Get(context.Background(), "alice", j.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.ads["a"].Calls("status"); n != before {
		t.Fatalf("a fresh read asked the provider (%d calls)", n-before)
	}
	e.clock.Advance(20 * time.Minute)
	got := e.waitJob(e.m, "alice", j.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusFailed })
	if !strings.Contains(got.Reason, "gone") {
		t.Fatalf("reason %q", got.Reason)
	}
}

func TestCheckIntervalValidate(t *testing.T) {
	if err := (jobs.Config{CheckInterval: -time.Second}).Validate(); err == nil || !strings.Contains(err.Error(), "check_interval") {
		t.Fatalf("negative check_interval: %v", err)
	}
	if got := (jobs.Config{}).WithDefaults().CheckInterval; got != jobs.DefaultCheckInterval {
		t.Fatalf("default %s", got)
	}
}

// TestDeactivatedServiceLeftAlone: a job whose service (not its
// provider) is deactivated is left alone the same way (draft 4.1.2.3.2):
// an update is refused and a remove is queued until the service is
// active again.
func TestDeactivatedServiceLeftAlone(t *testing.T) {
	e := newLifeEnv(t, nil)
	j := lifeJob(t, e)
	e.cat.SetServiceStatus("a", j.ServiceID, csbmsg.ServiceDeactivated)
	r, err := e.m.Update(context.Background(), "alice", j.ID, jobstest.VMRequest(4, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != csbmsg.StatusCannotUpdateResource || !strings.Contains(r.Reason, "service "+j.ServiceID+" of provider a is deactivated") {
		t.Fatalf("update on a deactivated service: %s %q", r.Status, r.Reason)
	}
	if r, _ = e.m.Remove(context.Background(), "alice", j.ID); r.Status != csbmsg.StatusOK || !strings.Contains(r.Reason, "queued") {
		t.Fatalf("remove on a deactivated service: %s %q", r.Status, r.Reason)
	}
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.ads["a"].Calls("update") + e.ads["a"].Calls("remove"); n != 0 {
		t.Fatalf("the deactivated service's provider got %d calls", n)
	}
	e.cat.SetServiceStatus("a", j.ServiceID, csbmsg.ServiceActive)
	if _, err := e.m.ReapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live := e.ads["a"].LiveFor(j.ID); len(live) != 0 {
		t.Fatalf("once active, the queued removal did not happen: %v", live)
	}
}

// TestStaleReadsOfUnreachableProviderCheckOncePerInterval: when the
// provider cannot answer, the job's last check stays old, yet reads start
// at most one check per CheckInterval, not one per read.
func TestStaleReadsOfUnreachableProviderCheckOncePerInterval(t *testing.T) {
	e := newLifeEnv(t, func(c *jobs.Config) { c.CheckInterval = 10 * time.Minute })
	j := lifeJob(t, e)
	e.ads["a"].SetFault(jobstest.Fault{Status: errors.New("down")})
	e.clock.Advance(20 * time.Minute)
	calls := func() int { return e.ads["a"].Calls("status") }
	waitCalls := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for calls() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d status calls, want %d", calls(), want)
			}
			time.Sleep(time.Millisecond) // polling a condition with a deadline
		}
	}
	if _, err := e.m.Get(context.Background(), "alice", j.ID); err != nil {
		t.Fatal(err)
	}
	waitCalls(1)
	for range 20 {
		if _, err := e.m.Get(context.Background(), "alice", j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls(); n != 1 {
		t.Fatalf("21 reads within the interval made %d status calls, want 1", n)
	}
	got, _ := e.m.Inspect(context.Background(), j.ID)
	if got.Status != jobs.StatusSuccess {
		t.Fatalf("an unreachable provider failed the job: %s %q", got.Status, got.Reason)
	}
	// Past the interval, reads start a check again (the first ended by
	// now or soon: read until it shows).
	e.clock.Advance(10 * time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for calls() < 2 {
		if _, err := e.m.Get(context.Background(), "alice", j.ID); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no check after the interval: %d status calls", calls())
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
}

// TestRestartChecksEveryJob: a broker that starts checks every
// successful job at once, however recently it was checked, so a provider
// that restarted empty with it is seen without waiting an interval.
func TestRestartChecksEveryJob(t *testing.T) {
	e := newLifeEnv(t, func(c *jobs.Config) { c.CheckInterval = time.Hour })
	j := lifeJob(t, e)
	vanish(t, e, j)
	e.m.Stop()
	m := e.start(e.cfg) // a new process on the same store
	m.Start()
	got := e.waitJob(m, "alice", j.ID, func(j *jobs.Job) bool { return j.Status == jobs.StatusFailed })
	if !strings.Contains(got.Reason, "resource gone at a") {
		t.Fatalf("reason %q", got.Reason)
	}
}
