package csbosb

import (
	"context"
	"net/http"
	"testing"
)

// TestOSBOtherUserCannotMakeThePlatformForget: another end user of the
// platform cannot deprovision an instance or remove its binding, and is
// told so (403), not 410 Gone: OSB says a platform that reads 410 on a
// DELETE forgets the instance or binding, so the machine kept running
// and the binding's credential kept working while the platform showed
// both as deleted. The owner's instance and credential are untouched.
func TestOSBOtherUserCannotMakeThePlatformForget(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice, bob := identity("alice"), identity("bob")
	inst := "/v2/service_instances/i1"
	sid, pid := r.ids("small")
	if code, body := r.do(http.MethodPut, inst+"?accepts_incomplete=true", alice, r.provisionBody("small", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	code, bd := r.do(http.MethodPut, inst+"/service_bindings/b1", alice, `{"service_id":"`+sid+`","plan_id":"`+pid+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("bind: %d %v", code, bd)
	}
	user, _ := bd["credentials"].(map[string]any)["username"].(string)
	ids := "service_id=" + sid + "&plan_id=" + pid
	if code, body := r.do(http.MethodDelete, inst+"/service_bindings/b1?"+ids, bob, ""); code != http.StatusForbidden || body["description"] == nil {
		t.Errorf("bob's unbind: %d %v, want 403 with a description", code, body)
	}
	if code, body := r.do(http.MethodDelete, inst+"?accepts_incomplete=true&"+ids, bob, ""); code != http.StatusForbidden || body["description"] == nil {
		t.Errorf("bob's deprovision: %d %v, want 403 with a description", code, body)
	}
	if _, err := r.h.broker.rec.loadCredential(context.Background(), user); err != nil {
		t.Errorf("alice's credential after bob's requests: %v", err)
	}
	if code, body := r.do(http.MethodGet, inst, alice, ""); code != http.StatusOK {
		t.Errorf("alice's GET after bob's requests: %d %v", code, body)
	}
	// Unknown ids are still 410 for everyone.
	if code, body := r.do(http.MethodDelete, "/v2/service_instances/nope?accepts_incomplete=true&"+ids, bob, ""); code != http.StatusGone {
		t.Errorf("deprovision of an unknown instance: %d %v, want 410", code, body)
	}
}

// TestOSBPlatformWithoutIdentity: a request without
// X-Broker-API-Originating-Identity is the platform's own (OSB: orphan
// mitigation carries no end user, and polls need not): it polls, reads,
// unbinds and deprovisions the instances its end users own. They were
// all "not found" to it, so an orphan mitigation's DELETE got 410 and the
// platform forgot an instance whose machine kept running.
func TestOSBPlatformWithoutIdentity(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice := identity("alice")
	inst := "/v2/service_instances/i1"
	sid, pid := r.ids("small")
	code, prov := r.do(http.MethodPut, inst+"?accepts_incomplete=true", alice, r.provisionBody("small", ""))
	if code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, prov)
	}
	if state, desc := r.wait("i1", ""); state != "succeeded" {
		t.Fatalf("provision polled by the platform: %s: %s", state, desc)
	}
	if code, body := r.do(http.MethodGet, inst, "", ""); code != http.StatusOK {
		t.Errorf("platform's GET: %d %v, want 200", code, body)
	}
	code, bd := r.do(http.MethodPut, inst+"/service_bindings/b1", alice, `{"service_id":"`+sid+`","plan_id":"`+pid+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("bind: %d %v", code, bd)
	}
	user, _ := bd["credentials"].(map[string]any)["username"].(string)
	ids := "service_id=" + sid + "&plan_id=" + pid
	if code, body := r.do(http.MethodDelete, inst+"/service_bindings/b1?"+ids, "", ""); code != http.StatusOK {
		t.Errorf("platform's unbind: %d %v, want 200", code, body)
	}
	if _, err := r.h.broker.rec.loadCredential(context.Background(), user); err != errNoRecord {
		t.Errorf("credential after the platform's unbind: %v, want revoked", err)
	}
	if code, body := r.do(http.MethodDelete, inst+"?accepts_incomplete=true&"+ids, "", ""); code != http.StatusAccepted {
		t.Fatalf("platform's deprovision: %d %v, want 202", code, body)
	}
	if state, desc := r.wait("i1", ""); state != "succeeded" {
		t.Fatalf("deprovision %s: %s", state, desc)
	}
	if code, body := r.do(http.MethodGet, inst, alice, ""); code != http.StatusNotFound {
		t.Errorf("alice's GET after the deprovision: %d %v, want 404", code, body)
	}
}
