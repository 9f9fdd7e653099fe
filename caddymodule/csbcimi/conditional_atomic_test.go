package csbcimi

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// If-Match was evaluated on a read of the target made just before the
// engine was asked to act, and the engine took no expected revision: a
// change made between that read and the engine's act (a second client's
// request in the same instant) was overwritten, the lost update If-Match
// exists to prevent (RFC 9110 13.1.1), and the request with the stale tag
// was carried out. The engine now acts only on the job at the revision
// the preconditions were evaluated on. The test makes the change in that
// instant through the handler's preconditionHeld seam: each request
// below is sent with the target's current tag, its preconditions hold,
// another client then changes the target, and the request is answered
// 412 without acting.
func TestCIMIPreconditionAtomic(t *testing.T) {
	b := startEngineBrokerWith(t, engineOptions{buildTime: "0"})
	id := b.create("alice", plainMachine)
	path := "/cimi/machines/" + id
	tagOf := func(p string) string {
		t.Helper()
		a := b.do("alice", "GET", p, "")
		if a.status != http.StatusOK || a.header.Get("ETag") == "" {
			t.Fatalf("GET %s: %s", p, a)
		}
		return a.header.Get("ETag")
	}
	// meanwhile makes another client's request (method, p, body) land
	// once the next conditional request's preconditions held, before the
	// engine acts.
	meanwhile := func(method, p, body string, want int) {
		b.h.preconditionHeld = func() {
			b.h.preconditionHeld = nil
			if a := b.do("alice", method, p, body); a.status != want {
				t.Errorf("the other client's %s %s: %s", method, p, a)
			}
		}
	}
	refused := func(what string, a *engineAnswer) {
		t.Helper()
		if b.h.preconditionHeld != nil {
			t.Fatalf("%s: the preconditions did not hold (the other client's change was not made): %s", what, a)
		}
		if a.status != http.StatusPreconditionFailed || a.json["resourceURI"] != NS+"/Error" {
			t.Errorf("%s, changed after its preconditions were evaluated: want a 412 CIMI error, got %s", what, a)
		}
	}
	machine := func() map[string]any {
		t.Helper()
		a := b.do("alice", "GET", path, "")
		if a.status != http.StatusOK {
			t.Fatalf("GET: %s", a)
		}
		return a.json
	}
	rename := func(name string) { meanwhile("PUT", path, `{"name":"`+name+`"}`, http.StatusOK) }

	// A PUT: the other client's name stays.
	rename("other")
	refused("PUT", b.do("alice", "PUT", path, `{"name":"lost"}`, "If-Match", tagOf(path)))
	if got := machine()["name"]; got != "other" {
		t.Errorf("after the refused PUT the name is %v, want the other client's", got)
	}
	// A PUT that also renews the lease (two engine operations): neither
	// is made.
	lease := machine()["properties"].(map[string]any)[PropLease]
	rename("other2")
	refused("PUT with a lease", b.do("alice", "PUT", path, `{"name":"lost","properties":{"csb.lease":"2h"}}`, "If-Match", tagOf(path)))
	if m := machine(); m["name"] != "other2" || m["properties"].(map[string]any)[PropLease] != lease {
		t.Errorf("after the refused PUT: name %v, lease %v (was %v)", m["name"], m["properties"].(map[string]any)[PropLease], lease)
	}
	// An action.
	rename("other3")
	refused("stop", b.do("alice", "POST", path+"/stop", `{"action":"`+ActionNS+`stop"}`, "If-Match", tagOf(path)))
	if got := machine()["state"]; got != "STARTED" {
		t.Errorf("after the refused stop the machine is %v", got)
	}
	// An attach, whose target is the machine's volumes collection: another
	// attach changes it.
	mkVolume := func() string {
		t.Helper()
		v := b.do("alice", "POST", "/cimi/volumes", `{"volumeTemplate":{"volumeConfig":{"capacity":1048576}}}`)
		if v.status != http.StatusCreated {
			t.Fatalf("volume: %s", v)
		}
		return v.header.Get("Location")
	}
	v1, v2 := mkVolume(), mkVolume()
	vols := path + "/volumes"
	meanwhile("POST", vols, `{"volume":{"href":"`+v2+`"}}`, http.StatusAccepted)
	refused("attach", b.do("alice", "POST", vols, `{"volume":{"href":"`+v1+`"}}`, "If-Match", tagOf(vols)))
	if a := b.do("alice", "GET", vols, ""); a.json["count"] != float64(1) {
		t.Errorf("after the refused attach: %s", a)
	}
	// A DELETE of the machine.
	rename("other4")
	refused("DELETE", b.do("alice", "DELETE", path, "", "If-Match", tagOf(path)))
	machine()
	// A DELETE of a volume, which the other client renames through the
	// engine (volumes take no PUT).
	vol := v1[strings.Index(v1, "/cimi/"):]
	b.h.preconditionHeld = func() {
		b.h.preconditionHeld = nil
		vid := vol[strings.LastIndex(vol, "/")+1:]
		if _, err := b.h.app.JobManager().SetLabels(context.Background(), "alice", vid, map[string]string{labelName: "other"}); err != nil {
			t.Errorf("the other client's rename: %v", err)
		}
	}
	refused("volume DELETE", b.do("alice", "DELETE", vol, "", "If-Match", tagOf(vol)))
	if a := b.do("alice", "GET", vol, ""); a.status != http.StatusOK || a.json["name"] != "other" {
		t.Errorf("after the refused volume DELETE: %s", a)
	}

	// Without a change in that instant, the same requests are carried out.
	if a := b.do("alice", "PUT", path, `{"name":"mine","properties":{"csb.lease":"2h"}}`, "If-Match", tagOf(path)); a.status != http.StatusOK || a.json["name"] != "mine" {
		t.Fatalf("PUT with the current tag: %s", a)
	}
	if a := b.do("alice", "DELETE", vol, "", "If-Match", tagOf(vol)); a.status != http.StatusOK {
		t.Fatalf("volume DELETE with the current tag: %s", a)
	}
	if a := b.do("alice", "DELETE", path, "", "If-Match", tagOf(path)); a.status != http.StatusOK {
		t.Fatalf("DELETE with the current tag (the machine has a volume attached): %s", a)
	}
}
