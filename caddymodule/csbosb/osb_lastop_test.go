package csbosb

import (
	"net/http"
	"strings"
	"testing"
)

// TestOSBLastOperationHonoursOperation: last_operation answers the
// operation the platform names (the operation query parameter), not
// whichever operation the instance had last: a stale poll of a provision
// that failed, after the platform's orphan mitigation deprovisioned the
// instance, is still "failed" (it answered the deprovision's "succeeded",
// telling the platform its failed provision had worked); an operation
// the instance never had is 400.
func TestOSBLastOperationHonoursOperation(t *testing.T) {
	r := startOSBRig(t, nil)
	alice := identity("alice")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	resume := r.pauseWork()
	code, prov := r.do(http.MethodPut, path, alice, r.provisionBody("p1-vm-p1", ""))
	if code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, prov)
	}
	r.app.Catalogue().SetHealthy("p1", false)
	resume()
	if state, desc := r.wait("i1", alice); state != "failed" {
		t.Fatalf("provision %s: %s, want failed", state, desc)
	}
	sid, pid := r.ids("p1-vm-p1")
	code, dep := r.do(http.MethodDelete, path+"&service_id="+sid+"&plan_id="+pid, alice, "")
	if code != http.StatusAccepted {
		t.Fatalf("deprovision: %d %v", code, dep)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("deprovision %s: %s", state, desc)
	}
	poll := "/v2/service_instances/i1/last_operation?operation="
	for op, want := range map[string]string{prov["operation"].(string): "failed", dep["operation"].(string): "succeeded"} {
		code, body := r.do(http.MethodGet, poll+op, alice, "")
		if code != http.StatusOK || body["state"] != want {
			t.Errorf("last_operation of %s: %d %v, want %s", op, code, body, want)
		}
	}
	if code, body := r.do(http.MethodGet, poll+"provision-nope", alice, ""); code != http.StatusBadRequest {
		t.Errorf("last_operation of an unknown operation: %d %v, want 400", code, body)
	}
}

// TestOSBFailedProvisionIsNotCalledReclaimed: an instance whose
// provision failed, so that no job was ever made, answers GET (404) and
// bind (422) saying so, not that "its lease ended and its resources were
// reclaimed", which sent the operator after a reaper that never ran.
func TestOSBFailedProvisionIsNotCalledReclaimed(t *testing.T) {
	r := startOSBRig(t, nil)
	alice := identity("alice")
	resume := r.pauseWork()
	if code, body := r.do(http.MethodPut, "/v2/service_instances/i1?accepts_incomplete=true", alice, r.provisionBody("p1-vm-p1", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	r.app.Catalogue().SetHealthy("p1", false)
	resume()
	if state, desc := r.wait("i1", alice); state != "failed" {
		t.Fatalf("provision %s: %s, want failed", state, desc)
	}
	sid, pid := r.ids("p1-vm-p1")
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodGet, "/v2/service_instances/i1", "", http.StatusNotFound},
		{http.MethodPut, "/v2/service_instances/i1/service_bindings/b1", `{"service_id":"` + sid + `","plan_id":"` + pid + `"}`, http.StatusUnprocessableEntity},
	} {
		code, body := r.do(tc.method, tc.path, alice, tc.body)
		desc, _ := body["description"].(string)
		if code != tc.want || !strings.Contains(desc, "provision failed") || strings.Contains(desc, "lease") {
			t.Errorf("%s %s: %d %q, want %d saying the provision failed", tc.method, tc.path, code, desc, tc.want)
		}
	}
}
