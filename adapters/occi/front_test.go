package occi

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestFrontScopesToTheJob: the route reads the entities the job created
// and triggers their power actions; the query interface, collections,
// other entities, a shared network, updates, links, deletes and actions
// that create or resize are refused.
func TestFrontScopesToTheJob(t *testing.T) {
	a, err := New(Config{Endpoint: "http://cloud.test/occi"})
	if err != nil {
		t.Fatal(err)
	}
	const root = "http://cloud.test/occi"
	res := &contract.Resource{URI: root + "/compute/c1", Native: map[string]string{
		nativeCompute: root + "/compute/c1", nativeStorage: root + "/storage/s1", nativeNetwork: root + "/network/n1",
		nativeNetworkInterface: root + "/link/networkinterface/l1", nativeStorageLink: root + "/link/storagelink/l2",
	}}
	startPlain := `Category: start; scheme="` + SchemeComputeAction + `"; class="action"`
	adaptertest.RunFrontCases(t, a, res, []adaptertest.FrontCase{
		{Method: "GET", Path: "/compute/c1", Want: root + "/compute/c1"},
		{Method: "HEAD", Path: "/storage/s1", Want: root + "/storage/s1"},
		{Method: "GET", Path: "/network/n1", Want: root + "/network/n1"},
		{Method: "GET", Path: "/link/networkinterface/l1", Want: root + "/link/networkinterface/l1"},
		{Method: "GET", Path: "/link/storagelink/l2", Want: root + "/link/storagelink/l2"},
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextPlain, Body: startPlain, Want: root + "/compute/c1?action=start"},
		{Method: "POST", Path: "/compute/c1?action=stop", ContentType: MediaTextPlain,
			Body: "Category: stop; scheme=\"" + SchemeComputeAction + "\"; class=\"action\"\nX-OCCI-Attribute: method=\"graceful\"", Want: root + "/compute/c1?action=stop"},
		{Method: "POST", Path: "/compute/c1?action=restart", ContentType: MediaTextOCCI,
			Header: map[string]string{"Category": `restart; scheme="` + SchemeComputeAction + `"; class="action"`}, Want: root + "/compute/c1?action=restart"},
		{Method: "POST", Path: "/network/n1?action=down", ContentType: MediaTextPlain, Body: `Category: down; scheme="` + SchemeNetworkAction + `"; class="action"`, Want: root + "/network/n1?action=down"},

		{Method: "GET", Path: "/", Status: 404},
		{Method: "GET", Path: "/-/", Status: 404},
		{Method: "GET", Path: "/.well-known/org/ogf/occi/-/", Status: 404},
		{Method: "GET", Path: "/compute/", Status: 404},
		{Method: "GET", Path: "/compute/c2", Status: 404},
		{Method: "DELETE", Path: "/compute/c2", Status: 404},
		{Method: "GET", Path: "/compute/c1/x", Status: 404},
		{Method: "POST", Path: "/link/networkinterface/", ContentType: MediaTextPlain, Body: "Category: networkinterface", Status: 404},
		{Method: "GET", Path: "/compute/c1?category=x", Status: 403},
		{Method: "DELETE", Path: "/compute/c1", Status: 403},
		{Method: "PUT", Path: "/compute/c1", ContentType: MediaTextPlain, Body: "X-OCCI-Attribute: occi.compute.cores=64", Status: 403},
		{Method: "POST", Path: "/compute/c1", ContentType: MediaTextPlain, Body: "X-OCCI-Attribute: occi.compute.cores=64", Status: 403},
		{Method: "POST", Path: "/compute/c1?action=save", ContentType: MediaTextPlain, Body: `Category: save; scheme="` + SchemeComputeAction + `"; class="action"`, Status: 403},
		{Method: "POST", Path: "/storage/s1?action=resize", ContentType: MediaTextPlain, Body: `Category: resize; scheme="` + SchemeStorageAction + `"; class="action"`, Status: 403},
		{Method: "POST", Path: "/storage/s1?action=snapshot", ContentType: MediaTextPlain, Body: `Category: snapshot; scheme="` + SchemeStorageAction + `"; class="action"`, Status: 403},
		{Method: "POST", Path: "/compute/c1?action=start&action=stop", ContentType: MediaTextPlain, Body: startPlain, Status: 403},
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextPlain, Body: `Category: stop; scheme="` + SchemeComputeAction + `"; class="action"`, Status: 403},
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextPlain, Body: startPlain + "\nLink: </storage/s9>; rel=\"" + KindStorage + "\"", Status: 403},
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextPlain, Body: startPlain + "\nX-OCCI-Attribute: occi.core.target=\"/storage/s9\"", Status: 403},
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextPlain, Body: startPlain + "\nX-OCCI-Location: " + root + "/storage/s9", Status: 403},
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: "application/json", Body: `{"action":"start"}`, Status: 403},
		{Method: "POST", Path: "/link/storagelink/l2?action=start", ContentType: MediaTextPlain, Body: startPlain, Status: 403},
	})

	// A configured shared network is the provider's, not the job's.
	shared := &contract.Resource{Native: map[string]string{nativeNetwork: root + "/network/public", nativeNetworkShared: "true"}}
	adaptertest.RunFrontCases(t, a, shared, []adaptertest.FrontCase{{Method: "GET", Path: "/network/public", Status: 404}})
	if !a.BrokerAuthenticates() {
		t.Fatal("the occi adapter's credentials are the broker's")
	}
}

