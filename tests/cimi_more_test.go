package tests

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestCIMILeaseAndPlacement: the csb.lease property sets a machine's
// lease and renews it on update; a lease that ends deletes the machine
// (404, gone at the cloud) and shows as a reclaim Job; csb.provider names
// the provider (an unknown one matches nothing: 409); machineConfigs list
// the catalogue's compute offer and the operator's declarations with the
// providers offering each; a dry run answers the same candidates and
// scores as the admin API's /csb/placement/explain.
func TestCIMILeaseAndPlacement(t *testing.T) {
	b := startCIMIBroker(t, cimiOptions{cimiBlock: `
		machine_config tiny 1 1 x86_64
		machine_config huge 64 512
		machine_image debian-12 cloud-a`})

	// machineConfigs: the offer of cloud-a (8 cores, 16 GB) and the two
	// declared ones; huge fits no provider.
	l := b.do("alice", "json", http.MethodGet, "/cimi/machineConfigs", nil)
	l.must(t, "machineConfigs", http.StatusOK)
	got := l.members("machineConfigurations", "MachineConfiguration")
	want := []string{b.base + "/cimi/machineConfigs/c8-m16-x86_64", b.base + "/cimi/machineConfigs/tiny", b.base + "/cimi/machineConfigs/huge"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("machineConfigs: %v\n%s", got, l.body)
	}
	c := b.do("alice", "xml", http.MethodGet, "/cimi/machineConfigs/tiny", nil)
	if c.str("cpu") != "1" || c.str("memory") != "1048576" || c.prop("csb.providers") != "cloud-a" {
		t.Fatalf("tiny:\n%s", c.body)
	}
	if h := b.do("alice", "json", http.MethodGet, "/cimi/machineConfigs/huge", nil); h.prop("csb.providers") != "" {
		t.Fatalf("huge:\n%s", h.body)
	}
	ex := b.do("alice", "json", http.MethodGet, "/cimi/?%24expand=machineConfigs", nil)
	if col, _ := ex.json["machineConfigs"].(map[string]any); col == nil || col["count"] != float64(3) || ex.str("machines") != b.base+"/cimi/machines" {
		t.Fatalf("$expand=machineConfigs:\n%s", ex.body)
	}
	im := b.do("alice", "json", http.MethodGet, "/cimi/machineImages/default", nil)
	if im.prop("csb.providers") != "cloud-a" {
		t.Fatalf("default image:\n%s", im.body)
	}

	// A machine from a template by reference, with a short lease.
	a := b.do("alice", "json", http.MethodPost, "/cimi/machines", []byte(`{"name": "tiny-one", "machineTemplate": {"machineConfig": {"href": "machineConfigs/tiny"}, "machineImage": {"href": "`+b.base+`/cimi/machineImages/debian-12"}}, "properties": {"csb.lease": "600"}}`))
	a.must(t, "create from references", http.StatusCreated, http.StatusAccepted)
	href := a.header.Get("Location")
	m := b.waitState("alice", "json", href, "STARTED")
	if m.prop("csb.lease") != "600" || m.str("cpu") != "1" {
		t.Fatalf("leased machine:\n%s", m.body)
	}
	exp1, err := time.Parse(time.RFC3339, m.prop("csb.lease_expires"))
	if err != nil {
		t.Fatalf("csb.lease_expires: %v\n%s", err, m.body)
	}
	u := b.do("alice", "json", http.MethodPut, href, []byte(`{"properties": {"csb.lease": "2h"}}`))
	u.must(t, "renew", http.StatusOK)
	exp2, _ := time.Parse(time.RFC3339, u.prop("csb.lease_expires"))
	if u.prop("csb.lease") != "7200" || !exp2.After(exp1.Add(time.Hour)) {
		t.Fatalf("renewed lease: %s -> %s\n%s", exp1, exp2, u.body)
	}
	a = b.do("alice", "json", http.MethodPost, "/cimi/machines", []byte(`{"machineTemplate": {"href": "`+b.base+`/cimi/machineTemplates/tiny"}}`))
	a.must(t, "create from a template href", http.StatusCreated, http.StatusAccepted)
	b.do("alice", "json", http.MethodDelete, a.header.Get("Location"), nil).must(t, "delete the template one", http.StatusOK)

	// A lease of 1 s: reclaimed, the machine is gone and its Job says so.
	a = b.do("alice", "xml", http.MethodPost, "/cimi/machines", cimiMachineCreate("xml", "short", 1, 1, map[string]string{"csb.lease": "1s"}))
	a.must(t, "short lease", http.StatusCreated, http.StatusAccepted)
	short := a.header.Get("Location")
	id := lastSegment(short)
	deadline := time.Now().Add(20 * time.Second)
	for b.do("alice", "xml", http.MethodGet, short, nil).status != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("the machine outlived its lease")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	if st := b.sandboxMachineState(id); st != "" {
		t.Fatalf("the reclaimed machine is still at the sandbox: %s", st)
	}
	j := b.do("alice", "xml", http.MethodGet, "/cimi/jobs/"+id+".reclaim", nil)
	j.must(t, "reclaim job", http.StatusOK)
	if j.str("state") != "SUCCESS" || j.str("action") != "delete" || j.str("initiator") != "csb-lease" {
		t.Fatalf("reclaim job:\n%s", j.body)
	}
	if !slices.Contains(b.do("alice", "json", http.MethodGet, "/cimi/jobs", nil).members("jobs", "Job"), b.base+"/cimi/jobs/"+id+".reclaim") {
		t.Fatal("the reclaim job is not in the Job collection")
	}

	// csb.provider: an unknown provider matches nothing.
	b.do("alice", "json", http.MethodPost, "/cimi/machines", cimiMachineCreate("json", "nowhere", 1, 1, map[string]string{"csb.provider": "cloud-z"})).must(t, "unknown provider", http.StatusConflict)
	b.do("alice", "json", http.MethodPost, "/cimi/machines", cimiMachineCreate("json", "typo", 1, 1, map[string]string{"csb.polcy": "x"})).must(t, "unknown csb key", http.StatusBadRequest)
	a = b.do("alice", "json", http.MethodPost, "/cimi/machines", cimiMachineCreate("json", "placed", 1, 1, map[string]string{"csb.provider": "cloud-a"}))
	a.must(t, "named provider", http.StatusCreated, http.StatusAccepted)
	b.do("alice", "json", http.MethodDelete, a.header.Get("Location"), nil).must(t, "delete", http.StatusOK)

	// Dry run: the explain endpoint's answer for the same request and user.
	dry := b.do("alice", "json", http.MethodPost, "/cimi/machines?dryRun", cimiMachineCreate("json", "dry", 2, 4, nil))
	dry.must(t, "dry run", http.StatusOK)
	vm := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(2), Memory: u64(4), Architecture: str("x86_64")}}}
	status, _, data := adminDo(t, b.p.AdminAddr, http.MethodPost, "/csb/placement/explain?user=alice", "application/json", csbmsg.ConsumerMediaType, consumerBody(t, vm))
	if status != http.StatusOK {
		t.Fatalf("explain: %d %s", status, data)
	}
	var fromAdmin, fromCIMI map[string]any
	if err := json.Unmarshal(data, &fromAdmin); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(dry.body, &fromCIMI)
	for _, k := range []string{"catalog_version"} {
		delete(fromAdmin, k)
		delete(fromCIMI, k)
	}
	if !reflect.DeepEqual(fromAdmin["candidates"], fromCIMI["candidates"]) || !reflect.DeepEqual(fromAdmin["chosen"], fromCIMI["chosen"]) || fromCIMI["chosen"] == nil {
		t.Fatalf("dry run:\n%s\nexplain:\n%s", dry.body, data)
	}
	if l := b.do("alice", "json", http.MethodGet, "/cimi/machines?"+"%24filter=name%3D%27dry%27", nil); len(l.members("machines", "Machine")) != 0 {
		t.Fatalf("the dry run made a machine:\n%s", l.body)
	}
}

