package tests

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestCIMIMachineLifecycle drives the CIMI front-end of a real Caddy, in
// JSON and in XML, as alice over HTTP Digest: the CloudEntryPoint, a
// MachineCreate answered 201/202 with Location and CIMI-Job-URI, the
// machine read and listed (with $filter, $select, $first/$last), an
// update of its name and properties, the actions stop and start with the
// machine's state following the sandbox cloud's own, the CIMI Jobs of
// each operation, and the delete (the machine is then 404, gone at the
// cloud, and its delete Job is listed).
func TestCIMIMachineLifecycle(t *testing.T) {
	b := startCIMIBroker(t, cimiOptions{})
	for _, f := range []string{"json", "xml"} {
		t.Run(f, func(t *testing.T) {
			b.t = t
			cep := b.do("alice", f, http.MethodGet, "/cimi/", nil)
			cep.must(t, "CloudEntryPoint", http.StatusOK)
			if cep.str("baseURI") != b.base+"/cimi/" || cep.str("machines") != b.base+"/cimi/machines" || cep.str("jobs") != b.base+"/cimi/jobs" {
				t.Fatalf("CloudEntryPoint:\n%s", cep.body)
			}
			if v := cep.header.Get("CIMI-Specification-Version"); v == "" {
				t.Fatal("no CIMI-Specification-Version header")
			}

			name := "m-" + f
			a := b.do("alice", f, http.MethodPost, cep.str("machines"), cimiMachineCreate(f, name, 1, 1, map[string]string{"owner-team": "blue"}))
			a.must(t, "create", http.StatusCreated, http.StatusAccepted)
			href := a.header.Get("Location")
			jobURI := a.header.Get("CIMI-Job-URI")
			if !strings.HasPrefix(href, b.base+"/cimi/machines/") || !strings.HasPrefix(jobURI, b.base+"/cimi/jobs/") {
				t.Fatalf("create: Location %q, CIMI-Job-URI %q\n%s", href, jobURI, a.body)
			}
			id := lastSegment(href)

			m := b.waitState("alice", f, href, "STARTED")
			if m.str("name") != name || m.str("description") != "made by "+name || m.str("cpu") != "1" || m.str("memory") != "1048576" ||
				m.prop("owner-team") != "blue" || m.prop("csb.provider") != "cloud-a" || m.str("id") != href {
				t.Fatalf("machine:\n%s", m.body)
			}
			if st := b.sandboxMachineState(id); st != "STARTED" {
				t.Fatalf("the sandbox's machine is %q", st)
			}
			if !slices.Contains(m.ops(), "http://schemas.dmtf.org/cimi/1/action/stop") || slices.Contains(m.ops(), "http://schemas.dmtf.org/cimi/1/action/start") {
				t.Fatalf("operations of a STARTED machine: %v", m.ops())
			}
			job := b.do("alice", f, http.MethodGet, jobURI, nil)
			job.must(t, "create job", http.StatusOK)
			if job.str("state") != "SUCCESS" || job.str("targetResource") != href {
				t.Fatalf("create job:\n%s", job.body)
			}

			// List with $filter, $select, $first/$last.
			q := url.Values{"$filter": {"name='" + name + "' and cpu>=1"}}
			l := b.do("alice", f, http.MethodGet, "/cimi/machines?"+q.Encode(), nil)
			l.must(t, "list", http.StatusOK)
			if got := l.members("machines", "Machine"); len(got) != 1 || got[0] != href || l.str("count") != "1" {
				t.Fatalf("$filter name: %v\n%s", got, l.body)
			}
			q = url.Values{"$filter": {"state='STOPPED' or property['owner-team']='red'"}}
			l = b.do("alice", f, http.MethodGet, "/cimi/machines?"+q.Encode(), nil)
			if got := l.members("machines", "Machine"); len(got) != 0 {
				t.Fatalf("$filter state: %v\n%s", got, l.body)
			}
			q = url.Values{"$filter": {"property['owner-team']='blue'"}, "$select": {"name"}, "$first": {"1"}, "$last": {"1"}}
			l = b.do("alice", f, http.MethodGet, "/cimi/machines?"+q.Encode(), nil)
			if got := l.members("machines", "Machine"); len(got) != 1 || bytes.Contains(l.body, []byte("cpuArch")) || !bytes.Contains(l.body, []byte(name)) {
				t.Fatalf("$select/$first: %v\n%s", got, l.body)
			}
			bad := b.do("alice", f, http.MethodGet, "/cimi/machines?"+url.Values{"$filter": {"name=="}}.Encode(), nil)
			bad.must(t, "bad $filter", http.StatusBadRequest)

			// Update name and properties.
			upd := []byte(`{"name": "renamed-` + f + `", "properties": {"owner-team": "green"}}`)
			if f == "xml" {
				upd = []byte(`<Machine xmlns="http://schemas.dmtf.org/cimi/1"><name>renamed-xml</name><property key="owner-team">green</property></Machine>`)
			}
			u := b.do("alice", f, http.MethodPut, href, upd)
			u.must(t, "update", http.StatusOK)
			if u.str("name") != "renamed-"+f || u.prop("owner-team") != "green" {
				t.Fatalf("update:\n%s", u.body)
			}

			// Stop, then start: the state follows the sandbox's.
			act := b.do("alice", f, http.MethodPost, href+"/stop", cimiActionBody(f, "stop"))
			act.must(t, "stop", http.StatusAccepted)
			actJob := act.header.Get("CIMI-Job-URI")
			if actJob == "" || act.str("action") != "http://schemas.dmtf.org/cimi/1/action/stop" || act.str("state") != "RUNNING" && act.str("state") != "SUCCESS" {
				t.Fatalf("stop:\n%s", act.body)
			}
			m = b.do("alice", f, http.MethodGet, href, nil)
			if st := b.sandboxMachineState(id); m.str("state") != "STOPPING" && m.str("state") != "STOPPED" || st != "STOPPING" && st != "STOPPED" {
				t.Fatalf("after stop: broker %q, sandbox %q", m.str("state"), st)
			}
			b.waitState("alice", f, href, "STOPPED")
			if st := b.sandboxMachineState(id); st != "STOPPED" {
				t.Fatalf("the sandbox's machine is %q", st)
			}
			if j := b.do("alice", f, http.MethodGet, actJob, nil); j.str("state") != "SUCCESS" || j.str("targetResource") != href {
				t.Fatalf("the stop's Job once the machine is STOPPED:\n%s", j.body)
			}
			again := b.do("alice", f, http.MethodPost, href+"/stop", cimiActionBody(f, "stop"))
			again.must(t, "stop a stopped machine", http.StatusConflict)
			act = b.do("alice", f, http.MethodPost, href, cimiActionBody(f, "start"))
			act.must(t, "start", http.StatusAccepted)
			b.waitState("alice", f, href, "STARTED")

			// Delete.
			d := b.do("alice", f, http.MethodDelete, href, nil)
			d.must(t, "delete", http.StatusOK, http.StatusNoContent)
			delJob := d.header.Get("CIMI-Job-URI")
			b.do("alice", f, http.MethodGet, href, nil).must(t, "read after delete", http.StatusNotFound)
			if st := b.sandboxMachineState(id); st != "" {
				t.Fatalf("the sandbox still holds the machine: %s", st)
			}
			jobs := b.do("alice", f, http.MethodGet, "/cimi/jobs", nil)
			jobs.must(t, "jobs", http.StatusOK)
			got := jobs.members("jobs", "Job")
			for _, want := range []string{jobURI, actJob, delJob} {
				if !slices.Contains(got, want) {
					t.Fatalf("jobs collection lacks %s: %v", want, got)
				}
			}
			dj := b.do("alice", f, http.MethodGet, delJob, nil)
			if dj.str("state") != "SUCCESS" || dj.str("action") != "delete" {
				t.Fatalf("delete job:\n%s", dj.body)
			}
		})
	}
}

