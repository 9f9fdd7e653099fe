package tests

// Issue 15, item 2: every URL that comes from a peer is checked before
// the broker calls it or proxies to it. These tests run a real broker and
// stand in for "another host" with a loopback listener on another port
// (another origin), which records whether it was contacted and with which
// credentials.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// secURLsRecorder is a listener standing in for a host the broker must
// not call: it records every request it receives.
type secURLsRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	hits []string // "METHOD path authorization=<value>"
}

func secURLsNewRecorder(t *testing.T) *secURLsRecorder {
	r := &secURLsRecorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits = append(r.hits, fmt.Sprintf("%s %s authorization=%q", req.Method, req.URL.Path, req.Header.Get("Authorization")))
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"resourceURI":"http://schemas.dmtf.org/cimi/2/MachineImageCollection","count":0,"machineImages":[]}`)
	}))
	t.Cleanup(r.Close)
	return r
}

// requests returns what the recorder received.
func (r *secURLsRecorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.hits...)
}

// secURLsConsume POSTs a consumer request as alice and decodes the answer.
func secURLsConsume(t *testing.T, base string, req *csbmsg.ServiceRequest) *answer {
	t.Helper()
	hreq, err := http.NewRequest(http.MethodPost, base+"/csb/consumer", bytes.NewReader(consumerBody(t, req)))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	hreq.SetBasicAuth("alice", "pw-alice")
	return secURLsDo(t, hreq)
}

func secURLsDo(t *testing.T, req *http.Request) *answer {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := &answer{HTTP: resp.StatusCode, Header: resp.Header, Body: data}
	if resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), csbmsg.ConsumerMediaType) {
		msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
		if err != nil {
			t.Fatalf("the broker's answer does not parse: %v\n%s", err, data)
		}
		a.Resp = msg.Response
	}
	return a
}

// secURLsSaaSNotification is a push notification of provider saas1 with
// one SaaS service whose Link href is href.
func secURLsSaaSNotification(t *testing.T, seq uint64, service, rel, href string) []byte {
	t.Helper()
	n := &csbmsg.Notification{ID: "saas1-push", SeqNumber: seq,
		Provider: csbmsg.Provider{ID: "saas1", Status: csbmsg.ServiceActive},
		Services: []csbmsg.Service{{ID: service, Status: csbmsg.ServiceActive,
			SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: rel, Href: href}}}}}
	out, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Notification: n})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// secURLsSaaSBroker is the Caddyfile of a broker with one SaaS provider
// (link adapter, its own Basic credentials, its own origin as uri) that
// csp1 publishes for under a push id, the consumer alice, and a job route
// (csb_job_route, then reverse_proxy { dynamic csb }). extra goes into the provider block.
func secURLsSaaSBroker(t *testing.T, port int, ownOrigin, extra string) string {
	return fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider saas1 {
			adapter link
			auth basic provider-user provider-pass
			uri %s
			publishers csp1
			push saas1-push
%s
		}
		jobs {
			respond_within 5s
			poll_interval 20ms
		}
	}
}

http://127.0.0.1:%d {
	basic_auth {
%s	}
	csb_job_route /csb/jobs/*
	reverse_proxy /csb/jobs/* {
		dynamic csb
	}
	csb
}
`, ownOrigin, extra, port, basicAuthUsers(t, "csp1", "alice"))
}

// secURLsAdminConfig reads the broker's whole configuration from its admin
// endpoint.
func secURLsAdminConfig(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/config/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /config/: %d %s", resp.StatusCode, data)
	}
	return string(data)
}

