package tests

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/ospeer"
)

// TestNovaLifecycle brokers a server on a real Nova (fake virt driver)
// through a real Keystone: the flavors are discovered into the
// catalogue, the create boots a server tagged with the job and its owner
// and the job succeeds once Nova reports it ACTIVE, the job route fronts
// exactly that server for its owner, a stop through the broker's update
// path stops it, a start through the route reaches Nova,
// and removing the job deletes the server. (A resize is refused by the
// broker itself: each flavor is its own catalogue service, and an update
// must fit the job's service; TestNovaAdapterResize resizes through the
// adapter.)
func TestNovaLifecycle(t *testing.T) {
	b := os2Start(t, os2Provider{id: "nova"})
	o := b.o

	// Discovery: one IaaS service per flavor, one DSaaS for Swift (found
	// in Keystone's catalogue, behind keystoneauth).
	ids := b.catalogue("nova", o.Services())
	for _, f := range ospeer.Flavors {
		if !slices.Contains(ids, "flavor-"+f.ID) {
			t.Errorf("flavor %s is not in the catalogue: %v", f.ID, ids)
		}
	}
	if o.SwiftURL != "" && !slices.Contains(ids, "object-store") {
		t.Errorf("Swift (object-store) is not in the catalogue: %v", ids)
	}

	// Create: the smallest flavor that fits.
	a := b.createVM("alice", 1, 1)
	id := a.jobID()
	srv := os2ServerOf(t, o, id)
	g := a.Resp.IaaS
	if g == nil || g.Compute == nil || g.Compute.Cores == nil || *g.Compute.Cores != 1 || g.Compute.Status == nil || *g.Compute.Status != csbmsg.ComputeActive || g.Compute.Hostname == nil {
		t.Fatalf("grant of job %s: %s", id, a.Body)
	}
	// The name is the job id made a host name ("_" → "-").
	if srv.Status != "ACTIVE" || srv.Flavor.OriginalName != ospeer.Flavors[0].Name || srv.Metadata["csb-owner"] != "alice" ||
		srv.Name != *g.Compute.Hostname || srv.Name != "csb-"+strings.ReplaceAll(id, "_", "-") {
		t.Fatalf("the server Nova holds for job %s: %+v", id, srv)
	}
	if !strings.Contains(a.Resp.JobInfo.CloudServiceURI, o.ComputeURL+"/servers/"+srv.ID) {
		t.Fatalf("Cloud-service-URI %q is not the server %s", a.Resp.JobInfo.CloudServiceURI, srv.ID)
	}

	// The job route fronts the server, and only it, for its owner.
	st, body := b.route("alice", http.MethodGet, "/csb/jobs/"+id+"/servers/"+srv.ID, "")
	var got struct {
		Server struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"server"`
	}
	if st != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Server.ID != srv.ID {
		t.Fatalf("GET the job's server through the route: %d %s", st, body)
	}
	for _, c := range []struct {
		user, method, path, body string
		want                     int
	}{
		{"alice", http.MethodGet, "/csb/jobs/" + id + "/servers/detail", "", http.StatusNotFound},        // the listing of every server
		{"alice", http.MethodGet, "/csb/jobs/" + id + "/flavors", "", http.StatusNotFound},               // the rest of Nova
		{"alice", http.MethodDelete, "/csb/jobs/" + id + "/servers/" + srv.ID, "", http.StatusForbidden}, // removal goes through the broker
		{"alice", http.MethodPost, "/csb/jobs/" + id + "/servers/" + srv.ID + "/action", `{"resize": {"flavorRef": "` + ospeer.Flavors[1].ID + `"}}`, http.StatusForbidden},
		{"bob", http.MethodGet, "/csb/jobs/" + id + "/servers/" + srv.ID, "", http.StatusNotFound}, // not bob's job
		{"", http.MethodGet, "/csb/jobs/" + id + "/servers/" + srv.ID, "", http.StatusUnauthorized},
	} {
		if st, body := b.route(c.user, c.method, c.path, c.body); st != c.want {
			t.Errorf("%s %s %s: HTTP %d, want %d: %s", c.user, c.method, c.path, st, c.want, body)
		}
	}

	// The update path: a compute action through the broker reaches Nova,
	// which stops the server.
	stop := csbmsg.ComputeStop
	a = b.do("alice", http.MethodPut, "/"+id, consumerBody(t, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Action: &stop}}}), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if a.jobStatus() != "success" || !strings.Contains(a.Resp.Reason, "updated at nova") {
		t.Fatalf("stop: %s", a.Body)
	}
	os2WaitServer(t, o, srv.ID, "SHUTOFF", func(s *ospeer.Server, st int) bool { return s != nil && s.Status == "SHUTOFF" && s.TaskState == "" })

	// A power action through the route reaches Nova.
	if st, body := b.route("alice", http.MethodPost, "/csb/jobs/"+id+"/servers/"+srv.ID+"/action", `{"os-start": null}`); st != http.StatusAccepted {
		t.Fatalf("os-start through the route: HTTP %d %s", st, body)
	}
	os2WaitServer(t, o, srv.ID, "ACTIVE again", func(s *ospeer.Server, st int) bool { return s != nil && s.Status == "ACTIVE" && s.TaskState == "" })

	// Remove: Nova deletes the server.
	os2Remove(t, b, id)
	os2WaitServer(t, o, srv.ID, "deleted", func(s *ospeer.Server, st int) bool { return st == http.StatusNotFound })
}
