package csbcimi

import (
	"net/http"
	"strings"
	"testing"
)

// Every read, list, count, expansion and change is scoped to the
// authenticated owner (DSP0263 4.1.7): another owner's machine, volume,
// MachineVolume and Jobs answer 404, the same answer as for what does not
// exist, and never appear in a collection, its count or an expanded
// CloudEntryPoint. The access-control row named tests that checked the
// machines collection and a machine's reads only. Also $expand on a Job,
// which inlines its targetResource, for its owner only.
func TestCIMIOwnerScope(t *testing.T) {
	b := startEngineBroker(t)
	m := b.create("alice", `{"name":"m","machineTemplate":{"machineConfig":{"cpu":1,"memory":1048576},
		"volumeTemplates":[{"volumeConfig":{"capacity":1048576}}]}}`)
	v := b.do("alice", "POST", "/cimi/volumes", `{"name":"v","volumeTemplate":{"volumeConfig":{"capacity":1048576}}}`)
	if v.status != http.StatusCreated {
		t.Fatalf("volume: %s", v)
	}
	vol := v.header.Get("Location")
	att := b.do("alice", "POST", "/cimi/machines/"+m+"/volumes", `{"volume":{"href":"`+vol+`"}}`)
	if att.status != http.StatusAccepted {
		t.Fatalf("attach: %s", att)
	}
	mv := att.header.Get("Location")
	act := b.do("alice", "POST", "/cimi/machines/"+m+"/stop", `{"action":"`+ActionNS+`stop"}`)
	if act.status != http.StatusAccepted {
		t.Fatalf("stop: %s", act)
	}
	actJob := act.header.Get(JobHeader)

	// alice: $expand=targetResource inlines the machine in its create Job.
	j := b.do("alice", "GET", "/cimi/jobs/"+m+".create?$expand=targetResource", "")
	if tr, _ := j.json["targetResource"].(map[string]any); j.status != http.StatusOK || tr["resourceURI"] != NS+"/Machine" || !strings.HasSuffix(tr["id"].(string), "/machines/"+m) {
		t.Fatalf("$expand=targetResource: %s", j)
	}
	if j := b.do("alice", "GET", "/cimi/jobs/"+m+".create", ""); j.json["targetResource"].(map[string]any)["href"] == nil {
		t.Fatalf("a Job without $expand: %s", j)
	}

	// bob: nothing of alice's, and counts of 0.
	own := b.create("bob", plainMachine)
	for _, c := range []struct{ path, member string }{
		{"/cimi/machines", "machines"},
		{"/cimi/machines?$filter=name='m'", "machines"},
		{"/cimi/volumes", "volumes"},
		{"/cimi/jobs", "jobs"},
	} {
		a := b.do("bob", "GET", c.path, "")
		if a.status != http.StatusOK || strings.Contains(string(a.body), m) || strings.Contains(string(a.body), vol) {
			t.Errorf("bob lists alice's: %s %s", c.path, a)
		}
	}
	cep := b.do("bob", "GET", "/cimi/?$expand=*", "")
	for name, want := range map[string]float64{"machines": 1, "volumes": 0} {
		if col, _ := cep.json[name].(map[string]any); col == nil || col["count"] != want {
			t.Errorf("bob's expanded %s: %v", name, cep.json[name])
		}
	}
	if strings.Contains(string(cep.body), m) {
		t.Errorf("bob's expanded CloudEntryPoint shows alice's machine: %s", cep)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/cimi/machines/" + m, ""},
		{"PUT", "/cimi/machines/" + m, `{"name":"x"}`},
		{"POST", "/cimi/machines/" + m + "/start", `{"action":"` + ActionNS + `start"}`},
		{"GET", "/cimi/machines/" + m + "/volumes", ""},
		{"GET", strings.TrimPrefix(mv, "http://broker.test"), ""},
		{"DELETE", strings.TrimPrefix(mv, "http://broker.test"), ""},
		{"GET", strings.TrimPrefix(vol, "http://broker.test"), ""},
		{"DELETE", strings.TrimPrefix(vol, "http://broker.test"), ""},
		{"GET", "/cimi/volumes/" + m, ""},
		{"GET", "/cimi/jobs/" + m + ".create", ""},
		{"GET", "/cimi/jobs/" + m + ".create?$expand=targetResource", ""},
		{"GET", strings.TrimPrefix(actJob, "http://broker.test"), ""},
		{"POST", "/cimi/machines/" + own + "/volumes", `{"volume":{"href":"` + vol + `"}}`},
		{"DELETE", "/cimi/machines/" + m, ""},
	} {
		if a := b.do("bob", r.method, r.path, r.body); a.status != http.StatusNotFound {
			t.Errorf("bob %s %s: %s", r.method, r.path, a)
		}
	}
	// All of it is still alice's.
	if a := b.do("alice", "GET", "/cimi/machines/"+m+"/volumes", ""); a.status != http.StatusOK || a.json["count"] != float64(2) {
		t.Errorf("alice's MachineVolumes after bob's tries: %s", a)
	}
}
