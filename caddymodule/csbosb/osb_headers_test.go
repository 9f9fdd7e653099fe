package csbosb

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// send sends an OSB request as the platform user "platform" with exactly
// the headers given (no X-Broker-API-Version unless hdr names it) and
// returns the recorded answer.
func (r *osbRig) send(method, path string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://broker.test"+path, rd)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	repl := caddy.NewReplacer()
	repl.Set("http.auth.user.id", "platform")
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	if err := r.h.ServeHTTP(w, req, nil); err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	return w
}

// osbError decodes an OSB error body.
func osbError(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	out := map[string]any{}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Errorf("error body %q is not a JSON object: %v", w.Body.String(), err)
	}
	return out
}

// TestOSBHeaderErrors: a missing or unsupported X-Broker-API-Version is
// 412 and a malformed X-Broker-API-Originating-Identity 400, each with
// the OSB error body ({"description": ...}, lower case, as every other
// OSB error; brokerapi's own 412 wrote "Description") and the request's
// X-Broker-API-Request-Identity echoed; the version is checked first.
func TestOSBHeaderErrors(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	const rid = "4d1f6a0e-request"
	for _, tc := range []struct {
		hdr  map[string]string
		code int
		desc string
	}{
		{map[string]string{"X-Broker-API-Request-Identity": rid}, http.StatusPreconditionFailed, "X-Broker-API-Version Header not set"},
		{map[string]string{"X-Broker-API-Version": "3.0", "X-Broker-API-Request-Identity": rid}, http.StatusPreconditionFailed, "must be 2.x"},
		{map[string]string{"X-Broker-API-Version": "two", "X-Broker-API-Request-Identity": rid}, http.StatusPreconditionFailed, "must contain a version"},
		{map[string]string{"X-Broker-API-Version": "2.17", originatingHeader: "cloudfoundry !!!", "X-Broker-API-Request-Identity": rid}, http.StatusBadRequest, originatingHeader},
		{map[string]string{originatingHeader: "cloudfoundry !!!", "X-Broker-API-Request-Identity": rid}, http.StatusPreconditionFailed, "X-Broker-API-Version Header not set"},
	} {
		w := r.send(http.MethodGet, "/v2/catalog", tc.hdr, "")
		body := osbError(t, w)
		desc, _ := body["description"].(string)
		if w.Code != tc.code || !strings.Contains(desc, tc.desc) {
			t.Errorf("%v: %d %s, want %d with a description saying %q", tc.hdr, w.Code, w.Body.String(), tc.code, tc.desc)
		}
		if got := w.Header().Get("X-Broker-API-Request-Identity"); got != rid {
			t.Errorf("%v: X-Broker-API-Request-Identity %q, want %q echoed", tc.hdr, got, rid)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%v: Content-Type %q", tc.hdr, ct)
		}
	}
}

// TestOSBMalformedBodyIs400: a provision, update or bind whose body is
// not JSON, or not the request's object (a field of the wrong type), is
// malformed: OSB says 400 Bad Request MUST be returned (brokerapi
// answered 422, the status of a request the broker understood but cannot
// do), with a description.
func TestOSBMalformedBodyIs400(t *testing.T) {
	r := startOSBRig(t, []Plan{{Name: "small", Cores: 1, Memory: 1}})
	alice := identity("alice")
	if code, body := r.do(http.MethodPut, "/v2/service_instances/i1?accepts_incomplete=true", alice, r.provisionBody("small", "")); code != http.StatusAccepted {
		t.Fatalf("provision: %d %v", code, body)
	}
	if state, desc := r.wait("i1", alice); state != "succeeded" {
		t.Fatalf("provision %s: %s", state, desc)
	}
	hdr := map[string]string{"X-Broker-API-Version": "2.17", originatingHeader: alice, "Content-Type": "application/json"}
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", `{`},
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", ``},
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", `[1]`},
		{http.MethodPut, "/v2/service_instances/i2?accepts_incomplete=true", `{"service_id":5,"plan_id":"x"}`},
		{http.MethodPatch, "/v2/service_instances/i1?accepts_incomplete=true", `not json`},
		{http.MethodPatch, "/v2/service_instances/i1?accepts_incomplete=true", `{"service_id":[]}`},
		{http.MethodPut, "/v2/service_instances/i1/service_bindings/b1", `{"service_id":`},
		{http.MethodPut, "/v2/service_instances/i1/service_bindings/b1", `{"bind_resource":"app"}`},
	} {
		w := r.send(tc.method, tc.path, hdr, tc.body)
		desc, _ := osbError(t, w)["description"].(string)
		if w.Code != http.StatusBadRequest || desc == "" {
			t.Errorf("%s %s %q: %d %s, want 400 with a description", tc.method, tc.path, tc.body, w.Code, w.Body.String())
		}
	}
	// A well-formed request still passes, its body intact.
	sid, pid := r.ids("small")
	w := r.send(http.MethodPut, "/v2/service_instances/i1/service_bindings/b1", hdr, `{"service_id":"`+sid+`","plan_id":"`+pid+`"}`)
	if w.Code != http.StatusCreated {
		t.Errorf("bind: %d %s", w.Code, w.Body.String())
	}
}
