package tests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// secJobsStart is startConsumerBroker with the Caddyfile passed through
// edit (nil: unchanged).
func secJobsStart(t *testing.T, o brokerOptions, edit func(string) string) *consumerBroker {
	t.Helper()
	if len(o.providers) == 0 {
		o.providers = []string{"p1", "p2"}
	}
	b := &consumerBroker{t: t, port: harness.FreePort(t), providers: o.providers, fixtures: map[string]*occitest.Server{}, hashes: map[string]string{}}
	for _, id := range o.providers {
		b.fixtures[id] = occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	}
	for u, pw := range testUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.hashes[u] = string(h)
	}
	b.url = fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", b.port)
	cf := b.caddyfile(o)
	if edit != nil {
		cf = edit(cf)
	}
	b.p = harness.Start(t, cf, harness.Options{DataDir: o.dataDir})
	b.dataDir = b.p.DataDir
	return b
}

// secJobsWithJobRoute puts the job route (reverse_proxy /csb/jobs/* with
// dynamic csb, csb_job_route before it) in front of csb.
func secJobsWithJobRoute(cf string) string {
	return strings.Replace(cf, "\tcsb\n}\n", "\troute {\n\t\tcsb_job_route /csb/jobs/*\n\t\treverse_proxy /csb/jobs/* {\n\t\t\tdynamic csb\n\t\t}\n\t\tcsb\n\t}\n}\n", 1)
}

// secJobsRecords returns the job records and owner index keys in the
// broker's storage (Caddy's file system storage).
func secJobsRecords(t *testing.T, b *consumerBroker) (jobs, index []string) {
	t.Helper()
	root := filepath.Join(b.dataDir, "caddy", "csb", "jobs")
	walk := func(dir string) []string {
		var out []string
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if !d.IsDir() {
				out = append(out, filepath.Base(p))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return walk("job"), walk("owner")
}

// secJobsWrites counts the requests that could create something at a
// fixture (anything but GET and HEAD).
func secJobsWrites(f *occitest.Server) int {
	n := 0
	for _, r := range f.Requests() {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			n++
		}
	}
	return n
}

// A 1,000,000-byte <hostname> is refused with status 400 before anything
// reaches a provider or the storage; xml max_text_size moves the limit.
func TestSecJobsHugeFieldRefused(t *testing.T) {
	b := secJobsStart(t, brokerOptions{}, nil)
	req := vmRequest(1, 1)
	req.IaaS.Compute.Hostname = str(strings.Repeat("h", 1_000_000))
	a := b.create("alice", req, nil)
	mustStatus(t, a, csbmsg.StatusSyntaxError)
	if !strings.Contains(a.Resp.Reason, "element <hostname> holds more than 65536 bytes of text") || a.jobID() != "" {
		t.Fatalf("reason %q, job %q", a.Resp.Reason, a.jobID())
	}
	for id, f := range b.fixtures {
		if n := secJobsWrites(f); n != 0 || f.Inventory() != 0 {
			t.Fatalf("provider %s got %d write requests, holds %d entities", id, n, f.Inventory())
		}
	}
	if jobs, index := secJobsRecords(t, b); len(jobs)+len(index) != 0 {
		t.Fatalf("stored %v %v", jobs, index)
	}
	// Within the limit the request goes through.
	req.IaaS.Compute.Hostname = str("vm-1")
	mustStatus(t, b.create("alice", req, nil), csbmsg.StatusOK)

	small := secJobsStart(t, brokerOptions{}, func(cf string) string {
		return strings.Replace(cf, "\tcsb {\n", "\tcsb {\n\t\txml {\n\t\t\tmax_text_size 1KiB\n\t\t}\n", 1)
	})
	req.IaaS.Compute.Hostname = str(strings.Repeat("h", 1025))
	a = small.create("alice", req, nil)
	mustStatus(t, a, csbmsg.StatusSyntaxError)
	if !strings.Contains(a.Resp.Reason, "holds more than 1024 bytes of text") {
		t.Fatalf("reason %q", a.Resp.Reason)
	}
	if n := secJobsWrites(small.fixtures["p1"]) + secJobsWrites(small.fixtures["p2"]); n != 0 {
		t.Fatalf("%d write requests reached the providers", n)
	}
}

// secJobsBadIDs are job ids (escaped for the path) holding control
// characters, invalid UTF-8 and characters XML cannot carry.
var secJobsBadIDs = []string{"abc%00", "%00", "%01", "%1b", "%ff", "%c0%80", "%ed%a0%80", "%7f", "abc%0d%0aX-Injected:%201",
	"%ef%bf%be", "%ef%bf%bf", "%f4%90%80%80", "%fe%ff", "a%20b", "%3c%26%22", "%09", strings.Repeat("%ff", 300), strings.Repeat("A", 200),
	"%e2%80%ae", "%c3%28", "%f0%28%8c%bc", "x%08y"}

// Any byte sequence in a job id gets the documented unknown-job answer
// (HTTP 200 with the verb's failure status, as a job of someone else
// does) on the consumer path, and 404 on the job route; never a 500.
func TestSecJobsControlCharacterIDs(t *testing.T) {
	b := secJobsStart(t, brokerOptions{}, secJobsWithJobRoute)
	own := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, own, csbmsg.StatusOK)
	foreign := own.jobID()
	want := map[string]csbmsg.Status{http.MethodGet: 408, http.MethodPut: 409, http.MethodDelete: 410, "COPY": 408, "MOVE": 408}
	for method, st := range want {
		// The reference: bob asking for alice's job.
		if a := b.do("bob", method, "/"+foreign, nil, nil); a.HTTP != 200 || a.status() != st {
			t.Fatalf("%s foreign: HTTP %d status %d", method, a.HTTP, a.status())
		}
	}
	base := strings.TrimSuffix(b.url, "/csb/consumer")
	client := &http.Client{Timeout: 30 * time.Second}
	for _, id := range secJobsBadIDs {
		for method, st := range want {
			a := b.do("alice", method, "/"+id, nil, nil)
			if a.HTTP != 200 || a.status() != st || !strings.HasPrefix(a.Resp.Reason, "no such job") {
				t.Fatalf("%s /csb/consumer/%s: HTTP %d status %d\n%s", method, id, a.HTTP, a.status(), a.Body)
			}
		}
		a := b.do("alice", http.MethodHead, "/"+id, nil, nil)
		if a.HTTP != 200 || a.Header.Get("Csb-Status") != "408" {
			t.Fatalf("HEAD /csb/consumer/%s: HTTP %d, Csb-Status %q", id, a.HTTP, a.Header.Get("Csb-Status"))
		}
		req, err := http.NewRequest(http.MethodGet, base+"/csb/jobs/"+id+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("alice", testUsers["alice"])
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET /csb/jobs/%s/x: HTTP %d, want 404", id, resp.StatusCode)
		}
	}
	if strings.Contains(b.p.Log(), `"status": 500`) || strings.Contains(b.p.Log(), "serializing the response") {
		t.Fatalf("the broker logged a 500:\n%s", b.p.Log())
	}
}

