package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestConsumerCluster runs two brokers on one shared storage directory
// (Caddy's file-system storage): a job created through one is read,
// updated and removed through the other; and when the first is killed
// in the middle of provisioning, the second takes the job over (once the
// dead process's storage lock is stale) and finishes it, with nothing left
// over at the provider.
func TestConsumerCluster(t *testing.T) {
	a := startConsumerBroker(t, brokerOptions{jobs: "\t\t\trespond_within 200ms"})
	// The second broker: same providers (the same fixtures), same storage.
	b := &consumerBroker{t: t, port: harness.FreePort(t), providers: a.providers, fixtures: a.fixtures, hashes: a.hashes}
	b.url = fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", b.port)
	b.p = harness.Start(t, b.caddyfile(brokerOptions{providers: a.providers, jobs: "\t\t\trespond_within 200ms"}), harness.Options{DataDir: a.dataDir})

	base := a.inventory()["p1"]
	created := a.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, created, csbmsg.StatusOK)
	id := created.jobID()
	perJob := a.inventory()["p1"] - base

	got := b.do("alice", http.MethodGet, "/"+id, nil, nil)
	mustStatus(t, got, csbmsg.StatusOK)
	if got.jobStatus() != "success" {
		t.Fatalf("read through b: %s", got.Body)
	}
	mustStatus(t, b.do("bob", http.MethodGet, "/"+id, nil, nil), csbmsg.StatusUnableToFindResource)
	upd := b.do("alice", http.MethodPut, "/"+id, nil, map[string]string{"Csb-Lease": "7200"})
	mustStatus(t, upd, csbmsg.StatusOK)
	if upd.Resp.JobInfo.Expires < 7100 {
		t.Fatalf("renewed through b: %s", upd.Body)
	}
	deletes0 := deletes(a)
	rem := b.do("alice", http.MethodDelete, "/"+id, nil, nil)
	mustStatus(t, rem, csbmsg.StatusOK)
	if rem.jobStatus() != "removed" || a.inventory()["p1"] != base {
		t.Fatalf("removed through b: %s, p1 holds %d", rem.Body, a.inventory()["p1"])
	}
	perRemoval := deletes(a) - deletes0
	// a may serve its cached read for up to cache_ttl (2 s).
	a.waitJob("alice", id, "removed")

	// Leases are reaped exactly once: both instances run their reaper
	// every 100 ms on the same storage, and the storage locks let one of
	// them reclaim the ended lease. The provider sees one removal, and
	// the instances' lease reclaim counters add up to one.
	deletes0 = deletes(a)
	short := a.create("alice", vmRequest(1, 1), map[string]string{"Csb-Lease": "1"})
	mustStatus(t, short, csbmsg.StatusOK)
	b.waitJob("alice", short.jobID(), "expired")
	reclaims := func() (ok, failed float64) {
		ma, mb := scrape(t, a.p.AdminAddr), scrape(t, b.p.AdminAddr)
		return ma.value("caddy_csb_lease_reclaims_total", "result=reclaimed") + mb.value("caddy_csb_lease_reclaims_total", "result=reclaimed"),
			ma.value("caddy_csb_lease_reclaims_total", "result=failed") + mb.value("caddy_csb_lease_reclaims_total", "result=failed")
	}
	eventually(t, 5*time.Second, "one instance counts the reclaim", func() bool { ok, _ := reclaims(); return ok >= 1 })
	// By the time a reads the job as expired too, the other reaper's
	// attempt on the same lease (in the same 100 ms) has found it taken.
	a.waitJob("alice", short.jobID(), "expired")
	lines := strings.Count(a.p.Log()+b.p.Log(), `"msg":"job expired"`)
	if ok, failed := reclaims(); ok != 1 || failed != 0 || lines != 1 {
		t.Fatalf("lease reclaimed %v times (%v failed), %d \"job expired\" log lines", ok, failed, lines)
	}
	if got := deletes(a) - deletes0; got != perRemoval || a.inventory()["p1"] != base {
		t.Fatalf("the provider saw %d DELETEs for one reclaim (a removal takes %d); p1 holds %d", got, perRemoval, a.inventory()["p1"])
	}
	// The admin API of either instance shows the cluster's jobs: the
	// instance that did not reclaim the lease learns of it at its next
	// index refresh (every reaper interval), so its listing may lag by
	// that much.
	var js adminJobsView
	var status int
	var data []byte
	var err error
	eventually(t, 5*time.Second, "b's admin view lists the expired job", func() bool {
		js = adminJobsView{}
		status, _, data = adminDo(t, b.p.AdminAddr, http.MethodGet, "/csb/jobs?owner=alice&state=expired", "", "", nil)
		err = json.Unmarshal(data, &js)
		return status == 200 && err == nil && js.Count == 1 && js.Jobs[0].ID == short.jobID()
	})

	// Kill a while p1 holds the first creation of a new job.
	posts := storagePosts(a)
	release := a.fixtures["p1"].Hold(http.MethodPost, "/storage")
	inflight := a.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, inflight, csbmsg.StatusOK)
	a.p.Kill()
	// b takes over once a's lock on the job is stale; its retry is held
	// too. Release only then: a's held request was dropped with its
	// connection long before, so the provider creates nothing for it.
	deadline := time.Now().Add(60 * time.Second)
	for storagePosts(a) < posts+2 {
		if time.Now().After(deadline) {
			t.Fatalf("b never retried the interrupted provisioning\n%s", b.p.Log())
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	release()
	done := b.waitJob("alice", inflight.jobID(), "success")
	if got := a.inventory()["p1"]; got != base+perJob {
		t.Fatalf("p1 holds %d entities, want %d: an orphan or a lost resource\n%s", got, base+perJob, done.Body)
	}
	b.p.WaitLog("resuming an interrupted job operation", 5*time.Second)
}

// deletes counts the DELETE requests p1's fixture received.
func deletes(b *consumerBroker) int {
	n := 0
	for _, r := range b.fixtures["p1"].Requests() {
		if r.Method == http.MethodDelete {
			n++
		}
	}
	return n
}

func storagePosts(b *consumerBroker) int {
	n := 0
	for _, r := range b.fixtures["p1"].Requests() {
		if r.Method == http.MethodPost && r.Path == "/storage/" {
			n++
		}
	}
	return n
}
