package tests

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// providerOf tells which fixture holds a job, from its Cloud-service-URI.
func (b *consumerBroker) providerOf(a *answer) string {
	b.t.Helper()
	if a.Resp == nil || a.Resp.JobInfo == nil {
		b.t.Fatalf("no job: %s", a.Body)
	}
	for id, f := range b.fixtures {
		if strings.HasPrefix(a.Resp.JobInfo.CloudServiceURI, f.URL) {
			return id
		}
	}
	b.t.Fatalf("job at an unknown provider: %s", a.Resp.JobInfo.CloudServiceURI)
	return ""
}

// sequence creates n jobs as alice and returns where each landed; with
// cleanup it removes them afterwards.
func (b *consumerBroker) sequence(n int, cleanup bool) []string {
	b.t.Helper()
	var out, ids []string
	for i := 0; i < n; i++ {
		a := b.create("alice", vmRequest(1, 1), nil)
		mustStatus(b.t, a, csbmsg.StatusOK)
		out = append(out, b.providerOf(a))
		ids = append(ids, a.jobID())
	}
	if cleanup {
		for _, id := range ids {
			mustStatus(b.t, b.do("alice", http.MethodDelete, "/"+id, nil, nil), csbmsg.StatusOK)
		}
	}
	return out
}

// TestConsumerPlacementPolicies runs each placement policy on a real
// broker (reloaded between policies) over three providers.
func TestConsumerPlacementPolicies(t *testing.T) {
	providers := []string{"p1", "p2", "p3"}
	extra := func(id string) string {
		switch id {
		case "p1":
			return "\t\t\tweight 2\n\t\t\tprice 0.30"
		case "p2":
			return "\t\t\tweight 1\n\t\t\tlabel gold.price:0.05"
		}
		return "\t\t\tprice 0.20"
	}
	b := startConsumerBroker(t, brokerOptions{providers: providers, provider: extra})
	join := func(s []string) string { return strings.Join(s, " ") }

	if got := join(b.sequence(2, true)); got != "p1 p1" {
		t.Errorf("first: %s", got)
	}

	b.reload(brokerOptions{placement: "round_robin", provider: extra})
	if got := join(b.sequence(4, true)); got != "p1 p2 p3 p1" {
		t.Errorf("round_robin: %s", got)
	}

	b.reload(brokerOptions{placement: "random {\n\t\t\tseed 7\n\t\t}", provider: extra})
	r1 := b.sequence(8, true)
	// (Caddy ignores a reload to an identical configuration: go through
	// another one, so the policy is provisioned afresh.)
	b.reload(brokerOptions{placement: "first", provider: extra})
	b.reload(brokerOptions{placement: "random {\n\t\t\tseed 7\n\t\t}", provider: extra})
	r2 := b.sequence(8, true)
	if join(r1) != join(r2) {
		t.Errorf("random with one seed: %s vs %s", join(r1), join(r2))
	}
	distinct := map[string]bool{}
	for _, p := range r1 {
		distinct[p] = true
	}
	if len(distinct) < 2 {
		t.Errorf("random drew only %v", r1)
	}

	b.reload(brokerOptions{placement: "least_loaded", provider: extra})
	if got := join(b.sequence(4, true)); got != "p1 p2 p3 p1" {
		t.Errorf("least_loaded: %s", got)
	}

	// Weights 2 and 1 from the provider blocks; 0 for p3 from the policy
	// (a provider block's weight 0 means unset, that is 1).
	b.reload(brokerOptions{placement: "weighted {\n\t\t\tweight p3 0\n\t\t}", provider: extra})
	if got := join(b.sequence(6, true)); got != "p1 p2 p1 p1 p2 p1" {
		t.Errorf("weighted 2:1:0: %s", got)
	}

	// cheapest: p2's label price 0.05 beats p3's 0.20 and p1's 0.30.
	b.reload(brokerOptions{placement: "cheapest", provider: extra})
	a := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if p := b.providerOf(a); p != "p2" || !strings.Contains(a.Resp.Reason, "label price 0.05") {
		t.Errorf("cheapest: %s, %q", p, a.Resp.Reason)
	}
	// A configured service price wins over the label.
	b.reload(brokerOptions{placement: "cheapest {\n\t\t\tprice p3/vm-p3 0.01\n\t\t}", provider: extra})
	a = b.create("alice", vmRequest(1, 1), nil)
	if p := b.providerOf(a); p != "p3" || !strings.Contains(a.Resp.Reason, "configured service price 0.01") {
		t.Errorf("cheapest with a service price: %s, %q", p, a.Resp.Reason)
	}
}

