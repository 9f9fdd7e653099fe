package csbosb

import (
	"context"
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

// TestOSBUpdateWhileItsPlanIsAway: a derived plan leaves the catalogue
// while its provider is marked unhealthy; an update of an instance of
// that plan that names no other plan (a lease renewal) still works from
// the plan the instance recorded. It was 400 "unknown plan_id" for a
// request that named no plan, so no lease could be renewed during an
// outage. An instance that recorded no plan (written before) gets 422,
// the status for a state that prevents the change, not 400.
func TestOSBUpdateWhileItsPlanIsAway(t *testing.T) {
	r := startOSBRig(t, nil)
	alice := identity("alice")
	sid, pid := r.ids("p1-vm-p1")
	for _, id := range []string{"i1", "i2"} {
		if code, body := r.do(http.MethodPut, "/v2/service_instances/"+id+"?accepts_incomplete=true", alice, r.provisionBody("p1-vm-p1", "")); code != http.StatusAccepted {
			t.Fatalf("provision %s: %d %v", id, code, body)
		}
		if state, desc := r.wait(id, alice); state != "succeeded" {
			t.Fatalf("provision %s: %s: %s", id, state, desc)
		}
	}
	// i2 as a record written before instances kept their plan.
	key := instanceKey("platform", "i2")
	rec, err := r.h.broker.rec.loadInstance(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	rec.Plan = nil
	if err := r.h.broker.rec.storeInstance(context.Background(), key, rec); err != nil {
		t.Fatal(err)
	}
	r.app.Catalogue().SetHealthy("p1", false)
	if _, ok := r.h.broker.view().plans[pid]; ok {
		t.Fatal("the derived plan is still in the catalogue")
	}
	for _, body := range []string{`{"service_id":"` + sid + `"}`, `{"service_id":"` + sid + `","plan_id":"` + pid + `"}`} {
		code, got := r.do(http.MethodPatch, "/v2/service_instances/i1?accepts_incomplete=true", alice, body)
		if code != http.StatusAccepted {
			t.Fatalf("update %s while the plan is away: %d %v, want 202", body, code, got)
		}
		if state, desc := r.wait("i1", alice); state != "succeeded" {
			t.Errorf("update %s while the plan is away: %s: %s", body, state, desc)
		}
	}
	code, got := r.do(http.MethodPatch, "/v2/service_instances/i2?accepts_incomplete=true", alice, `{"service_id":"`+sid+`"}`)
	if code != http.StatusUnprocessableEntity {
		t.Errorf("update of an instance without a recorded plan while the plan is away: %d %v, want 422", code, got)
	}
}
