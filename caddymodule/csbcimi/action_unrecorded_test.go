package csbcimi

import (
	"net/http"
	"strings"
	"testing"
)

// An action whose record the broker's storage refused (the provider
// acted; jobs.Manager.Act and DetachVolume log the failed write and
// answer OK) was answered 202 with a Job it could not have: machineAction
// picked, from a fresh read of the records, the latest Job with the
// action's name, which was an earlier action's (its time, its outcome);
// a detach answered the engine's in-memory record, a Job no later read
// finds. Both are now 500, saying the action could not be recorded.
func TestCIMIActionUnrecordedIs5xx(t *testing.T) {
	b := startEngineBrokerWith(t, engineOptions{buildTime: "0", faults: true})
	m := b.create("alice", plainMachine)
	v := b.do("alice", "POST", "/cimi/volumes", `{"volumeTemplate":{"volumeConfig":{"capacity":1048576}}}`)
	if v.status != http.StatusCreated {
		t.Fatalf("volume: %s", v)
	}
	att := b.do("alice", "POST", "/cimi/machines/"+m+"/volumes", `{"volume":{"href":"`+v.header.Get("Location")+`"}}`)
	if att.status != http.StatusAccepted {
		t.Fatalf("attach: %s", att)
	}
	restart := `{"action":"` + ActionNS + `restart"}`
	first := b.do("alice", "POST", "/cimi/machines/"+m+"/restart", restart)
	if first.status != http.StatusAccepted || first.header.Get(JobHeader) == "" {
		t.Fatalf("first restart: %s", first)
	}

	failStore(t, "csb/jobs/job/"+m)
	unrecorded := func(what string, a *engineAnswer) {
		t.Helper()
		msg, _ := a.json["message"].(string)
		if a.status != http.StatusInternalServerError || a.json["resourceURI"] != NS+"/Error" || !strings.Contains(msg, "could not record") {
			t.Errorf("%s whose record was refused: want a 500 CIMI error saying so: %s (%s %v)", what, a, JobHeader, a.header.Get(JobHeader))
		}
		if a.header.Get(JobHeader) != "" {
			t.Errorf("%s whose record was refused: answered with the Job %s", what, a.header.Get(JobHeader))
		}
	}
	unrecorded("a restart", b.do("alice", "POST", "/cimi/machines/"+m+"/restart", restart))
	unrecorded("a detach", b.do("alice", "DELETE", att.header.Get("Location")[strings.Index(att.header.Get("Location"), "/cimi/"):], ""))
}