// TestConsumerAccessLists: per-user allow/deny lists steer placement.
func TestConsumerAccessLists(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{jobs: "\t\t\taccess alice {\n\t\t\t\tdeny p1\n\t\t\t}\n\t\t\taccess * {\n\t\t\t\tallow p1\n\t\t\t}"})
	a := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if p := b.providerOf(a); p != "p2" {
		t.Fatalf("alice denied p1, got %s", p)
	}
	a = b.create("bob", vmRequest(1, 1), nil)
	if p := b.providerOf(a); p != "p1" {
		t.Fatalf("bob allowed only p1, got %s", p)
	}
	// Bob cannot copy to p2.
	a = b.do("bob", "COPY", "/"+a.jobID(), nil, nil)
	mustStatus(t, a, csbmsg.StatusUnableToFindResource)
	if !strings.Contains(a.Resp.Reason, "not on this user's allow list") {
		t.Fatalf("copy reason %q", a.Resp.Reason)
	}
}

// TestConsumerRestartWithJobsInEveryState stops and starts the broker
// with jobs that succeeded, were removed, expired, failed, and one still
// provisioning; every job keeps its state, and the one in flight is
// finished by the new process with nothing left over at the provider.
func TestConsumerRestartWithJobsInEveryState(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{jobs: "\t\t\trespond_within 300ms"})
	base := b.inventory()["p1"]

	success := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, success, csbmsg.StatusOK)
	perJob := b.inventory()["p1"] - base

	removed := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, b.do("alice", http.MethodDelete, "/"+removed.jobID(), nil, nil), csbmsg.StatusOK)

	expired := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Lease": "1"})
	b.waitJob("alice", expired.jobID(), "expired")

	for _, f := range b.fixtures {
		f.FailNext(http.MethodPost, "/storage", http.StatusServiceUnavailable, 1)
	}
	key := map[string]string{"Idempotency-Key": "doomed"}
	mustStatus(t, b.create("alice", vmRequest(1, 1), key), csbmsg.StatusUnableToFindResource)
	failed := b.create("alice", vmRequest(1, 1), key) // the retry tells the failed job
	if failed.jobStatus() != "failed" {
		t.Fatalf("failed job: %s", failed.Body)
	}

	// In flight: the provider holds the compute creation.
	release := b.fixtures["p1"].Hold(http.MethodPost, "/compute")
	inflight := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, inflight, csbmsg.StatusOK)
	if s := inflight.jobStatus(); s != "pending" && s != "provisioning" {
		t.Fatalf("in flight: %s", inflight.Body)
	}

	b.p.Restart()
	release()

	for _, c := range []struct {
		a    *answer
		want string
	}{{success, "success"}, {removed, "removed"}, {expired, "expired"}, {failed, "failed"}} {
		a := b.do("alice", http.MethodGet, "/"+c.a.jobID(), nil, nil)
		if a.jobStatus() != c.want {
			t.Errorf("%s after restart: %s, want %s", c.a.jobID(), a.Body, c.want)
		}
	}
	b.waitJob("alice", inflight.jobID(), "success")
	if got := b.inventory()["p1"]; got != base+2*perJob {
		t.Fatalf("p1 holds %d entities, want %d (two jobs of %d): an orphan or a lost resource", got, base+2*perJob, perJob)
	}
	b.p.WaitLog("resuming an interrupted job operation", 5*time.Second)
}