// TestSecURLsLivePublishedAdminHrefRefused is the attack of issue 15: a
// publisher notifies a SaaS service whose Link href is the broker's own
// admin endpoint (and, in a second step, another host). The notification
// is refused with status 402 and a reason naming the URL, nothing enters
// the catalogue, the admin endpoint's configuration is unchanged, and a
// job on a service whose href the policy no longer allows fails with a
// reason naming the URL, without the "other host" ever being contacted,
// through provisioning or the job route.
func TestSecURLsLivePublishedAdminHrefRefused(t *testing.T) {
	own := secURLsNewRecorder(t)   // the provider's own origin (its uri)
	other := secURLsNewRecorder(t) // another host on loopback
	port := harness.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	publish := base + "/csb/publish"

	// Phase 1: no opt-in. The admin endpoint, as a Link href, is refused.
	p := harness.Start(t, secURLsSaaSBroker(t, port, own.URL, ""))
	configBefore := secURLsAdminConfig(t, p.AdminAddr)
	if !strings.Contains(configBefore, "provider-pass") {
		t.Fatalf("the admin endpoint's config should hold the provider's password (what the attack reads):\n%s", configBefore)
	}
	adminPort := p.AdminAddr[strings.LastIndex(p.AdminAddr, ":")+1:]
	adminHref := "http://" + p.AdminAddr + "/"
	r := notify(t, publish, "csp1", secURLsSaaSNotification(t, 1, "adm", "admin", adminHref))
	if r.HTTPStatus != 200 || r.Status != csbmsg.StatusCannotUpdate || !strings.Contains(r.Reason, adminHref) {
		t.Fatalf("notification with the admin endpoint as href: %+v, want status 402 naming %s", r, adminHref)
	}

	// Phase 2: the operator opts in to loopback hosts for this provider
	// (allowed_hosts 127.0.0.1 with allow_private). Even so the admin
	// endpoint is refused, whichever way it is written.
	optIn := "\t\t\tallowed_hosts 127.0.0.1 localhost [::1]\n\t\t\tallow_private"
	if err := p.Reload(secURLsSaaSBroker(t, port, own.URL, optIn)); err != nil {
		t.Fatal(err)
	}
	// The old server closes its kept-alive connections as it stops; do
	// not reuse one.
	http.DefaultClient.CloseIdleConnections()
	for _, href := range []string{adminHref, "http://localhost:" + adminPort + "/config/", "http://[::1]:" + adminPort + "/load"} {
		r := notify(t, publish, "csp1", secURLsSaaSNotification(t, 1, "adm", "admin", href))
		if r.Status != csbmsg.StatusCannotUpdate || !strings.Contains(r.Reason, "admin endpoint") {
			t.Fatalf("notification with href %s: %+v, want status 402 naming the admin endpoint", href, r)
		}
	}
	if n := catalogOf(t, p.AdminAddr).Placeable["SaaS"]; n != 0 {
		t.Fatalf("a refused service entered the catalogue: %d placeable SaaS", n)
	}
	configBefore = secURLsAdminConfig(t, p.AdminAddr)

	// With the opt-in, another loopback host is accepted...
	r = notify(t, publish, "csp1", secURLsSaaSNotification(t, 1, "crm", "crm", other.URL+"/app"))
	if r.Status != csbmsg.StatusOK {
		t.Fatalf("notification with an allowed href: %+v", r)
	}
	if after := secURLsAdminConfig(t, p.AdminAddr); after != configBefore {
		t.Fatalf("the admin endpoint's configuration changed:\nbefore %s\nafter  %s", configBefore, after)
	}

	// Phase 3: ...until the operator withdraws the opt-in. The service is
	// still in the catalogue, but its href is no longer allowed.
	if err := p.Reload(secURLsSaaSBroker(t, port, own.URL, "")); err != nil {
		t.Fatal(err)
	}
	// The old server closes its kept-alive connections as it stops; do
	// not reuse one.
	http.DefaultClient.CloseIdleConnections()
	r = notify(t, publish, "csp1", secURLsSaaSNotification(t, 2, "crm2", "crm", other.URL+"/app2"))
	if r.Status != csbmsg.StatusCannotUpdate || !strings.Contains(r.Reason, other.URL+"/app2") || !strings.Contains(r.Reason, "host not allowed") {
		t.Fatalf("notification with another host's href: %+v, want status 402 naming the URL", r)
	}

	a := secURLsConsume(t, base, &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm"}}})
	if a.HTTP != 200 || a.status() != csbmsg.StatusUnableToFindResource || !strings.Contains(a.Resp.Reason, other.URL+"/app") ||
		!strings.Contains(a.Resp.Reason, "refused") {
		t.Fatalf("job on a service whose href is refused: HTTP %d status %d, want 408 with a reason naming %s\n%s", a.HTTP, a.status(), other.URL, a.Body)
	}
	if id := a.jobID(); id != "" {
		// The failed job's route must not reach the href either.
		req, _ := http.NewRequest(http.MethodGet, base+"/csb/jobs/"+id+"/config/", nil)
		req.SetBasicAuth("alice", "pw-alice")
		if ra := secURLsDo(t, req); ra.HTTP == http.StatusOK {
			t.Fatalf("the job route of a failed job answered 200:\n%s", ra.Body)
		}
	}

	if hits := other.requests(); len(hits) != 0 {
		t.Fatalf("the other host was contacted: %v", hits)
	}
	log := p.Log()
	if !strings.Contains(log, `"peer url refused"`) || !strings.Contains(log, `"provider_id":"saas1"`) {
		t.Fatalf("the refusal is not logged with the provider:\n%s", log)
	}
}

// secURLsCIMIProvider is a CIMI provider that demands Basic credentials
// and whose CloudEntryPoint is at its root; cep writes the entry point's
// collection hrefs. It records the credentials it received.
type secURLsCIMIProvider struct {
	*httptest.Server
	mu    sync.Mutex
	authz []string
}

func secURLsNewCIMIProvider(t *testing.T, serve func(w http.ResponseWriter, r *http.Request)) *secURLsCIMIProvider {
	c := &secURLsCIMIProvider{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.authz = append(c.authz, r.Header.Get("Authorization"))
		c.mu.Unlock()
		if u, pw, ok := r.BasicAuth(); !ok || u != "provider-user" || pw != "provider-pass" {
			w.Header().Set("WWW-Authenticate", `Basic realm="cimi"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		serve(w, r)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *secURLsCIMIProvider) credentialed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, a := range c.authz {
		if a != "" {
			n++
		}
	}
	return n
}

// secURLsCIMIBroker is a broker with one CIMI provider at endpoint (Basic
// credentials, one static IaaS service) and the consumer alice.
func secURLsCIMIBroker(t *testing.T, port int, endpoint string) *harness.Process {
	return harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider cimi1 {
			adapter cimi %s
			auth basic provider-user provider-pass
			service vm {
				kind iaas
				compute {
					architecture x64
					cores 8
					memory 32
				}
				storage {
					size 500
				}
			}
		}
		jobs {
			respond_within 5s
			poll_interval 20ms
			attempt_timeout 5s
			call_timeout 5s
		}
	}
}

http://127.0.0.1:%d {
	basic_auth {
%s	}
	csb
}
`, endpoint, port, basicAuthUsers(t, "alice")))
}

// TestSecURLsLiveCIMIEntryPointOtherHost: a provider's CloudEntryPoint
// names its collections on another host (a provider behind a proxy that
// names itself by its internal host). The CIMI adapter rebases those
// hrefs onto its configured endpoint: every request, with the provider's
// credentials, goes to the endpoint, the other host receives nothing, and
// the job goes on there (here it fails at the provider's empty image
// collection, read at the endpoint).
func TestSecURLsLiveCIMIEntryPointOtherHost(t *testing.T) {
	other := secURLsNewRecorder(t)
	var mu sync.Mutex
	var paths []string
	cimi := secURLsNewCIMIProvider(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/" {
			json.NewEncoder(w).Encode(map[string]any{"resourceURI": "http://schemas.dmtf.org/cimi/2/Collection", "id": r.URL.Path, "count": 0})
			return
		}
		cep := map[string]any{"resourceURI": "http://schemas.dmtf.org/cimi/2/CloudEntryPoint", "id": "/", "baseURI": "/"}
		for _, coll := range []string{"machines", "machineConfigs", "machineImages", "volumes", "volumeConfigs", "networks", "jobs"} {
			cep[coll] = map[string]string{"href": other.URL + "/" + coll}
		}
		json.NewEncoder(w).Encode(cep)
	})
	port := harness.FreePort(t)
	secURLsCIMIBroker(t, port, cimi.URL+"/")

	a := secURLsConsume(t, fmt.Sprintf("http://127.0.0.1:%d", port), vmRequest(2, 4))
	if hits := other.requests(); len(hits) != 0 {
		t.Fatalf("the other host received requests (with the provider's credentials?): %v", hits)
	}
	mu.Lock()
	got := slices.Clone(paths)
	mu.Unlock()
	if !slices.Contains(got, "/machineImages") {
		t.Fatalf("the collection named on another host was not read at the endpoint: paths %v", got)
	}
	if a.HTTP != 200 || a.status() == csbmsg.StatusOK || !strings.Contains(a.Resp.Reason, "no machine image") {
		t.Fatalf("job at a provider with no image: HTTP %d status %d, want a failure naming the missing image\n%s", a.HTTP, a.status(), a.Body)
	}
	if n := cimi.credentialed(); n != len(got) {
		t.Fatalf("%d of the %d requests at the endpoint carried the provider's credentials", n, len(got))
	}
}

