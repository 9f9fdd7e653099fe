package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// The draft's example 5.2 request, as printed: placeholders ("......")
// where the schema wants integers and enumerations.
const draftConsumerExample = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<csbconsumer version="1.0" xmlns="urn:ietf:params:xml:ns:csb-consumer">
    <CloudServiceRequest>
       <IaaS>
          <compute>
                <architecture>......</architecture>
            <cores >......</cores>
            <hostname>......</hostname>
            <speed>......</speed>
            <memory>......</memory>
            <status>......</status>
          </compute>
          <Network>
            <vlan>......</vlan>
            <VLANlabel>......</VLANlabel>
            <address>......</address>
            <gateway>......</gateway>
            <allocation>......</allocation>
          </Network>
          <Storage>
            <size>......</size>
            <status>......</status>
          </Storage>
       </IaaS>
    </CloudServiceRequest>
</csbconsumer>
`

// networkService adds a service that offers the draft example's network.
func networkService(id string) string {
	return fmt.Sprintf(`			service vm-net-%s {
				kind iaas
				compute {
					architecture x64
					cores 4
					memory 8
					speed 2
				}
				network {
					vlan 343
					vlan_label external-dmz
					allocation static
				}
				storage {
					size 100
				}
			}`, id)
}

// TestConsumerDraftExample sends the draft's consumer example: as printed
// it is a 400 (its placeholders are not integers or enumeration values);
// with real values in the same places, and the element spellings of the
// example (<Network>, <Storage>), it is placed, provisioned at an OCCI
// provider and answered like the draft's response.
func TestConsumerDraftExample(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{provider: networkService})
	a := b.do("alice", http.MethodPost, "", []byte(draftConsumerExample), nil)
	mustStatus(t, a, csbmsg.StatusSyntaxError)
	if a.Resp.JobInfo != nil || a.Resp.Reason == "" {
		t.Fatalf("a 400 carries no job and says why: %s", a.Body)
	}

	real := strings.NewReplacer(
		"<architecture>......", "<architecture>x64",
		"<cores >......", "<cores >2",
		"<hostname>......", "<hostname>web1.example.net",
		"<speed>......", "<speed>2",
		"<memory>......", "<memory>4",
		"<status>......</status>\n          </compute>", "<status>active</status>\n          </compute>",
		"<vlan>......", "<vlan>343",
		"<VLANlabel>......", "<VLANlabel>external-dmz",
		"<address>......", "<address>192.0.2.0/24",
		"<gateway>......", "<gateway>192.0.2.1",
		"<allocation>......", "<allocation>static",
		"<size>......", "<size>20",
		"<status>......</status>\n          </Storage>", "<status>online</status>\n          </Storage>",
	).Replace(draftConsumerExample)
	before := b.inventory()
	a = b.do("alice", http.MethodPost, "", []byte(real), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	ji := a.Resp.JobInfo
	if ji == nil || ji.JobID == "" || ji.JobStatus != "success" || ji.Expires == 0 || !strings.HasPrefix(ji.CloudServiceURI, b.fixtures["p1"].URL) {
		t.Fatalf("response-job-info %+v\n%s", ji, a.Body)
	}
	if !strings.Contains(a.Resp.Reason, "provider p1, service vm-net-p1") {
		t.Fatalf("the reason should name the provider and why: %q", a.Resp.Reason)
	}
	g := a.Resp.IaaS
	if g == nil || g.Compute == nil || g.Compute.Cores == nil || *g.Compute.Cores != 2 || g.Network == nil || g.Storage == nil {
		t.Fatalf("granted resources not echoed: %s", a.Body)
	}
	if after := b.inventory(); after["p1"] <= before["p1"] {
		t.Fatalf("nothing created at the provider: %v → %v", before, after)
	}
	if loc := a.Header.Get("Location"); loc != "/csb/consumer/"+ji.JobID {
		t.Fatalf("Location %q", loc)
	}
}

// TestConsumerVerbs exercises every verb of the Consumer interface and
// the HTTP-level answers.
func TestConsumerVerbs(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{})
	before := b.inventory()

	// OPTIONS: the Allow header, on the collection and on a job.
	a := b.do("alice", http.MethodOptions, "", nil, nil)
	if a.HTTP != http.StatusNoContent || a.Header.Get("Allow") != "GET, HEAD, POST, OPTIONS" {
		t.Fatalf("OPTIONS collection: %d %q", a.HTTP, a.Header.Get("Allow"))
	}
	a = b.do("alice", http.MethodOptions, "/anything", nil, nil)
	if a.Header.Get("Allow") != "GET, HEAD, PUT, DELETE, COPY, MOVE, OPTIONS" {
		t.Fatalf("OPTIONS job: %q", a.Header.Get("Allow"))
	}

	// POST: create.
	a = b.create("alice", vmRequest(2, 4), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	id := a.jobID()
	if a.jobStatus() != "success" || a.Header.Get("Csb-Job-Id") != id {
		t.Fatalf("create: %s", a.Body)
	}
	if got := b.inventory(); got["p1"] <= before["p1"] || got["p2"] != before["p2"] {
		t.Fatalf("create should hold resources at p1 only: %v → %v", before, got)
	}
	// The placeholders reach a header directive (header >... runs after csb).
	if got := a.Header.Get("Csb-Test-Placeholders"); got != "200|p1|"+id {
		t.Fatalf("placeholders: %q", got)
	}

	// GET and HEAD.
	a = b.do("alice", http.MethodGet, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if a.jobID() != id || a.Resp.IaaS == nil {
		t.Fatalf("GET: %s", a.Body)
	}
	h := b.do("alice", http.MethodHead, "/"+id, nil, nil)
	if h.HTTP != 200 || len(h.Body) != 0 || h.Header.Get("Csb-Status") != "200" || h.Header.Get("Csb-Job-Status") != "success" ||
		h.Header.Get("Csb-Expires") == "" || !strings.HasPrefix(h.Header.Get("Content-Type"), csbmsg.ConsumerMediaType) {
		t.Fatalf("HEAD: %d %v %q", h.HTTP, h.Header, h.Body)
	}

	// PUT without a body: lease renewal.
	a = b.do("alice", http.MethodPut, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if !strings.Contains(a.Resp.Reason, "lease renewed") {
		t.Fatalf("renew: %s", a.Body)
	}
	// PUT with an action: through the adapter.
	stop := csbmsg.ComputeStop
	a = b.do("alice", http.MethodPut, "/"+id, consumerBody(t, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Action: &stop}}}), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if !strings.Contains(a.Resp.Reason, "updated at p1") {
		t.Fatalf("action: %s", a.Body)
	}
	// POST with job-info action update: the draft's own way.
	a = b.create("alice", &csbmsg.ServiceRequest{JobInfo: &csbmsg.JobInfo{JobID: id, Action: csbmsg.JobUpdate}}, nil)
	mustStatus(t, a, csbmsg.StatusOK)

	// COPY: a new job on the other provider.
	a = b.do("alice", "COPY", "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	copyID := a.jobID()
	if copyID == "" || copyID == id || !strings.Contains(a.Resp.Reason, "p2") {
		t.Fatalf("COPY: %s", a.Body)
	}
	if got := b.inventory(); got["p2"] <= before["p2"] {
		t.Fatalf("COPY created nothing at p2: %v", got)
	}
	// DELETE the copy: p2 is back where it was.
	a = b.do("alice", http.MethodDelete, "/"+copyID, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if a.jobStatus() != "removed" || b.inventory()["p2"] != before["p2"] {
		t.Fatalf("DELETE copy: %s %v", a.Body, b.inventory())
	}

	// MOVE: same job id, now at p2, nothing left at p1.
	a = b.do("alice", "MOVE", "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if a.jobID() != id || !strings.Contains(a.Resp.Reason, "moved from p1 to p2") || !strings.HasPrefix(a.Resp.JobInfo.CloudServiceURI, b.fixtures["p2"].URL) {
		t.Fatalf("MOVE: %s", a.Body)
	}
	if got := b.inventory(); got["p1"] != before["p1"] || got["p2"] <= before["p2"] {
		t.Fatalf("after MOVE: %v → %v", before, got)
	}

	// POST with job-info action remove.
	a = b.create("alice", &csbmsg.ServiceRequest{JobInfo: &csbmsg.JobInfo{JobID: id, Action: csbmsg.JobRemove}}, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if a.jobStatus() != "removed" {
		t.Fatalf("remove: %s", a.Body)
	}
	if got := b.inventory(); got["p1"] != before["p1"] || got["p2"] != before["p2"] {
		t.Fatalf("orphans after remove: %v → %v", before, got)
	}

	// HTTP-level problems.
	if a := b.do("alice", http.MethodPatch, "/"+id, nil, nil); a.HTTP != http.StatusMethodNotAllowed || a.Header.Get("Allow") == "" {
		t.Fatalf("PATCH: %d %v", a.HTTP, a.Header)
	}
	if a := b.do("alice", http.MethodDelete, "", nil, nil); a.HTTP != http.StatusMethodNotAllowed || a.Header.Get("Allow") != "GET, HEAD, POST, OPTIONS" {
		t.Fatalf("DELETE collection: %d %v", a.HTTP, a.Header)
	}
	if a := b.do("alice", http.MethodPost, "", []byte("<x/>"), map[string]string{"Content-Type": "application/xml"}); a.HTTP != http.StatusUnsupportedMediaType {
		t.Fatalf("wrong content type: %d", a.HTTP)
	}
	if a := b.do("alice", http.MethodPost, "", make([]byte, 2<<20), nil); a.HTTP != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 MiB body: %d", a.HTTP)
	}
	if a := b.do("alice", http.MethodGet, "/"+id, nil, map[string]string{"Accept": "application/json"}); a.HTTP != http.StatusNotAcceptable {
		t.Fatalf("Accept json: %d", a.HTTP)
	}
	if a := b.do("", http.MethodGet, "/"+id, nil, nil); a.HTTP != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d", a.HTTP)
	}
	if a := b.do("alice", http.MethodGet, "/"+id+"/deeper", nil, nil); a.HTTP != http.StatusNotFound {
		t.Fatalf("below a job: %d", a.HTTP)
	}
}

// TestConsumerTable2 produces every status of the draft's table 2.
func TestConsumerTable2(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{})
	// 200
	a := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	id := a.jobID()
	// 400: not well-formed, and a request for nothing.
	a = b.do("alice", http.MethodPost, "", []byte("<csbconsumer version='1.0' xmlns='urn:ietf:params:xml:ns:csb-consumer'><CloudServiceRequest>"), nil)
	mustStatus(t, a, csbmsg.StatusSyntaxError)
	a = b.create("alice", &csbmsg.ServiceRequest{}, nil)
	mustStatus(t, a, csbmsg.StatusSyntaxError)
	// 420: an element the broker does not understand.
	a = b.do("alice", http.MethodPost, "", []byte(`<csbconsumer version="1.0" xmlns="urn:ietf:params:xml:ns:csb-consumer"><CloudServiceRequest><IaaS><compute><gpus>2</gpus></compute></IaaS></CloudServiceRequest></csbconsumer>`), nil)
	mustStatus(t, a, csbmsg.StatusUnsupported)
	// 408: nothing can fulfil 64 cores; every provider says why.
	a = b.create("alice", vmRequest(64, 1), nil)
	mustStatus(t, a, csbmsg.StatusUnableToFindResource)
	if !strings.Contains(a.Resp.Reason, "p1: no service with cores >= 64 (largest 8)") || !strings.Contains(a.Resp.Reason, "p2:") {
		t.Fatalf("408 reason: %q", a.Resp.Reason)
	}
	// 409: a resize beyond the job's service.
	a = b.do("alice", http.MethodPut, "/"+id, consumerBody(t, vmRequest(16, 1)), nil)
	mustStatus(t, a, csbmsg.StatusCannotUpdateResource)
	if !strings.Contains(a.Resp.Reason, "cores >= 16") || a.Resp.JobInfo != nil {
		t.Fatalf("409: %s", a.Body)
	}
	// 410: the provider refuses to delete.
	b.fixtures["p1"].FailNext(http.MethodDelete, "", http.StatusInternalServerError, 100)
	a = b.do("alice", http.MethodDelete, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusCannotRemoveResource)
	b.fixtures["p1"].Reset()
	a = b.do("alice", http.MethodDelete, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
}

// TestConsumerOwnership: a job is its owner's only, and a foreign job id
// is answered exactly like an unknown one.
func TestConsumerOwnership(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{})
	a := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	id := a.jobID()
	unknown := "AAAAAAAAAAAAAAAAAAAAAA"
	for _, v := range []struct {
		method string
		want   csbmsg.Status
	}{{http.MethodGet, 408}, {http.MethodPut, 409}, {http.MethodDelete, 410}, {"COPY", 408}, {"MOVE", 408}} {
		foreign := b.do("bob", v.method, "/"+id, nil, nil)
		missing := b.do("bob", v.method, "/"+unknown, nil, nil)
		mustStatus(t, foreign, v.want)
		mustStatus(t, missing, v.want)
		if strings.ReplaceAll(string(foreign.Body), id, "X") != strings.ReplaceAll(string(missing.Body), unknown, "X") {
			t.Fatalf("%s: foreign and unknown differ:\n%s\n%s", v.method, foreign.Body, missing.Body)
		}
	}
	h := b.do("bob", http.MethodHead, "/"+id, nil, nil)
	if h.Header.Get("Csb-Status") != "408" || h.Header.Get("Csb-Job-Id") != "" {
		t.Fatalf("HEAD foreign: %v", h.Header)
	}
	// Bob's job-info naming Alice's job fails the same way.
	a = b.create("bob", &csbmsg.ServiceRequest{JobInfo: &csbmsg.JobInfo{JobID: id, Action: csbmsg.JobRemove}}, nil)
	mustStatus(t, a, csbmsg.StatusCannotRemoveResource)
	// Alice still has it, untouched.
	a = b.do("alice", http.MethodGet, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if a.jobStatus() != "success" {
		t.Fatalf("alice's job: %s", a.Body)
	}
}

// TestConsumerIdempotentRetry: a retried create with the same
// Idempotency-Key returns the same job and creates nothing more.
func TestConsumerIdempotentRetry(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{})
	before := b.inventory()
	key := map[string]string{"Idempotency-Key": "order-4711"}
	a1 := b.create("alice", vmRequest(1, 1), key)
	mustStatus(t, a1, csbmsg.StatusOK)
	mid := b.inventory()
	a2 := b.create("alice", vmRequest(1, 1), key)
	mustStatus(t, a2, csbmsg.StatusOK)
	if a1.jobID() != a2.jobID() || !strings.Contains(a2.Resp.Reason, "idempotent retry") {
		t.Fatalf("retry: %s vs %s", a1.jobID(), a2.Body)
	}
	if after := b.inventory(); after["p1"] != mid["p1"] || mid["p1"] <= before["p1"] {
		t.Fatalf("inventory %v → %v → %v", before, mid, after)
	}
	if a := b.create("alice", vmRequest(2, 1), key); a.HTTP != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s", a.HTTP, a.Body)
	}
	// Keys are per user.
	a3 := b.create("bob", vmRequest(1, 1), key)
	mustStatus(t, a3, csbmsg.StatusOK)
	if a3.jobID() == a1.jobID() {
		t.Fatal("bob got alice's job")
	}
}

// TestConsumerSubstitution: the chosen provider fails after creating part
// of the resources; the broker removes them and places the job on the
// next candidate.
func TestConsumerSubstitution(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{})
	before := b.inventory()
	// The OCCI adapter creates the storage, then the compute: the compute
	// fails, so a storage is left at p1 until the broker cleans up.
	b.fixtures["p1"].FailNext(http.MethodPost, "/compute", http.StatusInternalServerError, 1)
	a := b.create("alice", vmRequest(2, 4), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if !strings.HasPrefix(a.Resp.JobInfo.CloudServiceURI, b.fixtures["p2"].URL) || !strings.Contains(a.Resp.Reason, "attempt 2") {
		t.Fatalf("not substituted: %s", a.Body)
	}
	if got := b.inventory(); got["p1"] != before["p1"] {
		t.Fatalf("orphan at p1: %v → %v", before, got)
	}
	// The failed attempt did create something first.
	creates := 0
	for _, r := range b.fixtures["p1"].Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/storage") {
			creates++
		}
	}
	if creates != 1 {
		t.Fatalf("expected one storage created (then removed) at p1, saw %d", creates)
	}
}

// TestConsumerLeases: renewal moves the lease on; an ended lease is
// reclaimed at the provider and the job becomes expired.
func TestConsumerLeases(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{})
	before := b.inventory()
	a := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Lease": "3600"})
	mustStatus(t, a, csbmsg.StatusOK)
	if a.Resp.JobInfo.Expires < 3590 {
		t.Fatalf("lease %d", a.Resp.JobInfo.Expires)
	}
	id := a.jobID()
	// Renew with a 2 s lease; it then ends and is reclaimed.
	a = b.do("alice", http.MethodPut, "/"+id, nil, map[string]string{"Csb-Lease": "2"})
	mustStatus(t, a, csbmsg.StatusOK)
	if e := a.Resp.JobInfo.Expires; e == 0 || e > 2 {
		t.Fatalf("renewed lease %d", e)
	}
	a = b.waitJob("alice", id, "expired")
	if a.Resp.JobInfo.Expires != 0 {
		t.Fatalf("expired job expires %d", a.Resp.JobInfo.Expires)
	}
	if got := b.inventory(); got["p1"] != before["p1"] {
		t.Fatalf("lease not reclaimed at the provider: %v → %v", before, got)
	}
	b.p.WaitLog(`"msg":"job expired"`, 5*time.Second)
}

// TestConsumerAnonymous: without authentication the interface refuses
// (403) unless "anonymous allow", when every such request is the owner
// "anonymous".
func TestConsumerAnonymous(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{noAuth: true})
	a := b.create("", vmRequest(1, 1), nil)
	if a.HTTP != http.StatusForbidden {
		t.Fatalf("anonymous refused: %d %s", a.HTTP, a.Body)
	}
	b.reload(brokerOptions{noAuth: true, jobs: "\t\t\tanonymous allow"})
	a = b.create("", vmRequest(1, 1), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	got := b.do("", http.MethodGet, "/"+a.jobID(), nil, nil)
	mustStatus(t, got, csbmsg.StatusOK)
	b.p.WaitLog(`"owner":"anonymous"`, 5*time.Second)
}