// TestFrontRefusesEncodedActionBody: a server that decodes request bodies
// (Apache's mod_deflate input filter) reads a gzip-encoded action body
// as the text it carries, while the route checked the compressed bytes,
// which parse as no OCCI line at all: a link to another job's storage, or
// any attribute, went through unchecked.
func TestFrontRefusesEncodedActionBody(t *testing.T) {
	a, err := New(Config{Endpoint: "http://cloud.test/occi"})
	if err != nil {
		t.Fatal(err)
	}
	const root = "http://cloud.test/occi"
	res := &contract.Resource{URI: root + "/compute/c1", Native: map[string]string{nativeCompute: root + "/compute/c1"}}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write([]byte(`Category: start; scheme="` + SchemeComputeAction + `"; class="action"` + "\nLink: </storage/other-job>; rel=\"" + KindStorage + "\"\n"))
	_ = w.Close()
	adaptertest.RunFrontCases(t, a, res, []adaptertest.FrontCase{
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextPlain, Body: gz.String(),
			Header: map[string]string{"Content-Encoding": "gzip"}, Status: 403},
	})
}

// TestFrontReachesEntitiesOfAServerNamedOtherwise: a server that names
// itself by another host than the endpoint (a proxy in front, rOCCI's
// configured server URL) answers creates with locations on that host.
// The adapter reaches them at the endpoint (resolve); the route must
// too, or the job's own entities answered 404 through it.
func TestFrontReachesEntitiesOfAServerNamedOtherwise(t *testing.T) {
	a, err := New(Config{Endpoint: "http://10.0.0.5:8080/occi/"})
	if err != nil {
		t.Fatal(err)
	}
	const named = "https://occi.public.example/occi"
	res := &contract.Resource{URI: named + "/compute/c1", Native: map[string]string{
		nativeCompute: named + "/compute/c1", nativeStorage: named + "/storage/s1",
	}}
	adaptertest.RunFrontCases(t, a, res, []adaptertest.FrontCase{
		{Method: "GET", Path: "/compute/c1", Want: "http://10.0.0.5:8080/occi/compute/c1"},
		{Method: "GET", Path: "/storage/s1", Want: "http://10.0.0.5:8080/occi/storage/s1"},
		{Method: "GET", Path: "/storage/s2", Status: 404},
		{Method: "GET", Path: "/", Status: 404},
	})
}

// TestFrontRefusesABodyWithAnotherLineBreak: the check reads the action
// body a line per \n; a CR inside a quoted value was part of the
// category's line to it, but ends the line for a server that splits on
// CR, which then read a Link from the job's compute to another job's
// storage.
func TestFrontRefusesABodyWithAnotherLineBreak(t *testing.T) {
	a, err := New(Config{Endpoint: "http://cloud.test/occi"})
	if err != nil {
		t.Fatal(err)
	}
	const root = "http://cloud.test/occi"
	res := &contract.Resource{URI: root + "/compute/c1", Native: map[string]string{nativeCompute: root + "/compute/c1"}}
	start := `Category: start; scheme="` + SchemeComputeAction + `"; class="action"`
	adaptertest.RunFrontCases(t, a, res, []adaptertest.FrontCase{
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextPlain,
			Body: start + "; title=\"\rLink: </storage/other-job>; rel=" + KindStorage + "\r\"", Status: 403},
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextPlain,
			Body: start + "\nX-OCCI-Attribute: method=\"graceful\u2028Link: </storage/other-job>\"", Status: 403},
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextPlain,
			Body: start + "\r\nX-OCCI-Attribute: method=\"graceful\"\r\n", Want: root + "/compute/c1?action=start"},
	})
}

// TestFrontRefusesUnderscoreHeaders: servers behind CGI-style gateways
// (rOCCI on Rack, Python WSGI servers) read a header X_OCCI_Attribute as
// the rendering header X-OCCI-Attribute; the check reads the rendering
// from the hyphenated names only, so an underscore spelling carried an
// attribute (or a Link) past it.
func TestFrontRefusesUnderscoreHeaders(t *testing.T) {
	a, err := New(Config{Endpoint: "http://cloud.test/occi"})
	if err != nil {
		t.Fatal(err)
	}
	const root = "http://cloud.test/occi"
	res := &contract.Resource{URI: root + "/compute/c1", Native: map[string]string{nativeCompute: root + "/compute/c1"}}
	start := `start; scheme="` + SchemeComputeAction + `"; class="action"`
	adaptertest.RunFrontCases(t, a, res, []adaptertest.FrontCase{
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextOCCI,
			Header: map[string]string{"Category": start, "X_OCCI_Attribute": `occi.core.target="/storage/other-job"`}, Status: 403},
		{Method: "POST", Path: "/compute/c1?action=start", ContentType: MediaTextOCCI,
			Header: map[string]string{"Category": start, "X-OCCI-Attribute": `method="graceful"`}, Want: root + "/compute/c1?action=start"},
	})
}

// TestFrontRefusesTwoContentTypes: the check read an action body as
// text/plain when that was the first of two Content-Type headers, where
// a JSON body's lines are skipped as no OCCI line; a server that takes
// the last Content-Type read the body in OCCI 1.2's JSON rendering, with
// attributes the check never saw.
func TestFrontRefusesTwoContentTypes(t *testing.T) {
	a, err := New(Config{Endpoint: "http://cloud.test/occi"})
	if err != nil {
		t.Fatal(err)
	}
	res := &contract.Resource{Native: map[string]string{nativeCompute: "http://cloud.test/occi/compute/c1"}}
	r := httptest.NewRequest(http.MethodPost, "http://consumer.invalid/compute/c1?action=start", strings.NewReader(`{"action":"start","attributes":{"occi.core.target":"/storage/other-job"}}`))
	r.Header["Content-Type"] = []string{MediaTextPlain, MediaJSON}
	var ae *contract.Error
	if _, err := a.Front(context.Background(), r, res); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("two content types: %v, want a 403 refusal", err)
	}
}