// TestSecURLsLiveRedirectToOtherOrigin: the provider's endpoint redirects
// to another origin. The redirect is not followed, so the other origin
// gets no request and no credential, and the job fails naming it.
func TestSecURLsLiveRedirectToOtherOrigin(t *testing.T) {
	other := secURLsNewRecorder(t)
	cimi := secURLsNewCIMIProvider(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/cep", http.StatusTemporaryRedirect)
	})
	port := harness.FreePort(t)
	secURLsCIMIBroker(t, port, cimi.URL+"/")

	a := secURLsConsume(t, fmt.Sprintf("http://127.0.0.1:%d", port), vmRequest(2, 4))
	if hits := other.requests(); len(hits) != 0 {
		t.Fatalf("the redirect was followed: %v", hits)
	}
	if a.HTTP != 200 || a.status() != csbmsg.StatusUnableToFindResource || !strings.Contains(a.Resp.Reason, other.URL+"/cep") ||
		!strings.Contains(a.Resp.Reason, "redirect refused") {
		t.Fatalf("job at a provider redirecting elsewhere: HTTP %d status %d, want 408 naming %s\n%s", a.HTTP, a.status(), other.URL, a.Body)
	}
	if cimi.credentialed() == 0 {
		t.Fatal("the broker never called its configured CIMI endpoint")
	}
	if hits := other.requests(); len(hits) != 0 {
		t.Fatalf("the redirect was followed: %v", hits)
	}
}
