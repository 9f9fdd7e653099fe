package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestCLIDrivesTheBroker runs every subcommand of "caddy csb" (the built
// Caddy binary) against a real Caddy with sandbox clouds, over HTTPS with
// Caddy's local CA (found by default) and HTTP Digest.
func TestCLIDrivesTheBroker(t *testing.T) {
	b := cliStart(t)

	// catalog: what alice may ask for; bob's access list hides cloud-b.
	r := b.run("alice", cliUsers["alice"], "catalog").ok(t)
	for _, want := range []string{"PROVIDER", "cloud-a", "vm-a", "8 cores, 16 GB memory, x86_64, 200 GB storage", "cloud-b", "vm-b", "objects-a", "objects: data container", "apps", "crm"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("catalog lacks %q:\n%s", want, r)
		}
	}
	if r = b.run("bob", cliUsers["bob"], "catalog", "--json").ok(t); strings.Contains(r.stdout, "cloud-b") || !strings.Contains(r.stdout, `"cores": 8`) {
		t.Fatalf("bob's catalogue:\n%s", r)
	}

	// explain: cheapest first; a request no provider can take is the
	// draft's 408 with the reason, exit 1.
	r = b.run("alice", cliUsers["alice"], "explain", "iaas", "--cores", "2", "--memory", "4").ok(t)
	if !strings.Contains(r.stdout, "policy cheapest") || !regexp.MustCompile(`(?m)^1\s+cloud-a\s+vm-a`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^2\s+cloud-b\s+vm-b`).MatchString(r.stdout) {
		t.Fatalf("explain:\n%s", r)
	}
	r = b.run("alice", cliUsers["alice"], "explain", "iaas", "--cores", "2", "--provider", "cloud-b", "--json").ok(t)
	var e struct {
		Status int `json:"status"`
		Chosen struct {
			ProviderID string `json:"provider_id"`
		} `json:"chosen"`
	}
	if json.Unmarshal([]byte(r.stdout), &e) != nil || e.Status != 200 || e.Chosen.ProviderID != "cloud-b" {
		t.Fatalf("explain --provider cloud-b --json:\n%s", r)
	}
	r = b.run("alice", cliUsers["alice"], "explain", "iaas", "--cores", "128")
	if r.code != 1 || !strings.Contains(r.stderr, "408 Unable to find Resource: no provider can fulfil the request") || !strings.Contains(r.stdout, "cloud-a") {
		t.Fatalf("explain of the impossible:\n%s", r)
	}

	// request iaas: cheapest cloud-a answers at once.
	r = b.run("alice", cliUsers["alice"], "request", "iaas", "--cores", "2", "--memory", "4", "--storage", "20", "--arch", "x86_64", "--lease", "2h", "--wait").ok(t)
	vmA := r.tableValue(t, "JOB")
	if r.tableValue(t, "STATUS") != "success" || r.tableValue(t, "PROVIDER") != "cloud-a" || !regexp.MustCompile(`^(2h0m0s|1h59m)`).MatchString(r.tableValue(t, "LEASE")) ||
		!strings.Contains(r.tableValue(t, "ENDPOINT"), fmt.Sprintf("127.0.0.1:%d/cimi/", b.clouds[0])) {
		t.Fatalf("request iaas:\n%s", r)
	}

	// request --wait on cloud-b (slow builds): the answer comes while the
	// job is in flight, the CLI follows it with a progress line.
	r = b.run("alice", cliUsers["alice"], "request", "iaas", "--cores", "2", "--memory", "2", "--provider", "cloud-b", "--wait", "--json").ok(t)
	j := r.job(t)
	if j.JobStatus != "success" || j.ProviderID != "cloud-b" || !strings.Contains(r.stderr, "job "+j.JobID+": ") || !strings.Contains(r.stderr, "success") {
		t.Fatalf("request --wait:\n%s", r)
	}
	if !strings.Contains(r.stderr, ": pending") && !strings.Contains(r.stderr, ": provisioning") {
		t.Fatalf("--wait showed no progress in flight:\n%s", r)
	}
	vmB := j.JobID

	// The same without --wait answers in flight; job --wait follows it.
	r = b.run("alice", cliUsers["alice"], "request", "iaas", "--cores", "1", "--memory", "1", "--provider", "cloud-b", "--json").ok(t)
	if j = r.job(t); j.JobStatus != "pending" && j.JobStatus != "provisioning" {
		t.Fatalf("request without --wait on a slow cloud:\n%s", r)
	}
	r = b.run("alice", cliUsers["alice"], "job", j.JobID, "--wait").ok(t)
	if r.tableValue(t, "STATUS") != "success" || !strings.Contains(r.stderr, "job "+j.JobID) {
		t.Fatalf("job --wait:\n%s", r)
	}
	slow := j.JobID

	// request dsaas with a text file as a data object; --container
	// names the container, which the CDMI adapter does not honour: 420.
	obj := cliWriteFile(t, "cat.txt", "meow")
	r = b.run("alice", cliUsers["alice"], "request", "dsaas", "--object", obj, "--wait").ok(t)
	if r.tableValue(t, "STATUS") != "success" || !strings.Contains(r.tableValue(t, "GRANTED"), "data object ") ||
		!strings.Contains(r.tableValue(t, "ENDPOINT"), fmt.Sprintf("127.0.0.1:%d/cdmi/", b.clouds[0])) {
		t.Fatalf("request dsaas:\n%s", r)
	}
	ds := r.tableValue(t, "JOB")
	if r = b.run("alice", cliUsers["alice"], "request", "dsaas", "--container", "box"); r.code != 1 || !strings.Contains(r.stderr, "420 Unsupported attribute or element: unsupported element DSaaS/ContainerObject/objectID") {
		t.Fatalf("request dsaas --container:\n%s", r)
	}

	// request saas: the link provider hands out its service.
	r = b.run("alice", cliUsers["alice"], "request", "saas", "--rel", "crm").ok(t)
	if r.tableValue(t, "PROVIDER") != "apps" || !strings.Contains(r.tableValue(t, "ENDPOINT"), "/crm/") {
		t.Fatalf("request saas:\n%s", r)
	}
	if r = b.run("alice", cliUsers["alice"], "request", "paas", "--rel", "crm"); r.code != 1 || !strings.Contains(r.stderr, "408 Unable to find Resource") || r.stdout != "" {
		t.Fatalf("request paas (none offered):\n%s", r)
	}

	// request --file sends the document as it is (--wait: on a loaded
	// machine the create may outlast the broker's respond_within).
	file := cliWriteFile(t, "request.xml", `<?xml version="1.0"?>
<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.0">
  <CloudServiceRequest><IaaS><compute><cores>1</cores><memory>1</memory></compute></IaaS></CloudServiceRequest>
</csbconsumer>`)
	r = b.run("alice", cliUsers["alice"], "request", "--file", file, "--json", "--wait").ok(t)
	if j = r.job(t); j.Status != 200 || j.ProviderID != "cloud-a" {
		t.Fatalf("request --file:\n%s", r)
	}
	fromFile := j.JobID

	// A request no provider can fulfil: 408 with the draft's reason, on
	// stderr, exit 1; --json still prints the answer.
	r = b.run("alice", cliUsers["alice"], "request", "iaas", "--cores", "128", "--json")
	if r.code != 1 || !strings.Contains(r.stderr, "408 Unable to find Resource: no provider can fulfil the request: cloud-a: no service with cores >= 128") ||
		r.job(t).Status != 408 {
		t.Fatalf("request beyond every provider:\n%s", r)
	}

	// bob makes a job of his own.
	r = b.run("bob", cliUsers["bob"], "request", "iaas", "--cores", "1", "--memory", "1", "--json").ok(t)
	bobs := r.job(t).JobID
	// --provider narrows bob's access lists and never widens them.
	if r = b.run("bob", cliUsers["bob"], "request", "iaas", "--cores", "1", "--memory", "1", "--provider", "cloud-b"); r.code != 1 || !strings.Contains(r.stderr, "cloud-b: denied for this user") {
		t.Fatalf("bob asking for a provider denied to him:\n%s", r)
	}

	// jobs: alice's, newest first, never bob's.
	r = b.run("alice", cliUsers["alice"], "jobs").ok(t)
	for _, id := range []string{vmA, vmB, slow, ds, fromFile} {
		if !strings.Contains(r.stdout, id) {
			t.Fatalf("jobs lacks %s:\n%s", id, r)
		}
	}
	if strings.Contains(r.stdout, bobs) || !strings.HasPrefix(r.stdout, "JOB ") {
		t.Fatalf("jobs:\n%s", r)
	}
	r = b.run("alice", cliUsers["alice"], "jobs", "--json").ok(t)
	var list struct {
		Jobs []struct {
			JobID      string `json:"job_id"`
			ProviderID string `json:"provider_id"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Jobs) != 6 || list.Jobs[0].JobID != fromFile {
		t.Fatalf("jobs --json (%v):\n%s", err, r)
	}
	r = b.run("bob", cliUsers["bob"], "jobs", "--xml").ok(t)
	if l, err := csbmsg.ParseJobList([]byte(r.stdout), csbmsg.Options{Mode: csbmsg.Strict}); err != nil || len(l.Responses) != 1 || l.Responses[0].JobInfo.JobID != bobs {
		t.Fatalf("bob's jobs --xml (%v):\n%s", err, r)
	}

	// job, renew, copy, move, rm.
	r = b.run("alice", cliUsers["alice"], "job", vmA, "--json").ok(t)
	if j = r.job(t); j.JobStatus != "success" || j.ProviderID != "cloud-a" || !strings.Contains(j.Granted, "2 cores") {
		t.Fatalf("job:\n%s", r)
	}
	r = b.run("alice", cliUsers["alice"], "renew", vmA, "--lease", "30m").ok(t)
	if l := r.tableValue(t, "LEASE"); l != "30m0s" && !strings.HasPrefix(l, "29m") {
		t.Fatalf("renew --lease 30m:\n%s", r)
	}
	r = b.run("alice", cliUsers["alice"], "copy", vmA, "--wait", "--json").ok(t)
	if j = r.job(t); j.JobID == vmA || j.ProviderID != "cloud-b" || j.JobStatus != "success" {
		t.Fatalf("copy:\n%s", r)
	}
	r = b.run("alice", cliUsers["alice"], "move", vmB, "--provider", "cloud-a", "--json").ok(t)
	if j = r.job(t); j.JobID != vmB || j.ProviderID != "cloud-a" {
		t.Fatalf("move:\n%s", r)
	}
	r = b.run("alice", cliUsers["alice"], "rm", ds).ok(t)
	if r.tableValue(t, "STATUS") != "removed" {
		t.Fatalf("rm:\n%s", r)
	}
	// Another user's job is no job at all: 408 "no such job".
	if r = b.run("alice", cliUsers["alice"], "job", bobs); r.code != 1 || !strings.Contains(r.stderr, "408 Unable to find Resource: no such job: "+bobs) {
		t.Fatalf("alice reading bob's job:\n%s", r)
	}
	if r = b.run("alice", cliUsers["alice"], "rm", bobs); r.code != 1 || !strings.Contains(r.stderr, "410 Unable to remove Resource: no such job") {
		t.Fatalf("alice removing bob's job:\n%s", r)
	}
}

