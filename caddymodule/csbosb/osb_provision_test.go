package csbosb

import (
	"net/http"
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