// TestCIMIBothDoors: one engine, two front doors. A machine created
// through the Consumer interface is listed and read through CIMI, and a
// machine created through CIMI is read through the Consumer interface as
// the same job.
func TestCIMIBothDoors(t *testing.T) {
	b := startCIMIBroker(t, cimiOptions{})
	req, _ := http.NewRequest(http.MethodPost, b.base+"/csb/consumer", strings.NewReader(string(consumerBody(t, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(1), Memory: u64(1), Architecture: str("x86_64")}}}))))
	req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	resp, err := b.users["alice"].Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		JobID string `xml:"CloudServiceResponse>response-job-info>job-id"`
	}
	data := readAll(t, resp)
	if err := xmlUnmarshal(data, &msg); err != nil || msg.JobID == "" {
		t.Fatalf("consumer create: %v\n%s", err, data)
	}
	href := b.base + "/cimi/machines/" + msg.JobID
	b.waitState("alice", "json", href, "STARTED")
	l := b.do("alice", "xml", http.MethodGet, "/cimi/machines", nil)
	if !slices.Contains(l.members("machines", "Machine"), href) {
		t.Fatalf("CIMI does not list the Consumer interface's machine:\n%s", l.body)
	}

	a := b.do("alice", "json", http.MethodPost, "/cimi/machines", cimiMachineCreate("json", "from-cimi", 1, 1, nil))
	a.must(t, "cimi create", http.StatusCreated, http.StatusAccepted)
	id := lastSegment(a.header.Get("Location"))
	b.waitState("alice", "json", a.header.Get("Location"), "STARTED")
	req, _ = http.NewRequest(http.MethodGet, b.base+"/csb/consumer/"+id, nil)
	resp, err = b.users["alice"].Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data = readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(data), id) || !strings.Contains(string(data), "success") {
		t.Fatalf("the Consumer interface does not read the CIMI machine: %d\n%s", resp.StatusCode, data)
	}
	// bob sees neither through either door.
	req, _ = http.NewRequest(http.MethodGet, b.base+"/csb/consumer/"+id, nil)
	resp, _ = b.users["bob"].Do(req)
	if data := readAll(t, resp); strings.Contains(string(data), "<job-status>success") {
		t.Fatalf("bob reads alice's CIMI machine through the Consumer interface:\n%s", data)
	}
}

