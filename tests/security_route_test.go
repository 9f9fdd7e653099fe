package tests

import (
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Issue 15, item 1: a job's route reaches that job's resource and nothing
// beside or above it. Each test runs a real broker and, in a Caddy process
// of its own, the sandbox cloud; alice and bob each hold a job, and alice
// tries to reach bob's through her own route.

// TestSecurityRouteCIMIMachines: through alice's IaaS job route (CIMI),
// the machines collection cannot be listed, and bob's machine can be
// neither read nor deleted, however the path is spelled; alice still
// reads her own machine; bob's machine is still at the cloud afterwards.
func TestSecurityRouteCIMIMachines(t *testing.T) {
	s := secRouteStart(t)
	vm := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: str("x86_64"), Cores: u64(1), Memory: u64(1)}}}
	aliceJob, aliceURI := s.job("alice", vm)
	_, bobURI := s.job("bob", vm)
	aliceM, bobM := path.Base(secRoutePath(t, aliceURI)), path.Base(secRoutePath(t, bobURI))
	if !strings.Contains(bobURI, "/cimi/machines/") || aliceM == bobM {
		t.Fatalf("machines %s and %s", aliceURI, bobURI)
	}
	route := "/csb/jobs/" + aliceJob

	// The route works: alice reads her machine.
	code, body := s.route("alice", "GET", route+"/machines/"+aliceM, "", "")
	if code != 200 || !strings.Contains(body, `"/machines/`+aliceM) && !strings.Contains(body, "machines/"+aliceM+`"`) {
		t.Fatalf("alice's own machine through her route: HTTP %d %s\n%s", code, body, s.broker.Log())
	}

	for _, tc := range []struct {
		method, path string
		status       int // 0: 403 or 404
	}{
		{"GET", "/machines", 404},
		{"GET", "/machines/", 404},
		{"GET", "/", 404},
		{"GET", "/machines/" + bobM, 404},
		{"DELETE", "/machines/" + bobM, 404},
		{"GET", "/machines/" + aliceM + "/../" + bobM, 404},
		{"GET", "/machines/" + aliceM + "/%2e%2e/" + bobM, 404},
		{"DELETE", "/machines/" + aliceM + "/%2E./" + bobM, 404},
		{"GET", "/machines/" + aliceM + "/..%2f" + bobM, 403},
		{"DELETE", "/machines/" + aliceM + "%2f..%2f" + bobM, 403},
		{"GET", "/machines/" + aliceM + "/%2e%2e/%2e%2e/machines", 404},
		{"GET", "/%2e%2e/cimi/machines", 403},
		{"GET", "/machines/" + aliceM + "/..\\" + bobM, 403},
		{"GET", "/machines/" + aliceM + "?$expand=volumes", 403},
		{"DELETE", "/machines/" + aliceM, 403},
	} {
		code, body := s.route("alice", tc.method, route+tc.path, "", "")
		secRouteRefused(t, tc.method+" "+tc.path, tc.status, code, body, `"machines"`, `"resourceURI"`)
	}

	// A header naming another method cannot turn an allowed GET into a
	// DELETE at a server that honours it.
	code, body = s.routeWith("alice", "GET", route+"/machines/"+aliceM, map[string]string{"X-HTTP-Method-Override": "DELETE"})
	secRouteRefused(t, "GET with X-HTTP-Method-Override", 403, code, body)

	// bob's machine is still there, and alice's too.
	for _, m := range []string{bobM, aliceM} {
		if code, body := s.native("GET", "/cimi/machines/"+m, "application/json"); code != 200 {
			t.Fatalf("machine %s at the sandbox after the attempts: HTTP %d %s", m, code, body)
		}
	}
}

