package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	osb "github.com/pmorie/go-open-service-broker-client/v2"
)

// Issue 20: the Open Service Broker API front-end (csb_osb), driven by an
// OSB client written elsewhere (pmorie/go-open-service-broker-client)
// against a real Caddy and the sandbox clouds.

// TestOSBLifecycle: the catalogue has one service per service model with
// the declared plans, each naming the providers that can serve it; a
// provision is asynchronous and polls to success; the binding's
// credentials reach the machine at the sandbox through the job route, and
// nothing else; unbind revokes them; an update resizes the machine at the
// sandbox; a deprovision removes it there; a second deprovision is 410.
func TestOSBLifecycle(t *testing.T) {
	s := osbStart(t)
	c := s.client("platform")
	cat := s.catalog(c)

	// Catalogue.
	for _, name := range []string{"csb-iaas", "csb-dsaas"} {
		sv, ok := cat.services[name]
		if !ok || !sv.Bindable || sv.ID == "" {
			t.Fatalf("catalogue: service %s missing or not bindable: %+v", name, cat.services)
		}
	}
	for plan, want := range map[string]string{"csb-iaas/small": "cloud-a cloud-b", "csb-iaas/large": "cloud-b", "csb-dsaas/bucket": "cloud-a"} {
		p, ok := cat.plans[plan]
		if !ok {
			t.Fatalf("catalogue: no plan %s", plan)
		}
		var got []string
		for _, v := range p.Metadata["providers"].([]any) {
			got = append(got, v.(string))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("plan %s: providers %v, want %s", plan, got, want)
		}
	}
	// Derived plans are off when plans are declared.
	if _, ok := cat.plans["csb-iaas/cloud-a-vm"]; ok {
		t.Errorf("a derived plan is listed beside declared ones")
	}

	// Async provision, polled to success.
	const id = "8a2bd5b8-0001-4c8e-9d1e-000000000001"
	pr, err := s.provision(c, cat, "alice", id, "csb-iaas/small", nil)
	if err != nil {
		t.Fatalf("provision: %v\n%s", err, s.broker.Log())
	}
	if !pr.Async || pr.OperationKey == nil || *pr.OperationKey == "" {
		t.Fatalf("provision answered %+v, want 202 with an operation", pr)
	}
	if lo := s.waitOp(c, "alice", id, pr.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("provision ended %s: %v", lo.State, deref(lo.Description))
	}
	code, inst := s.raw("platform", "GET", "/v2/service_instances/"+id, "2.17", "alice", "")
	attrs, _ := inst["metadata"].(map[string]any)["attributes"].(map[string]any)
	if code != 200 || inst["plan_id"] != cat.plans["csb-iaas/small"].ID || attrs["provider_id"] == nil {
		t.Fatalf("GET instance: %d %v", code, inst)
	}
	provider := attrs["provider_id"].(string)

	// Bind: the credentials reach the machine through the job route.
	br, err := c.Bind(&osb.BindRequest{BindingID: "b-1", InstanceID: id, ServiceID: cat.services["csb-iaas"].ID, PlanID: cat.plans["csb-iaas/small"].ID, OriginatingIdentity: osbUser("alice")})
	if err != nil {
		t.Fatalf("bind: %v\n%s", err, s.broker.Log())
	}
	uri, _ := br.Credentials["uri"].(string)
	user, _ := br.Credentials["username"].(string)
	pass, _ := br.Credentials["password"].(string)
	jobID, _ := br.Credentials["job_id"].(string)
	if !strings.HasPrefix(uri, s.base+"/csb/jobs/"+jobID+"/machines/") || user == "" || pass == "" {
		t.Fatalf("credentials %v", br.Credentials)
	}
	// The same bind again: 200 with the same credentials.
	again, err := c.Bind(&osb.BindRequest{BindingID: "b-1", InstanceID: id, ServiceID: cat.services["csb-iaas"].ID, PlanID: cat.plans["csb-iaas/small"].ID, OriginatingIdentity: osbUser("alice")})
	if err != nil || again.Credentials["username"] != user || again.Credentials["password"] != pass {
		t.Errorf("the same bind again: %v %v", err, again)
	}
	machine := uri[strings.LastIndex(uri, "/")+1:]
	code, body := osbGet(t, uri, user, pass)
	if code != 200 || !strings.Contains(body, machine) {
		t.Fatalf("the bound app's GET %s: HTTP %d %s\n%s", uri, code, body, s.broker.Log())
	}
	cloud := s.clouds[0]
	if provider == "cloud-b" {
		cloud = s.clouds[1]
	}
	if code, body := osbGet(t, cloud+"/cimi/machines/"+machine, "", ""); code != 200 || !strings.Contains(body, `"cpu": 2`) && !strings.Contains(body, `"cpu":2`) {
		t.Fatalf("the machine at the sandbox: HTTP %d %s", code, body)
	}
	// Wrong password, other job, Consumer interface, OSB API: refused.
	if code, _ := osbGet(t, uri, user, pass+"x"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: HTTP %d, want 401", code)
	}
	other := "8a2bd5b8-0001-4c8e-9d1e-000000000002"
	pr2, err := s.provision(c, cat, "alice", other, "csb-iaas/small", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.waitOp(c, "alice", other, pr2.OperationKey)
	br2, err := c.Bind(&osb.BindRequest{BindingID: "b-2", InstanceID: other, ServiceID: cat.services["csb-iaas"].ID, PlanID: cat.plans["csb-iaas/small"].ID, OriginatingIdentity: osbUser("alice")})
	if err != nil {
		t.Fatalf("bind of the second instance: %v", err)
	}
	otherURI, _ := br2.Credentials["uri"].(string)
	otherJob, _ := br2.Credentials["job_id"].(string)
	if otherJob == "" || otherJob == jobID {
		t.Fatalf("second binding: %v", br2.Credentials)
	}
	if code, _ := osbGet(t, otherURI, br2.Credentials["username"].(string), br2.Credentials["password"].(string)); code != 200 {
		t.Fatalf("the second binding's own credential: HTTP %d", code)
	}
	if code, body := osbGet(t, otherURI, user, pass); code != http.StatusNotFound {
		t.Errorf("binding credential on another job of the same owner: HTTP %d %s, want 404", code, body)
	}
	if code, body := osbGetAccept(t, s.base+"/csb/consumer/"+otherJob, user, pass, "application/csb-consumer+xml"); code != http.StatusForbidden {
		t.Errorf("binding credential on the Consumer interface: HTTP %d %s, want 403", code, body)
	}
	if code, _ := osbGet(t, s.base+"/osb/v2/catalog", user, pass); code != http.StatusUnauthorized {
		t.Errorf("binding credential on the OSB API: HTTP %d, want 401", code)
	}

	// Unbind revokes the credential at once.
	if _, err := c.Unbind(&osb.UnbindRequest{InstanceID: id, BindingID: "b-1", ServiceID: cat.services["csb-iaas"].ID, PlanID: cat.plans["csb-iaas/small"].ID, OriginatingIdentity: osbUser("alice")}); err != nil {
		t.Fatalf("unbind: %v", err)
	}
	if code, _ := osbGet(t, uri, user, pass); code != http.StatusUnauthorized {
		t.Errorf("after unbind: HTTP %d, want 401", code)
	}
	// (The client takes 410 as success, as OSB says platforms must.)
	if code, body := s.raw("platform", "DELETE", fmt.Sprintf("/v2/service_instances/%s/service_bindings/b-1?service_id=%s&plan_id=%s", id, cat.services["csb-iaas"].ID, cat.plans["csb-iaas/small"].ID), "2.17", "alice", ""); code != http.StatusGone {
		t.Errorf("second unbind: HTTP %d %v, want 410", code, body)
	}

	// Update: 4 cores, applied at the sandbox.
	ur, err := c.UpdateInstance(&osb.UpdateInstanceRequest{InstanceID: id, AcceptsIncomplete: true, ServiceID: cat.services["csb-iaas"].ID, Parameters: map[string]any{"cores": 4}, OriginatingIdentity: osbUser("alice")})
	if err != nil || !ur.Async {
		t.Fatalf("update: %v %+v", err, ur)
	}
	if lo := s.waitOp(c, "alice", id, ur.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("update ended %s: %v\n%s", lo.State, deref(lo.Description), s.broker.Log())
	}
	if code, body := osbGet(t, cloud+"/cimi/machines/"+machine, "", ""); code != 200 || !strings.Contains(body, `"cpu": 4`) && !strings.Contains(body, `"cpu":4`) {
		t.Fatalf("the machine at the sandbox after the update: HTTP %d %s", code, body)
	}

	// Deprovision: the machine is gone at the sandbox.
	dr, err := c.DeprovisionInstance(&osb.DeprovisionRequest{InstanceID: id, AcceptsIncomplete: true, ServiceID: cat.services["csb-iaas"].ID, PlanID: cat.plans["csb-iaas/small"].ID, OriginatingIdentity: osbUser("alice")})
	if err != nil || !dr.Async {
		t.Fatalf("deprovision: %v %+v", err, dr)
	}
	if lo := s.waitOp(c, "alice", id, dr.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("deprovision ended %s: %v", lo.State, deref(lo.Description))
	}
	if code, body := osbGet(t, cloud+"/cimi/machines/"+machine, "", ""); code != http.StatusNotFound {
		t.Fatalf("the machine at the sandbox after deprovision: HTTP %d %s", code, body)
	}
	if code, _ := s.raw("platform", "GET", "/v2/service_instances/"+id, "2.17", "alice", ""); code != http.StatusNotFound {
		t.Errorf("GET of the deprovisioned instance: HTTP %d, want 404", code)
	}
	if code, body := s.raw("platform", "DELETE", fmt.Sprintf("/v2/service_instances/%s?accepts_incomplete=true&service_id=%s&plan_id=%s", id, cat.services["csb-iaas"].ID, cat.plans["csb-iaas/small"].ID), "2.17", "alice", ""); code != http.StatusGone {
		t.Errorf("second deprovision: HTTP %d %v, want 410", code, body)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestOSBIdentity: an instance of one originating user is invisible to
// another user of the same platform and to the same user name on another
// platform: GET and last_operation answer 404, bind 404, update 404;
// deprovision is 403 for the other user of the platform (a 410 would make
// the platform forget a running instance) and 410 on the other platform.
// The platform itself (no header: polls, orphan mitigation) reads it; its
// owner still sees it.
func TestOSBIdentity(t *testing.T) {
	s := osbStart(t)
	c := s.client("platform")
	cat := s.catalog(c)
	const id = "8a2bd5b8-0002-4c8e-9d1e-000000000001"
	pr, err := s.provision(c, cat, "alice", id, "csb-iaas/small", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lo := s.waitOp(c, "alice", id, pr.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("provision: %s %s", lo.State, deref(lo.Description))
	}
	svc, plan := cat.services["csb-iaas"].ID, cat.plans["csb-iaas/small"].ID
	for _, tc := range []struct {
		platform, identity string
		deprovision        int
	}{{"platform", "bob", 403}, {"other-platform", "alice", 410}} {
		who := tc.platform + " as " + tc.identity
		if code, body := s.raw(tc.platform, "GET", "/v2/service_instances/"+id, "2.17", tc.identity, ""); code != 404 {
			t.Errorf("%s: GET instance %d %v, want 404", who, code, body)
		}
		if code, body := s.raw(tc.platform, "GET", "/v2/service_instances/"+id+"/last_operation", "2.17", tc.identity, ""); code != 404 {
			t.Errorf("%s: last_operation %d %v, want 404", who, code, body)
		}
		if code, body := s.raw(tc.platform, "PUT", "/v2/service_instances/"+id+"/service_bindings/b-x", "2.17", tc.identity, fmt.Sprintf(`{"service_id":%q,"plan_id":%q}`, svc, plan)); code != 404 {
			t.Errorf("%s: bind %d %v, want 404", who, code, body)
		}
		if code, body := s.raw(tc.platform, "PATCH", "/v2/service_instances/"+id+"?accepts_incomplete=true", "2.17", tc.identity, fmt.Sprintf(`{"service_id":%q,"parameters":{"cores":1}}`, svc)); code != 404 {
			t.Errorf("%s: update %d %v, want 404", who, code, body)
		}
		if code, body := s.raw(tc.platform, "DELETE", fmt.Sprintf("/v2/service_instances/%s?accepts_incomplete=true&service_id=%s&plan_id=%s", id, svc, plan), "2.17", tc.identity, ""); code != tc.deprovision {
			t.Errorf("%s: deprovision %d %v, want %d", who, code, body, tc.deprovision)
		}
	}
	for _, path := range []string{"/v2/service_instances/" + id, "/v2/service_instances/" + id + "/last_operation"} {
		if code, body := s.raw("platform", "GET", path, "2.17", "", ""); code != 200 {
			t.Errorf("the platform without an identity: GET %s %d %v, want 200", path, code, body)
		}
	}
	if code, body := s.raw("platform", "GET", "/v2/service_instances/"+id, "2.17", "alice", ""); code != 200 {
		t.Errorf("alice's own GET after the others tried: %d %v", code, body)
	}
}

// TestOSBErrors: OSB's error answers: 412 for a missing or wrong
// X-Broker-API-Version, 400 for an unknown plan and for bad parameters
// (with a description naming the parameter), 422 for a plan no provider
// can serve, AsyncRequired, ConcurrencyError and MaintenanceInfoConflict,
// 409 for a second provision of an id with other parameters (200 for the
// same), 410 for the deprovision of an unknown instance.
func TestOSBErrors(t *testing.T) {
	s := osbStart(t)
	c := s.client("platform")
	cat := s.catalog(c)
	svc, small := cat.services["csb-iaas"].ID, cat.plans["csb-iaas/small"].ID

	for _, v := range []string{"", "1.0", "3.0", "two"} {
		if code, body := s.raw("platform", "GET", "/v2/catalog", v, "", ""); code != http.StatusPreconditionFailed {
			t.Errorf("X-Broker-API-Version %q: HTTP %d %v, want 412", v, code, body)
		}
	}
	if code, _ := s.raw("platform", "GET", "/v2/catalog", "2.17", "", ""); code != 200 {
		t.Errorf("X-Broker-API-Version 2.17: HTTP %d", code)
	}

	_, err := c.ProvisionInstance(&osb.ProvisionRequest{InstanceID: "e-1", AcceptsIncomplete: true, ServiceID: svc, PlanID: "no-such-plan", OrganizationGUID: "o", SpaceGUID: "s", OriginatingIdentity: osbUser("alice")})
	if osbStatus(err) != http.StatusBadRequest {
		t.Errorf("unknown plan: %v, want 400", err)
	}
	for params, want := range map[string]string{
		`{"cores":"two"}`:        "cores",
		`{"cores":0}`:            "cores",
		`{"memory":1.5}`:         "memory",
		`{"colour":"blue"}`:      "colour",
		`{"lease":"-1h"}`:        "lease",
		`{"provider":"cloud-z"}`: "cloud-z",
		`[1,2]`:                  "JSON object",
	} {
		code, body := s.raw("platform", "PUT", "/v2/service_instances/e-2?accepts_incomplete=true", "2.17", "alice",
			fmt.Sprintf(`{"service_id":%q,"plan_id":%q,"organization_guid":"o","space_guid":"s","parameters":%s}`, svc, small, params))
		desc, _ := body["description"].(string)
		if code != http.StatusBadRequest || !strings.Contains(desc, want) {
			t.Errorf("parameters %s: HTTP %d %v, want 400 naming %s", params, code, body, want)
		}
	}
	// More than any provider has: 422 with the placement's reason.
	code, body := s.raw("platform", "PUT", "/v2/service_instances/e-3?accepts_incomplete=true", "2.17", "alice",
		fmt.Sprintf(`{"service_id":%q,"plan_id":%q,"organization_guid":"o","space_guid":"s","parameters":{"cores":1000}}`, svc, small))
	if desc, _ := body["description"].(string); code != http.StatusUnprocessableEntity || !strings.Contains(desc, "no provider") {
		t.Errorf("1000 cores: HTTP %d %v, want 422", code, body)
	}
	// AsyncRequired.
	code, body = s.raw("platform", "PUT", "/v2/service_instances/e-4", "2.17", "alice",
		fmt.Sprintf(`{"service_id":%q,"plan_id":%q,"organization_guid":"o","space_guid":"s"}`, svc, small))
	if code != http.StatusUnprocessableEntity || body["error"] != "AsyncRequired" {
		t.Errorf("without accepts_incomplete: HTTP %d %v, want 422 AsyncRequired", code, body)
	}
	// AsyncRequired for update and deprovision too (the instance need not
	// exist: the check comes first).
	code, body = s.raw("platform", "PATCH", "/v2/service_instances/e-4", "2.17", "alice", fmt.Sprintf(`{"service_id":%q}`, svc))
	if code != http.StatusUnprocessableEntity || body["error"] != "AsyncRequired" {
		t.Errorf("update without accepts_incomplete: HTTP %d %v, want 422 AsyncRequired", code, body)
	}
	code, body = s.raw("platform", "DELETE", fmt.Sprintf("/v2/service_instances/e-4?service_id=%s&plan_id=%s", svc, small), "2.17", "alice", "")
	if code != http.StatusUnprocessableEntity || body["error"] != "AsyncRequired" {
		t.Errorf("deprovision without accepts_incomplete: HTTP %d %v, want 422 AsyncRequired", code, body)
	}
	// MaintenanceInfoConflict.
	code, body = s.raw("platform", "PUT", "/v2/service_instances/e-5?accepts_incomplete=true", "2.17", "alice",
		fmt.Sprintf(`{"service_id":%q,"plan_id":%q,"organization_guid":"o","space_guid":"s","maintenance_info":{"version":"9.9.9"}}`, svc, small))
	if code != http.StatusUnprocessableEntity || body["error"] != "MaintenanceInfoConflict" {
		t.Errorf("foreign maintenance_info: HTTP %d %v, want 422 MaintenanceInfoConflict", code, body)
	}

	// 409, 200, ConcurrencyError: a large instance goes to cloud-b, which
	// takes 1.5 s to build, so it is still in progress here.
	const id = "8a2bd5b8-0003-4c8e-9d1e-000000000001"
	pr, err := s.provision(c, cat, "alice", id, "csb-iaas/large", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.provision(c, cat, "alice", id, "csb-iaas/large", map[string]any{"cores": 16}); osbStatus(err) != http.StatusConflict {
		t.Errorf("same id, other parameters: %v, want 409", err)
	}
	if _, err := s.provision(c, cat, "alice", id, "csb-iaas/small", nil); osbStatus(err) != http.StatusConflict {
		t.Errorf("same id, other plan: %v, want 409", err)
	}
	if again, err := s.provision(c, cat, "alice", id, "csb-iaas/large", nil); err != nil || !again.Async || deref((*string)(again.OperationKey)) != deref((*string)(pr.OperationKey)) {
		t.Errorf("same id, same request while in progress: %v %+v, want 202 with the same operation", err, again)
	}
	code, body = s.raw("platform", "PATCH", "/v2/service_instances/"+id+"?accepts_incomplete=true", "2.17", "alice", fmt.Sprintf(`{"service_id":%q,"parameters":{"cores":40}}`, svc))
	if code != http.StatusUnprocessableEntity || body["error"] != "ConcurrencyError" {
		t.Errorf("update during provisioning: HTTP %d %v, want 422 ConcurrencyError", code, body)
	}
	if code, body := s.raw("platform", "GET", "/v2/service_instances/"+id, "2.17", "alice", ""); code != http.StatusNotFound {
		t.Errorf("GET during provisioning: HTTP %d %v, want 404", code, body)
	}
	if lo := s.waitOp(c, "alice", id, pr.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("provision: %s %s", lo.State, deref(lo.Description))
	}
	if _, err := s.provision(c, cat, "alice", id, "csb-iaas/large", nil); err != nil {
		t.Errorf("same id, same request after success: %v, want 200", err)
	}

	// 410 for an unknown instance.
	if code, body := s.raw("platform", "DELETE", fmt.Sprintf("/v2/service_instances/never-made?accepts_incomplete=true&service_id=%s&plan_id=%s", svc, small), "2.17", "alice", ""); code != http.StatusGone {
		t.Errorf("deprovision of an unknown instance: HTTP %d %v, want 410", code, body)
	}
}

// TestOSBLeaseReclaimed: an instance of a plan with a 2 s lease is
// reclaimed by the broker's reaper when the lease ends; last_operation
// then shows it failed and GET of the instance 404, both saying why.
func TestOSBLeaseReclaimed(t *testing.T) {
	s := osbStart(t)
	c := s.client("platform")
	cat := s.catalog(c)
	const id = "8a2bd5b8-0004-4c8e-9d1e-000000000001"
	pr, err := s.provision(c, cat, "alice", id, "csb-iaas/brief", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lo := s.waitOp(c, "alice", id, pr.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("provision: %s %s", lo.State, deref(lo.Description))
	}
	// Poll until the reaper has reclaimed it.
	var lo *osb.LastOperationResponse
	for deadline := osbDeadline(20); ; {
		lo, err = c.PollLastOperation(&osb.LastOperationRequest{InstanceID: id, OriginatingIdentity: osbUser("alice")})
		if err != nil {
			t.Fatal(err)
		}
		if lo.State != osb.StateSucceeded || deadline.passed() {
			break
		}
		deadline.pause()
	}
	if lo.State != osb.StateFailed || !strings.Contains(deref(lo.Description), "lease ended") {
		t.Fatalf("last_operation after the lease: %s %q, want failed saying the lease ended", lo.State, deref(lo.Description))
	}
	code, body := s.raw("platform", "GET", "/v2/service_instances/"+id, "2.17", "alice", "")
	if desc, _ := body["description"].(string); code != 404 || !strings.Contains(desc, "lease ended") {
		t.Errorf("GET after the lease: HTTP %d %v, want 404 saying the lease ended", code, body)
	}
}

// TestOSBUpdatePlan: an update may change the plan within the service
// model: to a plan the instance's provider cannot serve it fails (the
// instance stays as it was and usable), to one it can serve the machine
// is resized at the sandbox and the instance shows the new plan.
func TestOSBUpdatePlan(t *testing.T) {
	s := osbStart(t)
	c := s.client("platform")
	cat := s.catalog(c)
	const id = "8a2bd5b8-0008-4c8e-9d1e-000000000001"
	pr, err := s.provision(c, cat, "alice", id, "csb-iaas/small", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lo := s.waitOp(c, "alice", id, pr.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("provision: %s %s", lo.State, deref(lo.Description))
	}
	code, inst := s.raw("platform", "GET", "/v2/service_instances/"+id, "2.17", "alice", "")
	if code != 200 || inst["metadata"].(map[string]any)["attributes"].(map[string]any)["provider_id"] != "cloud-a" {
		t.Fatalf("GET: %d %v, want the instance at cloud-a (policy first)", code, inst)
	}
	update := func(plan string) *osb.LastOperationResponse {
		t.Helper()
		pid := cat.plans[plan].ID
		ur, err := c.UpdateInstance(&osb.UpdateInstanceRequest{InstanceID: id, AcceptsIncomplete: true, ServiceID: cat.services["csb-iaas"].ID, PlanID: &pid, OriginatingIdentity: osbUser("alice")})
		if err != nil || !ur.Async {
			t.Fatalf("update to %s: %v %+v", plan, err, ur)
		}
		return s.waitOp(c, "alice", id, ur.OperationKey)
	}
	if lo := update("csb-iaas/large"); lo.State != osb.StateFailed || !strings.Contains(deref(lo.Description), "cloud-a") {
		t.Errorf("update to large at cloud-a (8 cores): %s %q, want failed naming cloud-a", lo.State, deref(lo.Description))
	}
	code, inst = s.raw("platform", "GET", "/v2/service_instances/"+id, "2.17", "alice", "")
	if code != 200 || inst["plan_id"] != cat.plans["csb-iaas/small"].ID {
		t.Errorf("GET after the failed update: %d %v, want plan small", code, inst)
	}
	if lo := update("csb-iaas/brief"); lo.State != osb.StateSucceeded {
		t.Fatalf("update to brief: %s %s", lo.State, deref(lo.Description))
	}
	code, inst = s.raw("platform", "GET", "/v2/service_instances/"+id, "2.17", "alice", "")
	if code != 200 || inst["plan_id"] != cat.plans["csb-iaas/brief"].ID {
		t.Errorf("GET after the update to brief: %d %v", code, inst)
	}
	br, err := c.Bind(&osb.BindRequest{BindingID: "b-p", InstanceID: id, ServiceID: cat.services["csb-iaas"].ID, PlanID: cat.plans["csb-iaas/brief"].ID, OriginatingIdentity: osbUser("alice")})
	if err != nil {
		t.Fatal(err)
	}
	uri := br.Credentials["uri"].(string)
	if code, body := osbGet(t, s.clouds[0]+"/cimi/machines/"+uri[strings.LastIndex(uri, "/")+1:], "", ""); code != 200 || !strings.Contains(body, `"cpu":1,`) {
		t.Errorf("the machine after the update to brief: HTTP %d %s, want 1 cpu", code, body)
	}
}
