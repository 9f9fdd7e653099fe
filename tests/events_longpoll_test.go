package tests

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// eventsWaiters reads the number of long-polls the broker holds now.
func eventsWaiters(t *testing.T, b *consumerBroker) int {
	t.Helper()
	st, _, body := adminDo(t, b.p.AdminAddr, http.MethodGet, "/csb/webhooks", "", "", nil)
	var out struct {
		Waiters int `json:"long_poll_waiters"`
	}
	if err := json.Unmarshal(body, &out); st != 200 || err != nil {
		t.Fatalf("admin: %d %v %s", st, err, body)
	}
	return out.Waiters
}

// TestEventsLongPoll: GET ?wait= answers with the new state once the job
// changes (shown by ordering: the change is made only after the broker
// reports the poll waiting, and the answer carries the new state), and
// with the current state when the wait is over; waits are bounded by
// max_wait and a bad wait is answered 400.
func TestEventsLongPoll(t *testing.T) {
	// Only this broker's own event can end a poll early: the cluster
	// re-read is made rarer than the test.
	b := eventsBroker(t, "\t\t\tmax_wait 1h\n\t\t\tcluster_recheck 1h\n")
	a := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	id := b.waitJob("alice", a.jobID(), "success").jobID()

	// At the timeout: the current state.
	short := b.do("alice", http.MethodGet, "/"+id+"?wait=100ms", nil, nil)
	mustStatus(t, short, csbmsg.StatusOK)
	if short.jobStatus() != "success" || short.Header.Get("Csb-Wait") != "0.1" {
		t.Fatalf("short wait: %s, Csb-Wait %q", short.jobStatus(), short.Header.Get("Csb-Wait"))
	}

	// On a change: the poll is waiting (the broker says so) before the
	// job is removed, and its answer is the removed job.
	if n := eventsWaiters(t, b); n != 0 {
		t.Fatalf("%d waiters before the poll", n)
	}
	polled := make(chan *answer, 1)
	go func() { polled <- b.do("alice", http.MethodGet, "/"+id+"?wait=1h", nil, nil) }()
	deadline := time.Now().Add(20 * time.Second)
	for eventsWaiters(t, b) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the broker never reported the long-poll waiting")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	select {
	case p := <-polled:
		t.Fatalf("the poll answered before the change: %s", p.jobStatus())
	default:
	}
	rm := b.do("alice", http.MethodDelete, "/"+id, nil, nil)
	mustStatus(t, rm, csbmsg.StatusOK)
	var p *answer
	select {
	case p = <-polled:
	case <-time.After(20 * time.Second): // a failure deadline, not a measurement
		t.Fatal("the poll did not answer the change")
	}
	mustStatus(t, p, csbmsg.StatusOK)
	if p.jobStatus() != "removed" {
		t.Fatalf("the poll answered %q, want removed", p.jobStatus())
	}

	// Another user's job: the same answer as an unknown one, at once.
	other := b.do("bob", http.MethodGet, "/"+id+"?wait=20s", nil, nil)
	if other.HTTP != 200 || other.status() != csbmsg.StatusUnableToFindResource {
		t.Fatalf("bob's poll: %d %d", other.HTTP, other.status())
	}
	// Bounded: a wait above max_wait is shortened to it.
	b.reload(brokerOptions{jobs: "\t\t}\n\t\tevents {\n\t\t\tmax_wait 100ms\n"})
	long := b.do("alice", http.MethodGet, "/"+id+"?wait=1h", nil, nil)
	if long.jobStatus() != "removed" || long.Header.Get("Csb-Wait") != "0.1" {
		t.Fatalf("long wait: %s, Csb-Wait %q", long.jobStatus(), long.Header.Get("Csb-Wait"))
	}
	for _, w := range []string{"-1s", "soon", "0"} {
		if bad := b.do("alice", http.MethodGet, "/"+id+"?wait="+w, nil, nil); bad.HTTP != http.StatusBadRequest {
			t.Errorf("wait=%s: HTTP %d", w, bad.HTTP)
		}
	}
}
