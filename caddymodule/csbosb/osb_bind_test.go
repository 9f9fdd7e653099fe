package csbosb

import (
	"context"
	"net/http"
	"testing"
)

// TestOSBBindingSemantics: a binding is 201, its identical re-send
// 200 with the same credentials, a re-send with other parameters 409;
// another end user of the platform reaches neither the instance nor the
// binding (403 for its unbind and deprovision, see
// TestOSBOtherUserCannotMakeThePlatformForget); unbind revokes the
// credential (410 when re-sent), and a deprovision revokes the rest.
func TestOSBBindingSemantics(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice, bob := identity("alice"), identity("bob")
	inst := "/v2/service_instances/i1"
	if code, body := r.do(http.MethodPut, inst+"?accepts_incomplete=true", alice, r.provisionBody("small", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	sid, pid := r.ids("small")
	bind := `{"service_id":"` + sid + `","plan_id":"` + pid + `","bind_resource":{"app_guid":"app"}}`
	code, first := r.do(http.MethodPut, inst+"/service_bindings/b1", alice, bind)
	if code != http.StatusCreated {
		t.Fatalf("bind: %d %v", code, first)
	}
	creds, _ := first["credentials"].(map[string]any)
	code, again := r.do(http.MethodPut, inst+"/service_bindings/b1", alice, bind)
	againCreds, _ := again["credentials"].(map[string]any)
	if code != http.StatusOK || againCreds["password"] != creds["password"] || againCreds["username"] != creds["username"] {
		t.Errorf("re-sent bind: %d %v, want 200 with the same credentials", code, again)
	}
	other := `{"service_id":"` + sid + `","plan_id":"` + pid + `","parameters":{"x":1}}`
	if code, body := r.do(http.MethodPut, inst+"/service_bindings/b1", alice, other); code != http.StatusConflict {
		t.Errorf("bind with other parameters: %d %v, want 409", code, body)
	}
	// Bob, another end user of the same platform.
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodGet, inst + "/last_operation", "", http.StatusNotFound},
		{http.MethodGet, inst, "", http.StatusNotFound},
		{http.MethodGet, inst + "/service_bindings/b1", "", http.StatusNotFound},
		{http.MethodPut, inst + "/service_bindings/b2", bind, http.StatusNotFound},
		{http.MethodDelete, inst + "/service_bindings/b1?service_id=" + sid + "&plan_id=" + pid, "", http.StatusForbidden},
		{http.MethodDelete, inst + "?accepts_incomplete=true&service_id=" + sid + "&plan_id=" + pid, "", http.StatusForbidden},
		{http.MethodPatch, inst + "?accepts_incomplete=true", `{"service_id":"` + sid + `","plan_id":"` + pid + `"}`, http.StatusNotFound},
		{http.MethodPut, inst + "?accepts_incomplete=true", r.provisionBody("small", ""), http.StatusConflict},
	} {
		if code, body := r.do(tc.method, tc.path, bob, tc.body); code != tc.want {
			t.Errorf("bob %s %s: %d %v, want %d", tc.method, tc.path, code, body, tc.want)
		}
	}
	user, _ := creds["username"].(string)
	if _, err := r.h.broker.rec.loadCredential(context.Background(), user); err != nil {
		t.Fatalf("credential %s: %v", user, err)
	}
	unbind := inst + "/service_bindings/b1?service_id=" + sid + "&plan_id=" + pid
	if code, body := r.do(http.MethodDelete, unbind, alice, ""); code != http.StatusOK {
		t.Fatalf("unbind: %d %v", code, body)
	}
	if _, err := r.h.broker.rec.loadCredential(context.Background(), user); err != errNoRecord {
		t.Errorf("credential after unbind: %v", err)
	}
	if code, body := r.do(http.MethodDelete, unbind, alice, ""); code != http.StatusGone {
		t.Errorf("re-sent unbind: %d %v, want 410", code, body)
	}
	code, b2 := r.do(http.MethodPut, inst+"/service_bindings/b2", alice, bind)
	if code != http.StatusCreated {
		t.Fatalf("bind b2: %d %v", code, b2)
	}
	user2, _ := b2["credentials"].(map[string]any)["username"].(string)
	if code, body := r.do(http.MethodDelete, inst+"?accepts_incomplete=true&service_id="+sid+"&plan_id="+pid, alice, ""); code != http.StatusAccepted {
		t.Fatalf("deprovision: %d %v", code, body)
	}
	if _, err := r.h.broker.rec.loadCredential(context.Background(), user2); err != errNoRecord {
		t.Errorf("credential after deprovision: %v", err)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("deprovision %s: %s", state, desc)
	}
}

// TestOSBBindingParametersCompared: a re-sent bind with the same binding
// id is compared by its parameters' meaning: "parameters": {} is the
// same as none (200, the same credentials), other parameters are 409
// (OSB: MUST, even though a new binding with them would be 400); GET of
// the binding answers its credentials.
func TestOSBBindingParametersCompared(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice := identity("alice")
	inst := "/v2/service_instances/i1"
	if code, body := r.do(http.MethodPut, inst+"?accepts_incomplete=true", alice, r.provisionBody("small", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	sid, pid := r.ids("small")
	bind := `{"service_id":"` + sid + `","plan_id":"` + pid + `"`
	code, first := r.do(http.MethodPut, inst+"/service_bindings/b1", alice, bind+`}`)
	if code != http.StatusCreated {
		t.Fatalf("bind: %d %v", code, first)
	}
	creds, _ := first["credentials"].(map[string]any)
	code, again := r.do(http.MethodPut, inst+"/service_bindings/b1", alice, bind+`,"parameters":{}}`)
	againCreds, _ := again["credentials"].(map[string]any)
	if code != http.StatusOK || againCreds["password"] != creds["password"] {
		t.Errorf("re-sent bind with empty parameters: %d %v, want 200 with the same credentials", code, again)
	}
	if code, body := r.do(http.MethodPut, inst+"/service_bindings/b1", alice, bind+`,"parameters":{"x":1}}`); code != http.StatusConflict {
		t.Errorf("re-sent bind with other parameters: %d %v, want 409", code, body)
	}
	if code, body := r.do(http.MethodPut, inst+"/service_bindings/b2", alice, bind+`,"parameters":{"x":1}}`); code != http.StatusBadRequest {
		t.Errorf("new bind with parameters: %d %v, want 400", code, body)
	}
	code, got := r.do(http.MethodGet, inst+"/service_bindings/b1", alice, "")
	gotCreds, _ := got["credentials"].(map[string]any)
	if code != http.StatusOK || gotCreds["password"] != creds["password"] || gotCreds["username"] != creds["username"] {
		t.Errorf("GET binding: %d %v, want 200 with the binding's credentials", code, got)
	}
	// The same for a provision re-sent with "parameters": {}.
	if code, body := r.do(http.MethodPut, inst+"?accepts_incomplete=true", alice, r.provisionBody("small", `{}`)); code != http.StatusOK {
		t.Errorf("re-sent provision with empty parameters: %d %v, want 200", code, body)
	}
}
