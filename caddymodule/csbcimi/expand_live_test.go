package csbcimi

import (
	"net/http"
	"testing"
)

// A Job's $expand=targetResource inlines the Machine as a GET of it
// answers, with the provider's live state. It rendered the machine from
// the job's record instead, and after an action that record is the
// adapter's answer to it (a resource still pending at the provider): a
// machine that GET showed STOPPING was inlined as CREATING, with the
// operations of a machine being created.
func TestCIMIExpandTargetResourceIsLive(t *testing.T) {
	b := startEngineBroker(t)
	id := b.create("alice", plainMachine)
	if a := b.do("alice", "POST", "/cimi/machines/"+id+"/stop", `{"action":"`+ActionNS+`stop"}`); a.status != http.StatusAccepted {
		t.Fatalf("stop: %s", a)
	}
	for _, job := range []string{".create", ".attempt-1"} {
		j := b.do("alice", "GET", "/cimi/jobs/"+id+job+"?$expand=targetResource", "")
		tr, _ := j.json["targetResource"].(map[string]any)
		if st := tr["state"]; j.status != http.StatusOK || st != "STOPPING" && st != "STOPPED" {
			t.Errorf("%s: the inlined machine is %v, not as its provider has it (STOPPING or STOPPED): %s", job, st, j)
		}
	}
}