// TestCIMIDSP0263Examples sends the DSP0263-shaped bodies of
// adapters/cimi/testdata/dsp0263 to the front-end as written, in both
// bindings, resolving the examples' http://example.com/ hrefs through the
// CloudEntryPoint: a MachineCreate referencing a configuration and an
// image, the Machine example as an edit, and the stop Action.
func TestCIMIDSP0263Examples(t *testing.T) {
	b := startCIMIBroker(t, cimiOptions{cimiBlock: `
		machine_config tiny 1 4
		machine_image WinXP-SP2`})
	dir := filepath.Join("..", "adapters", "cimi", "testdata", "dsp0263")
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, f := range []string{"json", "xml"} {
		cep := b.do("alice", f, http.MethodGet, "/cimi/", nil)
		resolve := strings.NewReplacer(
			"http://example.com/configs/", cep.str("machineConfigs")+"/",
			"http://example.com/images/", cep.str("machineImages")+"/",
			"http://example.com/", cep.str("baseURI"))
		a := b.do("alice", f, http.MethodPost, cep.str("machines"), []byte(resolve.Replace(string(read("machineCreate."+f)))))
		a.must(t, "MachineCreate example ("+f+")", http.StatusCreated, http.StatusAccepted)
		href := a.header.Get("Location")
		m := b.waitState("alice", f, href, "STARTED")
		if m.str("name") != "myMachine1" || m.str("description") != "My very first machine" || m.prop("foo") != "bar" || m.str("memory") != "4194304" {
			t.Fatalf("machine from the example:\n%s", m.body)
		}
		if f == "json" {
			edit := strings.ReplaceAll(string(read("machine.json")), "http://example.com/machines/931", href)
			edit = strings.Replace(edit, `"myMachine1"`, `"myMachine2"`, 1)
			u := b.do("alice", f, http.MethodPut, href, []byte(resolve.Replace(edit)))
			u.must(t, "Machine example as an edit", http.StatusOK)
			if u.str("name") != "myMachine2" {
				t.Fatalf("edit:\n%s", u.body)
			}
		}
		b.do("alice", f, http.MethodPost, href+"/stop", read("action."+f)).must(t, "Action example ("+f+")", http.StatusAccepted)
		b.waitState("alice", f, href, "STOPPED")
		b.do("alice", f, http.MethodDelete, href, nil).must(t, "delete", http.StatusOK)
	}
}
