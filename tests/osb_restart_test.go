package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	osb "github.com/pmorie/go-open-service-broker-client/v2"
)

// TestOSBRestart: instances and bindings live in Caddy's storage. A
// provision interrupted by a restart (cloud-b takes 1.5 s to build) is
// resumed by the next poll and finds the job its first attempt made (one
// machine at the cloud, not two); a binding made before a restart still
// works after it, and its unbind after the restart revokes it.
func TestOSBRestart(t *testing.T) {
	s := osbStart(t)
	c := s.client("platform")
	cat := s.catalog(c)
	const small, large = "8a2bd5b8-0005-4c8e-9d1e-000000000001", "8a2bd5b8-0005-4c8e-9d1e-000000000002"
	pr, err := s.provision(c, cat, "alice", small, "csb-iaas/small", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.waitOp(c, "alice", small, pr.OperationKey)
	br, err := c.Bind(&osb.BindRequest{BindingID: "b-r", InstanceID: small, ServiceID: cat.services["csb-iaas"].ID, PlanID: cat.plans["csb-iaas/small"].ID, OriginatingIdentity: osbUser("alice")})
	if err != nil {
		t.Fatal(err)
	}
	uri, user, pass := br.Credentials["uri"].(string), br.Credentials["username"].(string), br.Credentials["password"].(string)

	before := osbMachines(t, s.clouds[1])
	prLarge, err := s.provision(c, cat, "alice", large, "csb-iaas/large", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.broker.Restart()

	if lo := s.waitOp(c, "alice", large, prLarge.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("the interrupted provision: %s %s\n%s", lo.State, deref(lo.Description), s.broker.Log())
	}
	if after := osbMachines(t, s.clouds[1]); after != before+1 {
		t.Errorf("machines at cloud-b: %d before, %d after the resumed provision, want one more", before, after)
	}
	if code, inst := s.raw("platform", "GET", "/v2/service_instances/"+large, "2.17", "alice", ""); code != 200 {
		t.Errorf("GET of the resumed instance: %d %v", code, inst)
	}
	if code, body := osbGet(t, uri, user, pass); code != 200 {
		t.Fatalf("the binding after the restart: HTTP %d %s", code, body)
	}
	if _, err := c.Unbind(&osb.UnbindRequest{InstanceID: small, BindingID: "b-r", ServiceID: cat.services["csb-iaas"].ID, PlanID: cat.plans["csb-iaas/small"].ID, OriginatingIdentity: osbUser("alice")}); err != nil {
		t.Fatal(err)
	}
	if code, _ := osbGet(t, uri, user, pass); code != http.StatusUnauthorized {
		t.Errorf("after unbind: HTTP %d, want 401", code)
	}
}

// osbMachines counts the machines a sandbox cloud holds.
func osbMachines(t *testing.T, cloud string) int {
	t.Helper()
	code, body := osbGet(t, cloud+"/cimi/machines", "", "")
	if code != 200 {
		t.Fatalf("machines of %s: HTTP %d %s", cloud, code, body)
	}
	return strings.Count(body, `"resourceURI":"http://schemas.dmtf.org/cimi/1/Machine"`)
}

// TestOSBDerivedPlans: without declared plans, the catalogue has one plan
// per published offer, pinned to its provider; a provision of cloud-b's
// plan lands at cloud-b whatever the policy would choose, sized by the
// parameters.
func TestOSBDerivedPlans(t *testing.T) {
	s := osbStartWith(t, "csb_osb")
	c := s.client("platform")
	cat := s.catalog(c)
	var names []string
	for n := range cat.plans {
		names = append(names, n)
	}
	for _, want := range []string{"csb-iaas/cloud-a-vm", "csb-iaas/cloud-b-vm", "csb-dsaas/cloud-a-objects"} {
		if _, ok := cat.plans[want]; !ok {
			t.Fatalf("no derived plan %s among %v", want, names)
		}
	}
	if got := fmt.Sprint(cat.plans["csb-iaas/cloud-b-vm"].Metadata["providers"]); got != "[cloud-b]" {
		t.Errorf("cloud-b-vm providers %s", got)
	}
	const id = "8a2bd5b8-0006-4c8e-9d1e-000000000001"
	pr, err := s.provision(c, cat, "alice", id, "csb-iaas/cloud-b-vm", map[string]any{"cores": 3})
	if err != nil {
		t.Fatal(err)
	}
	if lo := s.waitOp(c, "alice", id, pr.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("provision: %s %s", lo.State, deref(lo.Description))
	}
	code, inst := s.raw("platform", "GET", "/v2/service_instances/"+id, "2.17", "alice", "")
	if attrs, _ := inst["metadata"].(map[string]any)["attributes"].(map[string]any); code != 200 || attrs["provider_id"] != "cloud-b" {
		t.Errorf("GET: %d %v, want the instance at cloud-b", code, inst)
	}
	// The pinned provider cannot be overridden by another, known or not.
	if _, err := s.provision(c, cat, "alice", "8a2bd5b8-0006-4c8e-9d1e-000000000002", "csb-iaas/cloud-b-vm", map[string]any{"provider": "nowhere"}); osbStatus(err) != http.StatusBadRequest {
		t.Errorf("unknown provider: %v, want 400", err)
	}
	before := osbMachines(t, s.clouds[0])
	if _, err := s.provision(c, cat, "alice", "8a2bd5b8-0006-4c8e-9d1e-000000000003", "csb-iaas/cloud-b-vm", map[string]any{"provider": "cloud-a"}); osbStatus(err) != http.StatusBadRequest {
		t.Errorf("cloud-b's plan asked at cloud-a: %v, want 400", err)
	}
	if n := osbMachines(t, s.clouds[0]); n != before {
		t.Errorf("cloud-a holds %d machines after the refused provision, %d before", n, before)
	}
}

// TestOSBCluster: two brokers share their storage. A broker killed while
// a provision's job is being built at cloud-b leaves the instance to the
// other: its last_operation resumes the provision with the same
// idempotency key, so the job the first broker made is found (one
// machine at the cloud, not two), and the instance and its bindings work
// through the second broker.
func TestOSBCluster(t *testing.T) {
	s := osbStartBuild(t, osbPlans, "5s")
	base2, _ := s.second()
	c := s.client("platform")
	cat := s.catalog(c)
	s2 := *s
	s2.base = base2
	c2 := s2.client("platform")

	const id = "8a2bd5b8-0007-4c8e-9d1e-000000000001"
	before := osbMachines(t, s.clouds[1])
	pr, err := s.provision(c, cat, "alice", id, "csb-iaas/large", nil)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := osbDeadline(20); osbMachines(t, s.clouds[1]) == before; deadline.pause() {
		if deadline.passed() {
			t.Fatalf("no machine is being built at cloud-b\n%s", s.broker.Log())
		}
	}
	s.broker.Kill()

	if lo := s2.waitOpFor(c2, "alice", id, pr.OperationKey, 60); lo.State != osb.StateSucceeded {
		t.Fatalf("the provision resumed by the second broker: %s %s", lo.State, deref(lo.Description))
	}
	if after := osbMachines(t, s.clouds[1]); after != before+1 {
		t.Errorf("machines at cloud-b: %d before, %d after, want one more", before, after)
	}
	br, err := c2.Bind(&osb.BindRequest{BindingID: "b-c", InstanceID: id, ServiceID: cat.services["csb-iaas"].ID, PlanID: cat.plans["csb-iaas/large"].ID, OriginatingIdentity: osbUser("alice")})
	if err != nil {
		t.Fatal(err)
	}
	uri := br.Credentials["uri"].(string)
	if !strings.HasPrefix(uri, base2+"/csb/jobs/") {
		t.Fatalf("credentials %v", br.Credentials)
	}
	if code, body := osbGet(t, uri, br.Credentials["username"].(string), br.Credentials["password"].(string)); code != 200 {
		t.Fatalf("the binding through the second broker: HTTP %d %s", code, body)
	}
}
