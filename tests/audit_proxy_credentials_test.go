package tests

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// auditRecorder is a provider endpoint that records the headers of every
// request it receives.
type auditRecorder struct {
	mu   sync.Mutex
	seen []http.Header
}

func (a *auditRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Clone())
	a.mu.Unlock()
	io.WriteString(w, "provider says hello at "+r.URL.Path)
}

func (a *auditRecorder) last(t *testing.T) http.Header {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		t.Fatal("the provider received nothing")
	}
	return a.seen[len(a.seen)-1]
}

// auditLinkBroker is a live broker with one static SaaS provider (link
// adapter) whose service link is rec's URL, the provider's own Basic
// credentials, basic_auth for the consumer alice, and a job route served
// by csb_job_route and reverse_proxy { dynamic csb }. preAuth is put before basic_auth in
// the route (for the header-copy recipe of README.md (Fronting an existing OpenStack or AWS account)).
func auditLinkBroker(t *testing.T, providerURL, preAuth string) (base string, p *harness.Process) {
	t.Helper()
	return auditLinkBrokerProxy(t, providerURL, preAuth, "csb_job_route /csb/jobs/*\n\t\treverse_proxy /csb/jobs/* {\n\t\t\tdynamic csb\n\t\t}")
}

// auditLinkBrokerProxy is auditLinkBroker with the reverse_proxy line and
// block given.
func auditLinkBrokerProxy(t *testing.T, providerURL, preAuth, proxy string) (base string, p *harness.Process) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testUsers["alice"]), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	port := harness.FreePort(t)
	caddyfile := fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider saas1 {
			adapter link
			auth basic provider-user provider-pass
			service crm {
				kind saas
				link crm %s/app
			}
		}
	}
}

http://127.0.0.1:%d {
	route {
%s
		basic_auth {
			alice %s
		}
		%s
		csb
	}
}
`, providerURL, port, preAuth, hash, proxy)
	p = harness.Start(t, caddyfile)
	return fmt.Sprintf("http://127.0.0.1:%d", port), p
}

// auditCreateSaaSJob creates a SaaS job for alice and returns its id.
func auditCreateSaaSJob(t *testing.T, base string) string {
	t.Helper()
	body := consumerBody(t, &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm"}}})
	req, _ := http.NewRequest(http.MethodPost, base+"/csb/consumer", bytes.NewReader(body))
	req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	req.SetBasicAuth("alice", testUsers["alice"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
	if resp.StatusCode != 200 || err != nil || msg.Response == nil || msg.Response.Status != csbmsg.StatusOK || msg.Response.JobInfo == nil {
		t.Fatalf("create: HTTP %d %v\n%s", resp.StatusCode, err, data)
	}
	return msg.Response.JobInfo.JobID
}

// TestAuditProxyStripsConsumerCredentials (issue 7, "consumer credentials
// are never forwarded"; the generic front of caddymodule/proxy.go): a
// consumer request through the job route carries its broker credentials
// and other credential headers; the provider sees none of them, only the
// provider's own Basic credentials from the provider's auth line.
func TestAuditProxyStripsConsumerCredentials(t *testing.T) {
	rec := &auditRecorder{}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)
	base, p := auditLinkBroker(t, up.URL, "")
	id := auditCreateSaaSJob(t, base)

	req, _ := http.NewRequest(http.MethodGet, base+"/csb/jobs/"+id+"/page", nil)
	req.SetBasicAuth("alice", testUsers["alice"])
	req.Header.Set("Cookie", "session=consumer-cookie")
	req.Header.Set("X-Auth-Token", "consumer-token")
	req.Header.Set("Proxy-Authorization", "Basic Y29uc3VtZXI6cHJveHk=")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(data) != "provider says hello at /app/page" {
		t.Fatalf("through the job route: %d %q\n%s", resp.StatusCode, data, p.Log())
	}
	h := rec.last(t)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("provider-user:provider-pass"))
	if got := h.Get("Authorization"); got != want {
		t.Errorf("provider saw Authorization %q, want the provider's own %q", got, want)
	}
	for _, name := range []string{"Cookie", "X-Auth-Token", "Proxy-Authorization"} {
		if v := h.Get(name); v != "" {
			t.Errorf("consumer credential header %s reached the provider: %q", name, v)
		}
	}
	for name, vals := range h {
		for _, v := range vals {
			if strings.Contains(v, testUsers["alice"]) || strings.Contains(v, base64.StdEncoding.EncodeToString([]byte("alice:"+testUsers["alice"]))) {
				t.Errorf("the consumer's password reached the provider in %s: %q", name, v)
			}
		}
	}
	// And the provider's credentials never come back to the consumer.
	if strings.Contains(fmt.Sprint(resp.Header), "provider-pass") {
		t.Errorf("provider credential in the answer's headers: %v", resp.Header)
	}
}

// TestAuditProxyJobFromHeader (issue 7: the job id comes "from a path
// prefix ... or a header, configurable"): the header form was only unit
// tested (TestJobRouteParsing). Through a live broker the job named by the
// Csb-Job header is reached with the whole path forwarded, the header is
// not forwarded, and a foreign or missing job id never reaches the
// provider.
func TestAuditProxyJobFromHeader(t *testing.T) {
	rec := &auditRecorder{}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)
	base, p := auditLinkBrokerProxy(t, up.URL, "", "csb_job_route /native/* {\n\t\t\theader Csb-Job\n\t\t}\n\t\treverse_proxy /native/* {\n\t\t\tdynamic csb\n\t\t}")
	id := auditCreateSaaSJob(t, base)
	get := func(job string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/native/page", nil)
		req.SetBasicAuth("alice", testUsers["alice"])
		if job != "" {
			req.Header.Set("Csb-Job", job)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if code, body := get(id); code != 200 || body != "provider says hello at /app/native/page" {
		t.Fatalf("job from the header: %d %q\n%s", code, body, p.Log())
	}
	if v := rec.last(t).Get("Csb-Job"); v != "" {
		t.Errorf("the job header reached the provider: %q", v)
	}
	rec.mu.Lock()
	n := len(rec.seen)
	rec.mu.Unlock()
	for _, job := range []string{"", "AAAAAAAAAAAAAAAAAAAAAA"} {
		if code, _ := get(job); code != http.StatusNotFound {
			t.Errorf("job header %q: HTTP %d, want 404", job, code)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != n {
		t.Errorf("a refused request reached the provider")
	}
}
