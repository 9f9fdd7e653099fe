package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestAuditOVFThroughTheBroker (issue 5, "a consumer request whose IaaS
// Link points to an OVF descriptor is expanded ... then placed like any
// IaaS request"): adapters/ovf's TestExpandPlaceProvision places with a
// matcher of its own. Here the request goes through a live broker: the
// csb app's ovf option fetches the DSP0243-shaped descriptor, the job
// manager's Expand hook rewrites the request, the broker's placement
// chooses the only provider that fits (the small one is 1 core short),
// and the OCCI adapter provisions it at the provider double. A host the
// ovf option does not allow is refused without a fetch.
func TestAuditOVFThroughTheBroker(t *testing.T) {
	descriptor, err := os.ReadFile(filepath.Join("..", "adapters", "ovf", "testdata", "appliance.ovf"))
	if err != nil {
		t.Fatal(err)
	}
	var fetched atomic.Int32
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/ovf+xml")
		if r.URL.Path == "/two.ovf" {
			// Two virtual systems: not one CSB request's compute.
			w.Write(bytes.Replace(descriptor, []byte("</Envelope>"), []byte(`<VirtualSystemCollection ovf:id="c"><VirtualSystem ovf:id="x"/></VirtualSystemCollection></Envelope>`), 1))
			return
		}
		w.Write(descriptor)
	}))
	t.Cleanup(images.Close)
	iu, _ := url.Parse(images.URL)

	small := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	big := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	hash, err := bcrypt.GenerateFromPassword([]byte(testUsers["alice"]), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	port := harness.FreePort(t)
	service := func(id string, cores int) string {
		return fmt.Sprintf(`service vm-%s {
				kind iaas
				compute {
					cores %d
					memory 32
					speed 3
				}
				storage {
					size 500
				}
				network {
					allocation dynamic
				}
				network_interface {
					interface eth0
				}
				storagelink {
					device_id vda
				}
			}`, id, cores)
	}
	harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		ovf {
			allow_host %s
			allow_http
			allow_private
		}
		provider small {
			adapter occi %s/ {
				retries 0
			}
			%s
		}
		provider big {
			adapter occi %s/ {
				retries 0
			}
			%s
		}
		placement first
	}
}

http://127.0.0.1:%d {
	basic_auth {
		alice %s
	}
	csb
}
`, iu.Host, small.URL, service("small", 1), big.URL, service("big", 8), port, hash))

	createReq := func(sr *csbmsg.ServiceRequest) *csbmsg.ServiceResponse {
		t.Helper()
		body := consumerBody(t, sr)
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", port), bytes.NewReader(body))
		req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
		req.SetBasicAuth("alice", testUsers["alice"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
		if resp.StatusCode != 200 || err != nil || msg.Response == nil {
			t.Fatalf("HTTP %d %v\n%s", resp.StatusCode, err, data)
		}
		return msg.Response
	}
	create := func(href string) *csbmsg.ServiceResponse {
		t.Helper()
		return createReq(&csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Link: &csbmsg.Link{Rel: "ovf", Href: href}}})
	}

	r := create(images.URL + "/appliance.ovf")
	if r.Status != csbmsg.StatusOK || r.JobInfo == nil || r.JobInfo.JobStatus != "success" {
		t.Fatalf("OVF request: status %d %q", r.Status, r.Reason)
	}
	if n := fetched.Load(); n != 1 {
		t.Fatalf("descriptor fetched %d times", n)
	}
	if !strings.HasPrefix(r.JobInfo.CloudServiceURI, big.URL) || !strings.Contains(r.Reason, "big") {
		t.Fatalf("placed at %s (%q), want the big provider", r.JobInfo.CloudServiceURI, r.Reason)
	}
	if small.Inventory() != 0 || big.Inventory() == 0 {
		t.Fatalf("inventories: small %d, big %d", small.Inventory(), big.Inventory())
	}
	// The descriptor's 2 CPUs, 4 GiB and 16 GiB of disks, as granted.
	g := r.IaaS
	if g == nil || g.Compute == nil || g.Compute.Cores == nil || *g.Compute.Cores != 2 || g.Compute.Memory == nil || *g.Compute.Memory < 4 ||
		g.Storage == nil || g.Storage.Size == nil || *g.Storage.Size != 16 {
		t.Fatalf("granted %+v", g)
	}

	// An update is not expanded: an OVF Link to another descriptor in
	// one is refused, not dropped under a 200 (the job's own Link, kept
	// in its request, is no change: a renewal).
	{
		body := consumerBody(t, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Link: &csbmsg.Link{Rel: "ovf", Href: images.URL + "/bigger.ovf"}}})
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://127.0.0.1:%d/csb/consumer/%s", port, r.JobInfo.JobID), bytes.NewReader(body))
		req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
		req.SetBasicAuth("alice", testUsers["alice"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
		if err != nil || msg.Response == nil || msg.Response.Status != csbmsg.StatusUnsupported || !strings.Contains(msg.Response.Reason, "IaaS/Link") {
			t.Fatalf("update with an OVF Link: HTTP %d %v\n%s\nwant 420 naming IaaS/Link", resp.StatusCode, err, data)
		}
		if n := fetched.Load(); n != 1 {
			t.Fatalf("descriptor fetched %d times", n)
		}
	}

	// A host the ovf option does not allow: a clear refusal, no fetch.
	r = create("http://images.invalid:" + iu.Port() + "/appliance.ovf")
	if r.Status == csbmsg.StatusOK || r.JobInfo != nil || !strings.Contains(strings.ToLower(r.Reason), "not allowed") {
		t.Fatalf("disallowed host: status %d %q", r.Status, r.Reason)
	}
	t.Logf("disallowed host: status %d %q", r.Status, r.Reason)
	if r.Status != csbmsg.StatusSyntaxError {
		t.Errorf("disallowed host: status %d, want 400", r.Status)
	}
	if n := fetched.Load(); n != 1 {
		t.Fatalf("descriptor fetched %d times", n)
	}

	// A descriptor the draft's request cannot express: 420, nothing made.
	r = create(images.URL + "/two.ovf")
	if r.Status != csbmsg.StatusUnsupported || r.JobInfo != nil || !strings.Contains(r.Reason, "virtual systems") {
		t.Fatalf("two virtual systems: status %d %q, want 420 naming them", r.Status, r.Reason)
	}
	if small.Inventory() != 0 {
		t.Fatalf("small provider holds %d entities after a refused create", small.Inventory())
	}

	// A Link of another rel: no adapter reads it, and the broker reads
	// only OVF descriptors, so it is refused, not dropped.
	r = createReq(&csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(1)}, Link: &csbmsg.Link{Rel: "image", Href: images.URL + "/appliance.ovf"}}})
	if r.Status != csbmsg.StatusUnsupported || r.JobInfo != nil || !strings.Contains(r.Reason, `rel "image"`) {
		t.Fatalf("a Link of rel image: status %d %q, want 420 naming it", r.Status, r.Reason)
	}
	if small.Inventory() != 0 {
		t.Fatalf("small provider holds %d entities after a refused create", small.Inventory())
	}
}
