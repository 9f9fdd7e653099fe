package cimi

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestFrontScopesToTheJob: the route reaches the job's machine, volume,
// network and creation Job, and runs power actions; the entry point,
// collections, other consumers' resources, $expand, edits, deletes,
// attachments and resource-creating actions are refused. The resource's
// Endpoint is the provider's root, as older versions stored it.
func TestFrontScopesToTheJob(t *testing.T) {
	a, err := New(Config{Endpoint: "http://cloud.test/cimi/"})
	if err != nil {
		t.Fatal(err)
	}
	res := &contract.Resource{Endpoint: "http://cloud.test/cimi/", URI: "http://cloud.test/cimi/machines/1", Native: map[string]string{
		keyMachine: "http://cloud.test/cimi/machines/1", keyVolume: "http://cloud.test/cimi/volumes/2",
		keyNetwork: "http://cloud.test/cimi/networks/3", keyMachineVolume: "http://cloud.test/cimi/machines/1/volumes/4",
		keyJob: "http://cloud.test/cimi/jobs/5", keyJobID: "J1",
	}}
	start := `{"resourceURI":"` + NS + `/Action","action":"` + ActionNS + `start"}`
	adaptertest.RunFrontCases(t, a, res, []adaptertest.FrontCase{
		{Method: "GET", Path: "/machines/1", Want: "http://cloud.test/cimi/machines/1"},
		{Method: "HEAD", Path: "/machines/1/", Want: "http://cloud.test/cimi/machines/1/"},
		{Method: "GET", Path: "/machines/1/volumes", Want: "http://cloud.test/cimi/machines/1/volumes"},
		{Method: "GET", Path: "/machines/1/volumes/4", Want: "http://cloud.test/cimi/machines/1/volumes/4"},
		{Method: "GET", Path: "/volumes/2", Want: "http://cloud.test/cimi/volumes/2"},
		{Method: "GET", Path: "/networks/3", Want: "http://cloud.test/cimi/networks/3"},
		{Method: "GET", Path: "/jobs/5", Want: "http://cloud.test/cimi/jobs/5"},
		{Method: "GET", Path: "/machines/1?$select=name,state", Want: "http://cloud.test/cimi/machines/1?$select=name,state"},
		{Method: "POST", Path: "/machines/1/start", ContentType: MediaType, Body: start, Want: "http://cloud.test/cimi/machines/1/start"},
		{Method: "POST", Path: "/networks/3/stop", ContentType: MediaType, Body: `{"action":"` + ActionNS + `stop"}`, Want: "http://cloud.test/cimi/networks/3/stop"},

		{Method: "GET", Path: "/", Status: 404},
		{Method: "GET", Path: "/machines", Status: 404},
		{Method: "GET", Path: "/machines/", Status: 404},
		{Method: "GET", Path: "/machines/2", Status: 404},
		{Method: "DELETE", Path: "/machines/2", Status: 404},
		{Method: "GET", Path: "/machines/10", Status: 404},
		{Method: "GET", Path: "/volumes", Status: 404},
		{Method: "GET", Path: "/jobs", Status: 404},
		{Method: "GET", Path: "/jobs/5/x", Status: 404},
		{Method: "GET", Path: "/machineImages", Status: 404},
		{Method: "GET", Path: "/machines/1?$expand=volumes", Status: 403},
		{Method: "GET", Path: "/machines/1?action=start", Status: 403},
		{Method: "GET", Path: "/machines/1?$select=name;$expand=volumes", Status: 403},
		{Method: "GET", Path: "/machines/1?$select=%zz&$expand=volumes", Status: 403},
		{Method: "DELETE", Path: "/machines/1", Status: 403},
		{Method: "PUT", Path: "/machines/1", ContentType: MediaType, Body: `{"name":"x"}`, Status: 403},
		{Method: "DELETE", Path: "/volumes/2", Status: 403},
		{Method: "DELETE", Path: "/machines/1/volumes/4", Status: 403},
		{Method: "POST", Path: "/machines/1/volumes", ContentType: MediaType, Body: `{"volume":{"href":"http://cloud.test/cimi/volumes/9"}}`, Status: 403},
		{Method: "POST", Path: "/machines/1/capture", ContentType: MediaType, Body: `{"action":"` + ActionNS + `capture"}`, Status: 403},
		{Method: "POST", Path: "/volumes/2/snapshot", ContentType: MediaType, Body: `{"action":"` + ActionNS + `snapshot"}`, Status: 403},
		{Method: "POST", Path: "/machines/1/start", ContentType: MediaType, Body: `{"action":"` + ActionNS + `start","machine":{"href":"http://cloud.test/cimi/machines/2"}}`, Status: 403},
		{Method: "POST", Path: "/machines/1/start", ContentType: "text/plain", Body: start, Status: 403},
		{Method: "POST", Path: "/machines/1/start?x=1", ContentType: MediaType, Body: start, Status: 403},
		{Method: "POST", Path: "/machines/1/start", ContentType: MediaType, Body: `not json`, Status: 403},
		{Method: "POST", Path: "/machines/1/start", ContentType: MediaType, Body: `{"action":"` + ActionNS + `start","action":"` + ActionNS + `capture"}`, Status: 403},
		{Method: "POST", Path: "/machines/1/start", ContentType: MediaType, Body: start, Header: map[string]string{"Content-Encoding": "gzip"}, Status: 403},
	})

	// Hrefs on another host or outside the endpoint's directory are never
	// reachable: the broker's credentials go to the endpoint's host only.
	elsewhere := &contract.Resource{Native: map[string]string{keyMachine: "http://other.test/cimi/machines/1", keyVolume: "http://cloud.test/other/volumes/2"}}
	adaptertest.RunFrontCases(t, a, elsewhere, []adaptertest.FrontCase{
		{Method: "GET", Path: "/machines/1", Status: 404},
		{Method: "GET", Path: "/volumes/2", Status: 404},
		{Method: "GET", Path: "/other/volumes/2", Status: 404},
	})
	if !a.BrokerAuthenticates() {
		t.Fatal("the cimi adapter's credentials are the broker's")
	}
}
