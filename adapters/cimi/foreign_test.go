package cimi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// internalBase is how the provider behind a proxy names itself: a host
// the broker cannot reach (.invalid never resolves).
const internalBase = "http://cimi-internal.invalid:8080"

// endpointOnly is a transport that, as the provider's peer URL policy
// does, refuses any request to a host other than the endpoint's before
// sending it (so no credential leaves), and records the refused URLs.
type endpointOnly struct {
	host string

	mu      sync.Mutex
	refused []string
}

func (e *endpointOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != e.host {
		e.mu.Lock()
		e.refused = append(e.refused, r.Method+" "+r.URL.String())
		e.mu.Unlock()
		return nil, fmt.Errorf("peer url refused: %s is not the provider's endpoint", r.URL.Host)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (e *endpointOnly) check(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.refused) > 0 {
		t.Errorf("%d requests went to another host than the endpoint, first %s", len(e.refused), e.refused[0])
	}
}

// foreignFixture is a fixture that answers hrefs (ids, Location,
// CIMI-Job-URI, the CloudEntryPoint's collections, operations) on
// internalBase, and an adapter over it whose client reaches only the
// endpoint.
func foreignFixture(t *testing.T) (*fixture, *endpointOnly, func(*testing.T) *cimi.Adapter) {
	f := newFixtureAs(t, internalBase)
	u, _ := url.Parse(f.srv.URL)
	tr := &endpointOnly{host: u.Host}
	return f, tr, func(t *testing.T) *cimi.Adapter {
		a, err := cimi.New(cimi.Config{Endpoint: f.srv.URL + "/cep"})
		if err != nil {
			t.Fatal(err)
		}
		a.SetHTTPClient(&http.Client{Transport: tr})
		return a
	}
}

// TestConformanceForeignHrefs runs the kit against a provider that names
// itself by another host than the configured endpoint, as one behind a
// proxy does: every job works, and no request goes to that host.
func TestConformanceForeignHrefs(t *testing.T) {
	f, tr, newAdapter := foreignFixture(t)
	adaptertest.Run(t, adaptertest.Target{
		New:         func(t *testing.T) contract.Adapter { return newAdapter(t) },
		Cases:       cases(),
		Unsupported: unsupportedReqs(),
		Fault:       f.setFault,
		Inventory:   f.inventory,
	})
	tr.check(t)
}

// TestForeignHrefsRecordedOnTheEndpoint: what Provision records is on
// the endpoint (so the broker's route and peer policy know it), and a
// job recorded with the provider's own host name (before the adapter
// rebased hrefs) still reads, acts and removes through the endpoint.
func TestForeignHrefsRecordedOnTheEndpoint(t *testing.T) {
	f, tr, newAdapter := foreignFixture(t)
	a := newAdapter(t)
	req := full(1, 1, 2, nil)
	req.JobID = "j"
	res, err := a.Provision(t.Context(), &req)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"machine", "volume", "network", "machine_volume"} {
		if !strings.HasPrefix(res.Native[key], f.srv.URL+"/") {
			t.Errorf("recorded %s = %q, want it on the endpoint %s", key, res.Native[key], f.srv.URL)
		}
	}
	old := res.Clone()
	for k, v := range old.Native {
		old.Native[k] = strings.Replace(v, f.srv.URL, internalBase, 1)
	}
	old.URI = strings.Replace(old.URI, f.srv.URL, internalBase, 1)
	st, err := a.Status(t.Context(), old)
	if err != nil {
		t.Fatalf("status of a job recorded with the provider's host name: %v", err)
	}
	if st.Granted.IaaS == nil || st.Granted.IaaS.Compute == nil {
		t.Errorf("status granted %+v, want the machine read", st.Granted)
	}
	if err := a.Remove(t.Context(), old); err != nil {
		t.Fatalf("remove of a job recorded with the provider's host name: %v", err)
	}
	if n := f.inventory(); n != 0 {
		t.Errorf("the provider holds %d resources after the remove", n)
	}
	tr.check(t)
}

// TestNonHTTPHrefRefused: an href that is not http or https (here one a
// provider could plant in a Location) is refused as a provider error,
// with no request.
func TestNonHTTPHrefRefused(t *testing.T) {
	_, tr, newAdapter := foreignFixture(t)
	a := newAdapter(t)
	res := &contract.Resource{Native: map[string]string{"machine": "file:///etc/passwd"}}
	if _, err := a.Status(t.Context(), res); contract.KindOf(err) != contract.KindServer {
		t.Errorf("status of a file: href: %v, want a provider_5xx error", err)
	}
	tr.check(t)
}
