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
