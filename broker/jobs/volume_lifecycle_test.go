package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// attachEnv is an env whose provider a attaches volumes, with machine m
// and volume v of alice's, v attached to m (attachment id a).
func attachEnv(t *testing.T, tweak func(*jobs.Config)) (e *env, at *attacher, m, v, a string) {
	t.Helper()
	e = newEnv(t, []string{"a"}, func(c *jobs.Config) {
		inner := c.Adapter
		c.Adapter = func(id string, k catalog.Kind) (contract.Adapter, bool) {
			ad, ok := inner(id, k)
			if !ok {
				return nil, false
			}
			if at == nil {
				at = &attacher{Adapter: ad.(*jobstest.Adapter), attached: map[string]string{}}
			}
			return at, true
		}
		if tweak != nil {
			tweak(c)
		}
	})
	mk := func(req *csbmsg.ServiceRequest) string {
		r, err := e.m.Create(context.Background(), "alice", req, jobs.CreateOptions{})
		if err != nil || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("create: %+v %v", r, err)
		}
		return r.Job.ID
	}
	m, v = mk(jobstest.VMRequest(1, 1)), mk(volumeRequest())
	res, att, err := e.m.AttachVolume(context.Background(), "alice", m, v, "")
	if err != nil || res.Status != csbmsg.StatusOK {
		t.Fatalf("attach: %+v %v", res, err)
	}
	return e, at, m, v, att.ID
}

// TestVolumeOfVanishedMachineIsFree: a machine whose resource vanished
// is failed and holds nothing at its provider, attachments included; it
// takes no detach (only a settled successful machine does). Its volume
// counted as attached all the same, so it could be neither detached nor
// removed until the machine's record was purged.
func TestVolumeOfVanishedMachineIsFree(t *testing.T) {
	e, _, m, v, _ := attachEnv(t, nil)
	mj, _ := e.m.Inspect(context.Background(), m)
	vanish(t, e, mj)
	e.clock.Advance(jobs.DefaultCheckInterval)
	if st, err := e.m.CheckOnce(context.Background()); err != nil || st.Gone != 1 {
		t.Fatalf("check: %+v %v", st, err)
	}
	vj, _ := e.m.Inspect(context.Background(), v)
	if a := e.m.AttachedTo(context.Background(), vj); a != nil {
		t.Fatalf("the volume counts as attached to a machine that holds nothing: %+v", a)
	}
	r, err := e.m.Remove(context.Background(), "alice", v)
	if err != nil || r.Status != csbmsg.StatusOK || r.Job.Status != jobs.StatusRemoved {
		t.Fatalf("remove the volume of a vanished machine: %+v %v", r, err)
	}
}

// TestVolumeDetachWhileVolumeBusy: a detach whose volume record is busy
// must not detach at the provider and then answer that the volume is
// busy: the answer (409) would deny a detach that happened, and neither
// record would show it.
func TestVolumeDetachWhileVolumeBusy(t *testing.T) {
	e, at, m, v, a := attachEnv(t, func(c *jobs.Config) { c.LockWait = time.Millisecond })
	// Another operation holds the volume's lock (a check, a reclaim, a
	// label update, on this broker or another).
	if err := e.store.Lock(context.Background(), "csb-jobs-"+v); err != nil {
		t.Fatal(err)
	}
	r, err := e.m.DetachVolume(context.Background(), "alice", m, a)
	if err != nil || r.Status != csbmsg.StatusCannotUpdateResource || !strings.Contains(r.Reason, "busy") {
		t.Fatalf("detach while the volume is busy: %+v %v", r, err)
	}
	if len(at.attached) != 1 {
		t.Fatalf("answered %q, yet the provider detached the volume (it holds %v)", r.Reason, at.attached)
	}
	if err := e.store.Unlock(context.Background(), "csb-jobs-"+v); err != nil {
		t.Fatal(err)
	}
	if r, err = e.m.DetachVolume(context.Background(), "alice", m, a); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("detach: %+v %v", r, err)
	}
	mj, _ := e.m.Inspect(context.Background(), m)
	vj, _ := e.m.Inspect(context.Background(), v)
	if len(at.attached) != 0 || len(mj.Attachments) != 0 || len(vj.Attachments) != 0 {
		t.Fatalf("after detach: provider %v machine %+v volume %+v", at.attached, mj.Attachments, vj.Attachments)
	}
}

