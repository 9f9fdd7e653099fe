package csbosb

import (
	"net/http"
	"testing"
)

// pauseWork makes the broker refuse to start background operations, as
// it does while its handler is cleaned up at a reload: an operation
// accepted meanwhile stays in progress until a poll resumes it. resume
// lets them start again.
func (r *osbRig) pauseWork() (resume func()) {
	b := r.h.broker
	b.workMu.Lock()
	b.draining = true
	b.workMu.Unlock()
	return func() {
		b.workMu.Lock()
		b.draining = false
		b.workMu.Unlock()
	}
}

// TestOSBResentDeprovisionIsAccepted: a DELETE re-sent while the
// instance's deprovision is in progress gets 202 with the operation of
// the original request (OSB 2.17, Deprovisioning: "a re-sent DELETE
// request MUST return a 202 Accepted"), not 422 ConcurrencyError, and the
// operation then finishes.
func TestOSBResentDeprovisionIsAccepted(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice := identity("alice")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	if code, body := r.do(http.MethodPut, path, alice, r.provisionBody("small", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	sid, pid := r.ids("small")
	del := path + "&service_id=" + sid + "&plan_id=" + pid
	resume := r.pauseWork()
	code, first := r.do(http.MethodDelete, del, alice, "")
	if code != http.StatusAccepted || first["operation"] == nil {
		t.Fatalf("deprovision: %d %v", code, first)
	}
	code, again := r.do(http.MethodDelete, del, alice, "")
	if code != http.StatusAccepted || again["operation"] != first["operation"] {
		t.Errorf("re-sent deprovision: %d %v, want 202 with operation %v", code, again, first["operation"])
	}
	resume()
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("deprovision %s: %s", state, desc)
	}
	if code, body := r.do(http.MethodDelete, del, alice, ""); code != http.StatusGone {
		t.Errorf("deprovision of a deleted instance: %d %v, want 410", code, body)
	}
}

// TestOSBResentUpdateIsAccepted: a PATCH re-sent while that update is
// in progress gets 202 with the original operation (OSB 2.17, Updating a
// Service Instance: "a re-sent PATCH request MUST return a 202
// Accepted"); a different update meanwhile still gets 422
// ConcurrencyError.
func TestOSBResentUpdateIsAccepted(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice := identity("alice")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	if code, body := r.do(http.MethodPut, path, alice, r.provisionBody("small", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	sid, pid := r.ids("small")
	upd := `{"service_id":"` + sid + `","plan_id":"` + pid + `","parameters":{"lease":"2h"}}`
	resume := r.pauseWork()
	code, first := r.do(http.MethodPatch, path, alice, upd)
	if code != http.StatusAccepted || first["operation"] == nil {
		t.Fatalf("update: %d %v", code, first)
	}
	code, again := r.do(http.MethodPatch, path, alice, upd)
	if code != http.StatusAccepted || again["operation"] != first["operation"] {
		t.Errorf("re-sent update: %d %v, want 202 with operation %v", code, again, first["operation"])
	}
	other := `{"service_id":"` + sid + `","plan_id":"` + pid + `","parameters":{"lease":"3h"}}`
	if code, body := r.do(http.MethodPatch, path, alice, other); code != http.StatusUnprocessableEntity || body["error"] != "ConcurrencyError" {
		t.Errorf("another update meanwhile: %d %v, want 422 ConcurrencyError", code, body)
	}
	resume()
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("update %s: %s", state, desc)
	}
}
