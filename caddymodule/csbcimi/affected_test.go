package csbcimi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// CIMI Jobs carried no affectedResources (DSP0263's Job), though the
// broker knows them: the volume a machine is created and deleted with,
// the volume (and MachineVolume) an attach adds, the volume a detach
// takes away.
func TestCIMIJobAffectedResources(t *testing.T) {
	b := startEngineBrokerWith(t, engineOptions{buildTime: "0"})
	m := b.create("alice", `{"machineTemplate":{"machineConfig":{"cpu":1,"memory":1048576},
		"volumeTemplates":[{"volumeConfig":{"capacity":1048576}}]}}`)
	v := b.do("alice", "POST", "/cimi/volumes", `{"volumeTemplate":{"volumeConfig":{"capacity":1048576}}}`)
	if v.status != http.StatusCreated {
		t.Fatalf("volume: %s", v)
	}
	vol := v.header.Get("Location")
	base := vol[:strings.Index(vol, "/cimi/")+len("/cimi/")]
	affected := func(o map[string]any) string {
		var out []string
		list, _ := o["affectedResources"].([]any)
		for _, r := range list {
			out = append(out, fmt.Sprint(r.(map[string]any)["href"]))
		}
		return strings.Join(out, " ")
	}
	job := func(uri string) map[string]any {
		t.Helper()
		a := b.do("alice", "GET", uri[strings.Index(uri, "/cimi/"):], "")
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %s", uri, a)
		}
		return a.json
	}
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: affectedResources %q, want %q", what, got, want)
		}
	}
	check("the create of a machine with a volume", affected(job(base+"jobs/"+m+".create")), base+"volumes/"+m+" "+base+"machines/"+m+"/volumes/1")

	att := b.do("alice", "POST", "/cimi/machines/"+m+"/volumes", `{"volume":{"href":"`+vol+`"}}`)
	if att.status != http.StatusAccepted {
		t.Fatalf("attach: %s", att)
	}
	mv := att.header.Get("Location")
	attJob := att.header.Get(JobHeader)
	check("the attach's 202", affected(att.json), vol+" "+mv)
	check("the attach's Job", affected(job(attJob)), vol+" "+mv)

	det := b.do("alice", "DELETE", mv[strings.Index(mv, "/cimi/"):], "")
	if det.status != http.StatusAccepted {
		t.Fatalf("detach: %s", det)
	}
	check("the detach's 202", affected(det.json), vol)
	check("the detach's Job", affected(job(det.header.Get(JobHeader))), vol)
	check("the attach's Job once detached", affected(job(attJob)), vol)
	x := b.do("alice", "GET", det.header.Get(JobHeader)[strings.Index(det.header.Get(JobHeader), "/cimi/"):], "", "Accept", "application/xml")
	if !strings.Contains(string(x.body), `<affectedResource href="`+vol+`">`) {
		t.Errorf("the detach's Job in XML: %s", x.body)
	}

	if a := b.do("alice", "DELETE", "/cimi/machines/"+m, ""); a.status != http.StatusOK {
		t.Fatalf("delete: %s", a)
	}
	check("the delete of a machine with a volume", affected(job(base+"jobs/"+m+".delete")), base+"volumes/"+m)
	check("a volume's own create", affected(job(base+"jobs/"+strings.TrimPrefix(vol, base+"volumes/")+".create")), "")
}