// TestVolumeReclaimDeferredWhileAttached: the lease of a volume attached
// to a live machine ends (the consumer renews the machine's, not the
// volume's). The reaper removed the volume under the running machine,
// which a consumer's remove refuses ("detach it first"). The reclaim
// waits while the volume is attached: the volume stays successful and
// runs, its reason says why, and its observers get a lease warning
// carrying that reason, once: later passes write nothing. Once the
// volume is detached, the next pass reclaims it.
func TestVolumeReclaimDeferredWhileAttached(t *testing.T) {
	e, at, m, v, a := attachEnv(t, nil)
	rec := new(eventsRecorder)
	defer e.m.Observe(rec.add)()
	e.clock.Advance(50 * time.Minute)
	if r, err := e.m.Update(context.Background(), "alice", m, &csbmsg.ServiceRequest{}, 0); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("renew the machine: %+v %v", r, err)
	}
	e.clock.Advance(20 * time.Minute) // the volume's lease ended, the machine's runs
	st, err := e.m.ReapOnce(context.Background())
	if err != nil || st.Expired != 0 || st.Deferred != 1 {
		t.Fatalf("pass: %+v %v", st, err)
	}
	vj, _ := e.m.Inspect(context.Background(), v)
	if vj.Status != jobs.StatusSuccess || len(e.ads["a"].LiveFor(v)) != 1 || len(at.attached) != 1 {
		t.Fatalf("the reaper reclaimed a volume attached to a live machine: %s, live %v, attached %v", vj.Status, e.ads["a"].LiveFor(v), at.attached)
	}
	if !strings.Contains(vj.Reason, "reclaim deferred") || !strings.Contains(vj.Reason, m) || !strings.Contains(vj.Reason, "detached") {
		t.Fatalf("reason of a deferred reclaim: %q", vj.Reason)
	}
	evs := rec.of(v)
	if len(evs) != 1 || evs[0].Kind != jobs.EventLeaseWarning || evs[0].Reason != vj.Reason {
		t.Fatalf("events of the deferred reclaim: %+v", evs)
	}
	rev := vj.Rev
	e.clock.Advance(time.Minute)
	if st, err := e.m.ReapOnce(context.Background()); err != nil || st.Deferred != 1 {
		t.Fatalf("later pass: %+v %v", st, err)
	}
	if vj, _ = e.m.Inspect(context.Background(), v); vj.Rev != rev || len(rec.of(v)) != 1 {
		t.Fatalf("a later pass rewrote the deferral: rev %d (was %d), events %v", vj.Rev, rev, eventsKinds(rec.of(v)))
	}

	if r, err := e.m.DetachVolume(context.Background(), "alice", m, a); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("detach: %+v %v", r, err)
	}
	if st, err := e.m.ReapOnce(context.Background()); err != nil || st.Expired != 1 {
		t.Fatalf("pass after the detach: %+v %v", st, err)
	}
	vj, _ = e.m.Inspect(context.Background(), v)
	if vj.Status != jobs.StatusExpired || len(e.ads["a"].LiveFor(v)) != 0 {
		t.Fatalf("detached volume not reclaimed: %s %q", vj.Status, vj.Reason)
	}
	if mj, _ := e.m.Inspect(context.Background(), m); mj.Status != jobs.StatusSuccess {
		t.Fatalf("machine: %s", mj.Status)
	}
}

// TestVolumeReclaimAfterMachineLeaseEnds: a volume whose reclaim was
// deferred (attached) is reclaimed once its machine's lease ends too;
// the machine, which holds the attachment, is reclaimed as any job.
func TestVolumeReclaimAfterMachineLeaseEnds(t *testing.T) {
	e, _, m, v, _ := attachEnv(t, nil)
	e.clock.Advance(50 * time.Minute)
	if r, err := e.m.Update(context.Background(), "alice", m, &csbmsg.ServiceRequest{}, 0); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("renew the machine: %+v %v", r, err)
	}
	e.clock.Advance(20 * time.Minute)
	if st, err := e.m.ReapOnce(context.Background()); err != nil || st.Deferred != 1 {
		t.Fatalf("pass: %+v %v", st, err)
	}
	e.clock.Advance(time.Hour) // the machine's lease ends too
	for range 2 {              // the volume goes in the machine's pass or the next
		if _, err := e.m.ReapOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mj, _ := e.m.Inspect(context.Background(), m)
	vj, _ := e.m.Inspect(context.Background(), v)
	if mj.Status != jobs.StatusExpired || vj.Status != jobs.StatusExpired || len(e.ads["a"].Live()) != 0 {
		t.Fatalf("machine %s %q, volume %s %q, live %v", mj.Status, mj.Reason, vj.Status, vj.Reason, e.ads["a"].Live())
	}
}

// TestVolumeReclaimAfterMachineEnds: a volume whose reclaim was deferred
// (attached) is reclaimed once its machine is removed, without a detach.
func TestVolumeReclaimAfterMachineEnds(t *testing.T) {
	e, _, m, v, _ := attachEnv(t, nil)
	e.clock.Advance(50 * time.Minute)
	if r, err := e.m.Update(context.Background(), "alice", m, &csbmsg.ServiceRequest{}, 0); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("renew the machine: %+v %v", r, err)
	}
	e.clock.Advance(20 * time.Minute)
	if st, err := e.m.ReapOnce(context.Background()); err != nil || st.Deferred != 1 {
		t.Fatalf("pass: %+v %v", st, err)
	}
	if r, err := e.m.Remove(context.Background(), "alice", m); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("remove the machine: %+v %v", r, err)
	}
	if st, err := e.m.ReapOnce(context.Background()); err != nil || st.Expired != 1 {
		t.Fatalf("pass after the machine ended: %+v %v", st, err)
	}
	if vj, _ := e.m.Inspect(context.Background(), v); vj.Status != jobs.StatusExpired || len(e.ads["a"].LiveFor(v)) != 0 {
		t.Fatalf("volume of an ended machine not reclaimed: %s %q", vj.Status, vj.Reason)
	}
}