// TestCLIRefusals: a wrong password, an unreachable broker, a broker
// whose CA is not trusted, no password at all, and a netrc file.
func TestCLIRefusals(t *testing.T) {
	b := cliStart(t)

	r := b.run("alice", "not-her-password", "jobs")
	if r.code != 2 || !strings.Contains(r.stderr, `authentication failed for user "alice"`) || r.stdout != "" {
		t.Fatalf("wrong password:\n%s", r)
	}
	// An unreachable broker: a port nobody listens on.
	r = b.run("alice", cliUsers["alice"], "--broker", fmt.Sprintf("https://127.0.0.1:%d", harness.FreePort(t)), "jobs")
	if r.code != 2 || !strings.Contains(r.stderr, "cannot reach the broker at 127.0.0.1:") || !strings.Contains(r.stderr, "connection refused") {
		t.Fatalf("unreachable broker:\n%s", r)
	}
	// Without Caddy's data directory the local CA is not trusted; --ca
	// names it.
	env := []string{"HOME=" + t.TempDir(), "XDG_DATA_HOME=" + t.TempDir(), "CSB_BROKER=" + b.url, "CSB_USER=alice", "CSB_PASSWORD=" + cliUsers["alice"]}
	if r = cliExec(t, env, "jobs"); r.code != 2 || !strings.Contains(r.stderr, "certificate") || !strings.Contains(r.stderr, "--ca") {
		t.Fatalf("untrusted CA:\n%s", r)
	}
	root := b.p.DataDir + "/caddy/pki/authorities/local/root.crt"
	cliExec(t, env, "--ca", root, "jobs").ok(t)
	// No password anywhere and no terminal: a clear refusal.
	if r = b.run("alice", "-", "jobs"); r.code != 2 || !strings.Contains(r.stderr, "no password for alice: set CSB_PASSWORD") {
		t.Fatalf("no password:\n%s", r)
	}
	// A netrc file gives user and password.
	netrc := cliWriteFile(t, "netrc", "machine example.com login x password y\nmachine 127.0.0.1\n  login bob\n  password \""+cliUsers["bob"]+"\"\n")
	r = b.run("", "-", "--netrc", netrc, "request", "iaas", "--cores", "1", "--memory", "1", "--json").ok(t)
	if r.job(t).Status != 200 {
		t.Fatalf("netrc:\n%s", r)
	}
	// Usage errors exit 2 too.
	if r = b.run("alice", cliUsers["alice"], "request", "iaas", "--rel", "x"); r.code != 2 || !strings.Contains(r.stderr, "--rel does not apply to iaas") {
		t.Fatalf("usage error:\n%s", r)
	}
}

