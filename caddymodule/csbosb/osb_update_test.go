package csbosb

import (
	"net/http"
	"strings"
	"testing"
)

// TestOSBUpdateToAnotherProvidersPlan: a plan change the broker cannot
// make (to a plan pinned to another provider than the instance's) is
// "not supported": OSB says 422 MUST be returned, not 400.
func TestOSBUpdateToAnotherProvidersPlan(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}, {Name: "elsewhere", Cores: 1, Memory: 1, Provider: "p2"}})
	alice := identity("alice")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	if code, body := r.do(http.MethodPut, path, alice, r.provisionBody("small", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	sid, pid := r.ids("elsewhere")
	code, body := r.do(http.MethodPatch, path, alice, `{"service_id":"`+sid+`","plan_id":"`+pid+`"}`)
	if desc, _ := body["description"].(string); code != http.StatusUnprocessableEntity || !strings.Contains(desc, "p2") {
		t.Errorf("update to a plan at p2: %d %v, want 422 naming p2", code, body)
	}
}

// TestOSBBusyInstance: while an update is in progress, GET of the
// instance is 422 ConcurrencyError (OSB, Fetching a Service Instance:
// MUST), and the update's parameters show once it has succeeded; while a
// provision is in progress, a DELETE is 422 ConcurrencyError (the broker
// does not accept it, so it need not halt the provision).
func TestOSBBusyInstance(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice := identity("alice")
	sid, pid := r.ids("small")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	del := path + "&service_id=" + sid + "&plan_id=" + pid
	resume := r.pauseWork()
	if code, body := r.do(http.MethodPut, path, alice, r.provisionBody("small", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if code, body := r.do(http.MethodDelete, del, alice, ""); code != http.StatusUnprocessableEntity || body["error"] != "ConcurrencyError" {
		t.Errorf("deprovision during the provision: %d %v, want 422 ConcurrencyError", code, body)
	}
	resume()
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	resume = r.pauseWork()
	if code, body := r.do(http.MethodPatch, path, alice, `{"service_id":"`+sid+`","parameters":{"cores":2}}`); code != http.StatusAccepted {
		t.Fatalf("update: %d %v", code, body)
	}
	if code, body := r.do(http.MethodGet, "/v2/service_instances/i1", alice, ""); code != http.StatusUnprocessableEntity || body["error"] != "ConcurrencyError" {
		t.Errorf("GET during the update: %d %v, want 422 ConcurrencyError", code, body)
	}
	resume()
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("update %s: %s", state, desc)
	}
	code, body := r.do(http.MethodGet, "/v2/service_instances/i1", alice, "")
	if ps, _ := body["parameters"].(map[string]any); code != http.StatusOK || ps["cores"] != float64(2) {
		t.Errorf("GET after the update: %d %v, want 200 with cores 2", code, body)
	}
}
