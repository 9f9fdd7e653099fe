package tests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	osb "github.com/pmorie/go-open-service-broker-client/v2"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestOSBExample: Caddyfile.example, run unchanged, serves the Open
// Service Broker API at https://<broker>/osb/ to the platform user
// "platform" (password "platform-secret"): the catalogue offers its plans
// on both sandbox clouds, a provision succeeds, the binding's credentials
// reach the machine through the job route over HTTPS, and a deprovision
// removes it from the cloud. Any other user is refused.
func TestOSBExample(t *testing.T) {
	caddyfile, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	broker := fmt.Sprintf("localhost:%d", harness.FreePort(t))
	cloudA := fmt.Sprintf("localhost:%d", harness.FreePort(t))
	cloudB := fmt.Sprintf("localhost:%d", harness.FreePort(t))
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	p := harness.Start(t, string(caddyfile), harness.Options{
		AdminEnv: "CSB_ADMIN",
		Env:      []string{"CSB_BROKER=" + broker, "CSB_CLOUD_A=" + cloudA, "CSB_CLOUD_B=" + cloudB},
		WorkDir:  root,
	})
	waitCatalogue(t, p, 60*time.Second)
	ca, err := os.ReadFile(filepath.Join(p.DataDir, "caddy", "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	newClient := func(user, pass string) osb.Client {
		c, err := osb.NewClient(&osb.ClientConfiguration{
			Name: "osb-example", URL: "https://" + broker + "/osb", APIVersion: osb.LatestAPIVersion(), TimeoutSeconds: 30, CAData: ca,
			AuthConfig: &osb.AuthConfig{BasicAuthConfig: &osb.BasicAuthConfig{Username: user, Password: pass}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := newClient("alice", "wonderland").GetCatalog(); osbStatus(err) != http.StatusUnauthorized {
		t.Errorf("catalogue as alice: %v, want 401", err)
	}
	c := newClient("platform", "platform-secret")
	resp, err := c.GetCatalog()
	if err != nil {
		t.Fatalf("catalogue: %v\n%s", err, p.Log())
	}
	var svc osb.Service
	var small osb.Plan
	for _, s := range resp.Services {
		if s.Name == "csb-iaas" {
			svc = s
			for _, pl := range s.Plans {
				if pl.Name == "small" {
					small = pl
				}
			}
		}
	}
	if small.ID == "" || fmt.Sprint(small.Metadata["providers"]) != "[cloud-a cloud-b]" {
		t.Fatalf("catalogue: plan small %+v", small)
	}

	const id = "0b5e3a52-6c0e-4d3a-8f0a-example00001"
	pr, err := c.ProvisionInstance(&osb.ProvisionRequest{InstanceID: id, AcceptsIncomplete: true, ServiceID: svc.ID, PlanID: small.ID,
		OrganizationGUID: "org", SpaceGUID: "space", OriginatingIdentity: osbUser("alice")})
	if err != nil || !pr.Async {
		t.Fatalf("provision: %v %+v\n%s", err, pr, p.Log())
	}
	waitOp := func(op *osb.OperationKey) *osb.LastOperationResponse {
		t.Helper()
		for deadline := osbDeadline(60); ; {
			lo, err := c.PollLastOperation(&osb.LastOperationRequest{InstanceID: id, OperationKey: op, OriginatingIdentity: osbUser("alice")})
			if err != nil {
				t.Fatalf("last_operation: %v", err)
			}
			if lo.State != osb.StateInProgress || deadline.passed() {
				return lo
			}
			deadline.pause()
		}
	}
	if lo := waitOp(pr.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("provision: %s %s\n%s", lo.State, deref(lo.Description), p.Log())
	}
	br, err := c.Bind(&osb.BindRequest{BindingID: "app-1", InstanceID: id, ServiceID: svc.ID, PlanID: small.ID, OriginatingIdentity: osbUser("alice")})
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	uri, _ := br.Credentials["uri"].(string)
	if !strings.HasPrefix(uri, "https://"+broker+"/csb/jobs/") || !strings.Contains(uri, "/machines/") {
		t.Fatalf("credentials %v", br.Credentials)
	}
	https := p.HTTPSClient()
	get := func(url, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := https.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	user, pass := br.Credentials["username"].(string), br.Credentials["password"].(string)
	if code := get(uri, user, pass); code != 200 {
		t.Fatalf("the app's GET through the job route: HTTP %d\n%s", code, p.Log())
	}
	machine := uri[strings.LastIndex(uri, "/")+1:]
	native := fmt.Sprintf("http://%s/cimi/machines/%s", cloudA, machine)
	if code, body := osbGet(t, native, "", ""); code != 200 {
		t.Fatalf("the machine at cloud-a: HTTP %d %s", code, body)
	}
	if _, err := c.Unbind(&osb.UnbindRequest{InstanceID: id, BindingID: "app-1", ServiceID: svc.ID, PlanID: small.ID, OriginatingIdentity: osbUser("alice")}); err != nil {
		t.Fatalf("unbind: %v", err)
	}
	if code := get(uri, user, pass); code != http.StatusUnauthorized {
		t.Errorf("after unbind: HTTP %d, want 401", code)
	}
	dr, err := c.DeprovisionInstance(&osb.DeprovisionRequest{InstanceID: id, AcceptsIncomplete: true, ServiceID: svc.ID, PlanID: small.ID, OriginatingIdentity: osbUser("alice")})
	if err != nil {
		t.Fatalf("deprovision: %v", err)
	}
	if lo := waitOp(dr.OperationKey); lo.State != osb.StateSucceeded {
		t.Fatalf("deprovision: %s %s", lo.State, deref(lo.Description))
	}
	if code, body := osbGet(t, native, "", ""); code != http.StatusNotFound {
		t.Errorf("the machine at cloud-a after deprovision: HTTP %d %s", code, body)
	}
}
