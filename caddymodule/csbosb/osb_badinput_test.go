package csbosb

import (
	"net/http"
	"testing"
)

// TestOSBBadInput: malformed or invalid requests get a 4xx OSB
// answer, never a 500.
func TestOSBBadInput(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}, {Name: "bucket", Kind: "dsaas"}})
	alice := identity("alice")
	inst := "/v2/service_instances/i1"
	if code, body := r.do(http.MethodPut, inst+"?accepts_incomplete=true", alice, r.provisionBody("small", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	sid, pid := r.ids("small")
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", r.provisionBody("small", `[]`)},
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", r.provisionBody("small", `"x"`)},
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", r.provisionBody("small", `{"cores":1e40}`)},
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", r.provisionBody("small", `{"provider":"nowhere"}`)},
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", `{"service_id":"` + sid + `","plan_id":"nope"}`},
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", `{"service_id":"nope","plan_id":"` + pid + `"}`},
		{http.MethodPut, "/v2/service_instances/i2", r.provisionBody("small", "")},
		{http.MethodPatch, inst + "?accepts_incomplete=true", `{"service_id":"` + sid + `","parameters":"x"}`},
		{http.MethodPatch, inst + "?accepts_incomplete=true", `{"service_id":"` + sid + `","parameters":[1]}`},
		{http.MethodPatch, inst + "?accepts_incomplete=true", `{"service_id":"` + sid + `","parameters":{"cores":0}}`},
		{http.MethodPatch, inst + "?accepts_incomplete=true", `{"service_id":"` + sid + `","parameters":{"provider":"nowhere"}}`},
		{http.MethodPatch, inst + "?accepts_incomplete=true", `{"service_id":"` + sid + `","plan_id":"nope"}`},
		{http.MethodPatch, "/v2/service_instances/nope?accepts_incomplete=true", `{"service_id":"` + sid + `"}`},
		{http.MethodPatch, inst + "?accepts_incomplete=true", `{"service_id":"` + sid + `","maintenance_info":{"version":"9.9.9"}}`},
		{http.MethodPut, inst + "/service_bindings/b1", `{"service_id":"nope","plan_id":"` + pid + `"}`},
		{http.MethodPut, inst + "/service_bindings/b1", `{"service_id":"` + sid + `","plan_id":"` + pid + `","parameters":[1]}`},
		{http.MethodPut, "/v2/service_instances/nope/service_bindings/b1", `{"service_id":"` + sid + `","plan_id":"` + pid + `"}`},
		{http.MethodGet, "/v2/service_instances/nope/last_operation", ""},
		{http.MethodGet, "/v2/service_instances/nope", ""},
		{http.MethodGet, inst + "/service_bindings/nope", ""},
		{http.MethodGet, inst + "/service_bindings/nope/last_operation", ""},
		{http.MethodDelete, "/v2/service_instances/nope?accepts_incomplete=true&service_id=" + sid + "&plan_id=" + pid, ""},
		{http.MethodDelete, inst + "/service_bindings/nope?service_id=" + sid + "&plan_id=" + pid, ""},
	} {
		code, body := r.do(tc.method, tc.path, alice, tc.body)
		t.Logf("%s %s %s: %d %v", tc.method, tc.path, tc.body, code, body)
		if code/100 != 4 {
			t.Errorf("%s %s %s: %d %v, want a 4xx", tc.method, tc.path, tc.body, code, body)
		}
	}
}
