package csbosb

import (
	"net/http"
	"strings"
	"testing"
)

// TestOSBResentProvisionWhileProviderDown: a PUT re-sent for an
// instance whose provision is in progress gets 202 with the original
// operation, and once it is provisioned 200, even when no provider could
// take a new instance of the plan now (its provider is marked unhealthy):
// a re-sent request asks for nothing new (OSB 2.17, Provisioning: "a
// re-sent PUT request MUST return a 202 Accepted").
func TestOSBResentProvisionWhileProviderDown(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice := identity("alice")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	body := r.provisionBody("small", `{"lease":"2h"}`)
	resume := r.pauseWork()
	code, first := r.do(http.MethodPut, path, alice, body)
	if code != http.StatusAccepted || first["operation"] == nil {
		t.Fatalf("provision: %d %v", code, first)
	}
	if !r.app.Catalogue().SetHealthy("p1", false) {
		t.Fatal("p1 was already unhealthy")
	}
	if code, again := r.do(http.MethodPut, path, alice, body); code != http.StatusAccepted || again["operation"] != first["operation"] {
		t.Errorf("re-sent provision in progress: %d %v, want 202 with operation %v", code, again, first["operation"])
	}
	r.app.Catalogue().SetHealthy("p1", true)
	resume()
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	r.app.Catalogue().SetHealthy("p1", false)
	if code, again := r.do(http.MethodPut, path, alice, body); code != http.StatusOK {
		t.Errorf("re-sent provision of a provisioned instance: %d %v, want 200", code, again)
	}
	// A new instance cannot be placed now: 422, as before.
	if code, other := r.do(http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", alice, body); code != http.StatusUnprocessableEntity {
		t.Errorf("new provision with no provider: %d %v, want 422", code, other)
	}
}

// TestOSBProviderParameterKeepsThePlansPin: a plan pinned to a provider
// (a derived plan, or a declared plan's provider) is served there only:
// a provider parameter naming another provider is refused, 400 for a
// provision and 422 for an update that would switch to the pinned plan.
// The parameter won before, so a plan the catalogue lists at p2 was
// placed at p1.
func TestOSBProviderParameterKeepsThePlansPin(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}, {Name: "elsewhere", Cores: 1, Memory: 1, Provider: "p2"}})
	alice := identity("alice")
	code, body := r.do(http.MethodPut, "/v2/service_instances/i1?accepts_incomplete=true", alice, r.provisionBody("elsewhere", `{"provider":"p1"}`))
	if desc, _ := body["description"].(string); code != http.StatusBadRequest || !strings.Contains(desc, "p2") {
		t.Errorf("provision of a plan pinned to p2 at p1: %d %v, want 400 naming p2", code, body)
	}
	path := "/v2/service_instances/i2?accepts_incomplete=true"
	if code, body := r.do(http.MethodPut, path, alice, r.provisionBody("small", `{"provider":"p1"}`)); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if state, desc := r.wait("i2", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	sid, pid := r.ids("elsewhere")
	if code, body := r.do(http.MethodPatch, path, alice, `{"service_id":"`+sid+`","plan_id":"`+pid+`"}`); code != http.StatusUnprocessableEntity {
		t.Errorf("update of an instance pinned to p1 to a plan pinned to p2: %d %v, want 422", code, body)
	}
}

// TestOSBProvisionNeedsOrganizationAndSpace: organization_guid and
// space_guid are REQUIRED in a provision (OSB 2.17, "MUST be a non-empty
// string"), and a request missing mandatory data MUST get 400; it was
// accepted (202) and an instance made. The OSB checker tests exactly this.
func TestOSBProvisionNeedsOrganizationAndSpace(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	sid, pid := r.ids("small")
	for i, body := range []string{
		`{"service_id":"` + sid + `","plan_id":"` + pid + `","space_guid":"space"}`,
		`{"service_id":"` + sid + `","plan_id":"` + pid + `","organization_guid":"org"}`,
		`{"service_id":"` + sid + `","plan_id":"` + pid + `","organization_guid":"","space_guid":"space"}`,
	} {
		code, got := r.do(http.MethodPut, "/v2/service_instances/i1?accepts_incomplete=true", identity("alice"), body)
		if desc, _ := got["description"].(string); code != http.StatusBadRequest || !strings.Contains(desc, "organization_guid") {
			t.Errorf("provision %d %s: %d %v, want 400 naming organization_guid and space_guid", i, body, code, got)
		}
	}
	if code, got := r.do(http.MethodGet, "/v2/service_instances/i1/last_operation", identity("alice"), ""); code != http.StatusNotFound {
		t.Errorf("last_operation after the refused provisions: %d %v, want 404 (nothing recorded)", code, got)
	}
}

// TestOSBResentProvisionAfterAnUpdate: a provision re-sent with the
// instance's attributes after an update (here a lease renewal, which
// changes neither plan nor parameters) is the instance that exists: 200,
// as before the update (OSB: 409 is for a provision with other
// attributes). It was 409 once any operation had followed the provision.
// A re-send with the attributes the update replaced is 409.
func TestOSBResentProvisionAfterAnUpdate(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice := identity("alice")
	path := "/v2/service_instances/i1?accepts_incomplete=true"
	sid, _ := r.ids("small")
	body := r.provisionBody("small", `{"cores":1}`)
	if code, got := r.do(http.MethodPut, path, alice, body); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, got)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	if code, got := r.do(http.MethodPatch, path, alice, `{"service_id":"`+sid+`"}`); code != http.StatusAccepted {
		t.Fatalf("lease renewal: %d %v", code, got)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("lease renewal %s: %s", state, desc)
	}
	if code, got := r.do(http.MethodPut, path, alice, body); code != http.StatusOK {
		t.Errorf("identical provision after a lease renewal: %d %v, want 200", code, got)
	}
	if code, got := r.do(http.MethodPatch, path, alice, `{"service_id":"`+sid+`","parameters":{"cores":2}}`); code != http.StatusAccepted {
		t.Fatalf("resize: %d %v", code, got)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("resize %s: %s", state, desc)
	}
	if code, got := r.do(http.MethodPut, path, alice, body); code != http.StatusConflict {
		t.Errorf("provision with the parameters the resize replaced: %d %v, want 409", code, got)
	}
	if code, got := r.do(http.MethodPut, path, alice, r.provisionBody("small", `{"cores":2}`)); code != http.StatusOK {
		t.Errorf("provision with the instance's parameters after the resize: %d %v, want 200", code, got)
	}
}