// TestCLIConsumerCollection checks the Consumer collection's extensions
// the CLI relies on with a plain HTTP client: the list is scoped to its
// owner in the draft's vocabulary, and nothing is answered without an
// authenticated user.
func TestCLIConsumerCollection(t *testing.T) {
	b := cliStart(t)
	alice := b.run("alice", cliUsers["alice"], "request", "iaas", "--cores", "1", "--memory", "1", "--json").ok(t).job(t).JobID
	bob := b.run("bob", cliUsers["bob"], "request", "iaas", "--cores", "1", "--memory", "1", "--json").ok(t).job(t).JobID

	client := b.p.HTTPSClient()
	for user, want := range map[string]string{"alice": alice, "bob": bob} {
		dt := cliDigestClient(client, user)
		resp, err := dt.Get(b.url + "/csb/consumer/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Csb-Job-Count") != "1" || !strings.HasPrefix(resp.Header.Get("Content-Type"), csbmsg.ConsumerMediaType) {
			t.Fatalf("%s's list: HTTP %d %v\n%s", user, resp.StatusCode, resp.Header, body)
		}
		l, err := csbmsg.ParseJobList(body, csbmsg.Options{Mode: csbmsg.Strict})
		if err != nil || len(l.Responses) != 1 || l.Responses[0].JobInfo.JobID != want || l.Responses[0].Status != 200 {
			t.Fatalf("%s's list (%v):\n%s", user, err, body)
		}
	}

	// Without credentials: digest_auth answers 401; on a site without
	// authentication the csb handler refuses (403) every extension.
	resp, err := client.Get(b.url + "/csb/consumer/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated list behind digest_auth: HTTP %d", resp.StatusCode)
	}
	for _, c := range []struct{ method, query, body string }{
		{http.MethodGet, "", ""},
		{http.MethodHead, "", ""},
		{http.MethodGet, "?catalog", ""},
		{http.MethodPost, "?explain", `<csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.0"><CloudServiceRequest><SaaS/></CloudServiceRequest></csbconsumer>`},
	} {
		req, _ := http.NewRequest(c.method, b.open+"/csb/consumer"+c.query, strings.NewReader(c.body))
		if c.body != "" {
			req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), alice) || strings.Contains(string(body), bob) {
			t.Fatalf("unauthenticated %s %s: HTTP %d\n%s", c.method, c.query, resp.StatusCode, body)
		}
	}
}