// TestCIMIRefusals: unknown and foreign machines are 404 alike, bad JSON
// and bad XML get 400 with a message in the request's binding, oversized
// bodies 413, an unknown collection 404, a wrong method 405.
func TestCIMIRefusals(t *testing.T) {
	b := startCIMIBroker(t, cimiOptions{cimiBlock: "max_body_size 2KiB"})
	a := b.do("alice", "json", http.MethodPost, "/cimi/machines", cimiMachineCreate("json", "alices", 1, 1, nil))
	a.must(t, "create", http.StatusCreated, http.StatusAccepted)
	href := a.header.Get("Location")
	for _, f := range []string{"json", "xml"} {
		for _, path := range []string{href, "/cimi/machines/AAAAAAAAAAAAAAAAAAAAAA", href + "/stop"} {
			method := http.MethodGet
			var body []byte
			if strings.HasSuffix(path, "/stop") {
				method, body = http.MethodPost, cimiActionBody(f, "stop")
			}
			bob := b.do("bob", f, method, path, body)
			bob.must(t, "bob "+method+" "+path, http.StatusNotFound)
			if bob.str("message") == "" {
				t.Fatalf("404 without a message:\n%s", bob.body)
			}
		}
		b.do("bob", f, http.MethodGet, a.header.Get("CIMI-Job-URI"), nil).must(t, "bob reads alice's job", http.StatusNotFound)
		bob := b.do("bob", f, http.MethodDelete, href, nil)
		bob.must(t, "bob deletes alice's machine", http.StatusNotFound)
		if l := b.do("bob", f, http.MethodGet, "/cimi/machines", nil); len(l.members("machines", "Machine")) != 0 {
			t.Fatalf("bob lists alice's machine:\n%s", l.body)
		}
		bad := map[string][]byte{"json": []byte(`{"name": "x", "machineTemplate": `), "xml": []byte(`<MachineCreate xmlns="http://schemas.dmtf.org/cimi/1"><name>x</nam></MachineCreate>`)}
		r := b.do("alice", f, http.MethodPost, "/cimi/machines", bad[f])
		r.must(t, "bad "+f, http.StatusBadRequest)
		if !strings.Contains(r.str("message"), "not a valid MachineCreate") || r.str("status") != "400" {
			t.Fatalf("bad %s: %s", f, r.body)
		}
		big := cimiMachineCreate(f, strings.Repeat("n", 4096), 1, 1, nil)
		b.do("alice", f, http.MethodPost, "/cimi/machines", big).must(t, "oversized", http.StatusRequestEntityTooLarge)
		b.do("alice", f, http.MethodGet, "/cimi/volumesx", nil).must(t, "unknown collection", http.StatusNotFound)
		b.do("alice", f, http.MethodPatch, "/cimi/machines", nil).must(t, "PATCH", http.StatusMethodNotAllowed)
		noTpl := []byte(`{"name": "x"}`)
		if f == "xml" {
			noTpl = []byte(`<MachineCreate xmlns="http://schemas.dmtf.org/cimi/1"><name>x</name></MachineCreate>`)
		}
		b.do("alice", f, http.MethodPost, "/cimi/machines", noTpl).must(t, "no template", http.StatusBadRequest)
		nics := []byte(`{"machineTemplate": {"machineConfig": {"cpu": 1, "memory": 1048576}, "networkInterfaces": [{"network": {"href": "n"}}]}}`)
		if f == "xml" {
			nics = []byte(`<MachineCreate xmlns="http://schemas.dmtf.org/cimi/1"><machineTemplate><machineConfig><cpu>1</cpu><memory>1048576</memory></machineConfig><networkInterface><network href="n"/></networkInterface></machineTemplate></MachineCreate>`)
		}
		if r := b.do("alice", f, http.MethodPost, "/cimi/machines", nics); r.status != http.StatusNotImplemented || !strings.Contains(r.str("message"), "networkInterfaces") {
			t.Fatalf("a template with networkInterfaces: %d %s", r.status, r.body)
		}
	}
	// Without credentials: digest_auth's 401.
	resp, err := http.Get(b.base + "/cimi/machines")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: HTTP %d", resp.StatusCode)
	}
	b.do("alice", "json", http.MethodDelete, href, nil).must(t, "delete", http.StatusOK)
}