// TestSecurityRouteCDMIObjects: through alice's DSaaS job route (CDMI),
// the root cannot be listed and bob's object can be neither read nor
// written nor copied, however the path is spelled; alice still reads and
// writes her own objects; bob's object is unchanged at the cloud.
func TestSecurityRouteCDMIObjects(t *testing.T) {
	s := secRouteStart(t)
	ds := func(value string) *csbmsg.ServiceRequest {
		return &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
			ContainerObject: &csbmsg.ContainerObject{},
			DataObject:      &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: str("hello.txt")}, Mimetype: str("text/plain"), Value: str(value)},
		}}
	}
	aliceJob, aliceURI := s.job("alice", ds("alice's words"))
	_, bobURI := s.job("bob", ds("bob's words"))
	aliceC, bobC := path.Base(secRoutePath(t, aliceURI)), path.Base(secRoutePath(t, bobURI))
	if !strings.Contains(bobURI, "/cdmi/") || aliceC == bobC {
		t.Fatalf("containers %s and %s", aliceURI, bobURI)
	}
	route := "/csb/jobs/" + aliceJob
	const obj = "application/cdmi-object"

	// The route works: alice reads her object, writes a new one and
	// lists her container.
	code, body := s.route("alice", "GET", route+"/"+aliceC+"/hello.txt", "", "")
	if code != 200 || !strings.Contains(body, "alice's words") {
		t.Fatalf("alice's own object through her route: HTTP %d %s\n%s", code, body, s.broker.Log())
	}
	if code, body := s.route("alice", "PUT", route+"/"+aliceC+"/notes.txt", obj, `{"mimetype":"text/plain","value":"mine"}`); code != 201 {
		t.Fatalf("alice writes in her container: HTTP %d %s", code, body)
	}
	if code, body := s.route("alice", "GET", route+"/"+aliceC+"/", "", ""); code != 200 || !strings.Contains(body, "notes.txt") {
		t.Fatalf("alice lists her container: HTTP %d %s", code, body)
	}

	steal := `{"mimetype":"text/plain","value":"overwritten by alice"}`
	for _, tc := range []struct {
		method, path, ct, body string
		status                 int
	}{
		{"GET", "/", "", "", 404},
		{"GET", "/?children", "", "", 404},
		{"GET", "/" + bobC + "/", "", "", 404},
		{"GET", "/" + bobC + "/hello.txt", "", "", 404},
		{"PUT", "/" + bobC + "/hello.txt", obj, steal, 404},
		{"DELETE", "/" + bobC + "/hello.txt", "", "", 404},
		{"GET", "/" + aliceC + "/../" + bobC + "/hello.txt", "", "", 404},
		{"GET", "/" + aliceC + "/%2e%2e/" + bobC + "/hello.txt", "", "", 404},
		{"PUT", "/" + aliceC + "/%2E%2e/" + bobC + "/hello.txt", obj, steal, 404},
		{"GET", "/" + aliceC + "/%2e%2e/", "", "", 404},
		{"GET", "/" + aliceC + "/..%2f" + bobC + "%2fhello.txt", "", "", 403},
		{"PUT", "/" + aliceC + "/..%2F" + bobC + "/hello.txt", obj, steal, 403},
		{"GET", "/" + aliceC + "/%2e%2e/%2e%2e/", "", "", 403},
		{"GET", "/" + aliceC + "/%252e%252e/" + bobC + "/hello.txt", "", "", 403},
		{"PUT", "/" + aliceC + "/stolen.txt", obj, `{"copy":"/` + bobC + `/hello.txt"}`, 403},
		{"PUT", "/" + aliceC + "/stolen.txt", obj, `{"move":"/` + bobC + `/hello.txt"}`, 403},
		{"DELETE", "/" + aliceC + "/", "", "", 403},
	} {
		code, body := s.route("alice", tc.method, route+tc.path, tc.ct, tc.body)
		secRouteRefused(t, tc.method+" "+tc.path, tc.status, code, body, "bob's words", `"children"`)
	}

	// bob's object is still there, unchanged, and nothing was copied.
	code, body = s.native("GET", "/cdmi/"+bobC+"/hello.txt", obj)
	var got struct{ Value string }
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Value != "bob's words" {
		t.Fatalf("bob's object at the sandbox after the attempts: HTTP %d %s", code, body)
	}
	if code, _ := s.native("GET", "/cdmi/"+aliceC+"/stolen.txt", obj); code != http.StatusNotFound {
		t.Fatalf("a copy of bob's object reached alice's container: HTTP %d", code)
	}
}

// TestSecurityRouteLinkAbove: a SaaS job's route (link adapter, the
// broker's generic front) reaches the service's link and the paths below
// it, never a path above it, however it is spelled.
func TestSecurityRouteLinkAbove(t *testing.T) {
	s := secRouteStart(t)
	saas := &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm"}}}
	aliceJob, _ := s.job("alice", saas)
	route := "/csb/jobs/" + aliceJob

	code, body := s.route("alice", "GET", route+"/page", "", "")
	if code != 200 || body != "crm page /apps/crm/page" {
		t.Fatalf("alice's service through her route: HTTP %d %q\n%s", code, body, s.broker.Log())
	}
	if code, body := s.native("GET", "/apps/secret", ""); code != 200 {
		t.Fatalf("the page above the link at the provider: HTTP %d %s", code, body)
	}
	for _, p := range []string{
		"/../secret",
		"/%2e%2e/secret",
		"/%2E%2e/secret",
		"/.%2e/secret",
		"/page/../../secret",
		"/page/%2e%2e/%2e%2e/secret",
		"/..%2fsecret",
		"/page%2f..%2f..%2fsecret",
		"/..\\secret",
		"/%2e%2e%5csecret",
		"/%252e%252e/secret",
		"/..;/secret",
	} {
		code, body := s.route("alice", "GET", route+p, "", "")
		secRouteRefused(t, "GET "+p, 0, code, body, "secret page", "crm page")
	}
}
