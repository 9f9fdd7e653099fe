package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestCIMIChaining: a broker fronting a broker. The second broker's only
// provider is the first broker's CIMI front-end, reached through the
// project's CIMI adapter with HTTP Digest (as alice); its offers are
// discovered from the first broker's machineConfigs. A machine created
// through the second broker's CIMI front-end is placed by the first on
// its sandbox cloud, stopped (the state travels back through both
// brokers) and deleted end to end.
func TestCIMIChaining(t *testing.T) {
	first := startCIMIBroker(t, cimiOptions{cimiBlock: "machine_config small 1 1 x86_64"})
	port := harness.FreePort(t)
	second := &cimiBroker{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), users: map[string]*http.Client{"carol": {Timeout: 30 * time.Second}}}
	second.p = harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider first-broker {
			adapter cimi %s/cimi/
			auth digest alice wonderland
			discover 1m
		}
		jobs {
			anonymous allow
			respond_within 5s
			poll_interval 50ms
		}
	}
}

http://127.0.0.1:%d {
	csb_cimi
	respond 404
}
`, first.base, port))

	// The second broker discovered the first's machineConfigs.
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := second.do("carol", "json", http.MethodGet, "/cimi/machineConfigs", nil)
		if strings.Contains(string(l.body), "first-broker") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second broker never discovered the first's offers:\n%s\n%s", l.body, second.p.Log())
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}

	a := second.do("carol", "json", http.MethodPost, "/cimi/machines", cimiMachineCreate("json", "chained", 1, 1, nil))
	a.must(t, "create at the second broker", http.StatusCreated, http.StatusAccepted)
	outer := a.header.Get("Location")
	m := second.waitState("carol", "json", outer, "STARTED")
	if m.prop("csb.provider") != "first-broker" {
		t.Fatalf("outer machine:\n%s", m.body)
	}
	// At the first broker, alice (the second broker's credentials) owns
	// the inner machine, tagged with the second broker's job id.
	l := first.do("alice", "json", http.MethodGet, "/cimi/machines?%24filter=property%5B%27csb_job%27%5D%3D%27"+lastSegment(outer)+"%27", nil)
	inner := l.members("machines", "Machine")
	if len(inner) != 1 {
		t.Fatalf("inner machines: %v\n%s", inner, l.body)
	}
	innerID := lastSegment(inner[0])
	if st := first.sandboxMachineState(innerID); st != "STARTED" {
		t.Fatalf("the sandbox's machine is %q", st)
	}

	second.do("carol", "json", http.MethodPost, outer+"/stop", cimiActionBody("json", "stop")).must(t, "stop through both brokers", http.StatusAccepted)
	second.waitState("carol", "json", outer, "STOPPED")
	if st := first.sandboxMachineState(innerID); st != "STOPPED" {
		t.Fatalf("the sandbox's machine is %q after a stop through both brokers", st)
	}
	second.do("carol", "xml", http.MethodPost, outer+"/start", cimiActionBody("xml", "start")).must(t, "start", http.StatusAccepted)
	second.waitState("carol", "xml", outer, "STARTED")

	second.do("carol", "json", http.MethodDelete, outer, nil).must(t, "delete through both brokers", http.StatusOK)
	second.do("carol", "json", http.MethodGet, outer, nil).must(t, "outer after delete", http.StatusNotFound)
	first.do("alice", "json", http.MethodGet, inner[0], nil).must(t, "inner after delete", http.StatusNotFound)
	if st := first.sandboxMachineState(innerID); st != "" {
		t.Fatalf("the sandbox still holds the machine: %s", st)
	}
}
