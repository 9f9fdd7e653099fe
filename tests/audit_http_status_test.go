package tests

import (
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestAuditConsumerHTTPLevelRefusals (issue 4, "HTTP-level problems get
// HTTP statuses"; CONFORMANCE.md, HTTP status policy): the refusals of
// TestConsumerVerbs leave out a malformed Csb-Lease header (the broker's
// own extension), which is an HTTP-level 400 with no protocol answer, on
// create and on a job alike; nothing is created.
func TestAuditConsumerHTTPLevelRefusals(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{})
	before := b.inventory()
	for _, lease := range []string{"soon", "-5", "0", "99999999999"} {
		a := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Lease": lease})
		if a.HTTP != http.StatusBadRequest || a.Resp != nil {
			t.Errorf("create with Csb-Lease %q: HTTP %d %s, want HTTP 400 without a protocol answer", lease, a.HTTP, a.Body)
		}
	}
	if got := b.inventory(); got["p1"] != before["p1"] || got["p2"] != before["p2"] {
		t.Fatalf("a refused create reached a provider: %v → %v", before, got)
	}
	a := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if r := b.do("alice", http.MethodPut, "/"+a.jobID(), nil, map[string]string{"Csb-Lease": "1.5"}); r.HTTP != http.StatusBadRequest || r.Resp != nil {
		t.Errorf("renewal with Csb-Lease 1.5: HTTP %d %s", r.HTTP, r.Body)
	}
}