// A user holds at most max_jobs_per_owner job records, retained ones
// included: beyond it a create or COPY is answered 408 with a reason
// naming the job limit and reaches no provider; other users are not
// affected; once a removed record is purged (retain) the user may create
// again.
func TestSecJobsPerOwnerCap(t *testing.T) {
	b := secJobsStart(t, brokerOptions{jobs: "\t\t\tmax_jobs_per_owner 2\n\t\t\tretain 3s"}, nil)
	first := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, first, csbmsg.StatusOK)
	mustStatus(t, b.create("alice", vmRequest(1, 1), nil), csbmsg.StatusOK)
	writes := secJobsWrites(b.fixtures["p1"]) + secJobsWrites(b.fixtures["p2"])
	a := b.create("alice", vmRequest(1, 1), nil)
	mustStatus(t, a, csbmsg.StatusUnableToFindResource)
	if !strings.Contains(a.Resp.Reason, "job limit reached") || !strings.Contains(a.Resp.Reason, "at most 2") || a.jobID() != "" {
		t.Fatalf("third create: %q %q", a.Resp.Reason, a.jobID())
	}
	a = b.do("alice", "COPY", "/"+first.jobID(), nil, nil)
	mustStatus(t, a, csbmsg.StatusUnableToFindResource)
	if !strings.Contains(a.Resp.Reason, "job limit reached") {
		t.Fatalf("copy: %q", a.Resp.Reason)
	}
	if n := secJobsWrites(b.fixtures["p1"]) + secJobsWrites(b.fixtures["p2"]); n != writes {
		t.Fatalf("refused creates sent %d requests to providers", n-writes)
	}
	mustStatus(t, b.create("bob", vmRequest(1, 1), nil), csbmsg.StatusOK)
	mustStatus(t, b.do("alice", http.MethodDelete, "/"+first.jobID(), nil, nil), csbmsg.StatusOK)
	// The removed record is retained (3 s) and still counts...
	if a := b.create("alice", vmRequest(1, 1), nil); a.status() != csbmsg.StatusUnableToFindResource {
		t.Fatalf("create with a retained record at the limit: %d %s", a.status(), a.Body)
	}
	// ...until the reaper purges it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := b.create("alice", vmRequest(1, 1), nil)
		if a.status() == csbmsg.StatusOK {
			break
		}
		if a.status() != csbmsg.StatusUnableToFindResource || time.Now().After(deadline) {
			t.Fatalf("create after the retention: %d %s", a.status(), a.Body)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
}
