package tests

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// secRouteSetup is a broker and, in a Caddy process of its own, the
// sandbox cloud it brokers to (CIMI at /cimi/, CDMI at /cdmi/, and a SaaS
// application at /apps/crm/ beside a page /apps/secret that no job
// reaches). The broker serves alice and bob with basic_auth and opens the
// job route as README.md's "Open the job route" does; the provider's own
// credentials are Basic ones the broker adds to what it forwards.
type secRouteSetup struct {
	t       *testing.T
	base    string // the broker
	cloud   string // the sandbox, http://127.0.0.1:<port>
	broker  *harness.Process
	sandbox *harness.Process
	c       *consumerBroker
}

func secRouteStart(t *testing.T) *secRouteSetup {
	t.Helper()
	cloudPort, brokerPort := harness.FreePort(t), harness.FreePort(t)
	s := &secRouteSetup{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", brokerPort), cloud: fmt.Sprintf("http://127.0.0.1:%d", cloudPort)}
	s.sandbox = harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
}

http://127.0.0.1:%d {
	route {
		csb_sandbox cloud-a {
			capacity 16 64 500
			architecture x86_64
		}
		respond /apps/crm/* "crm page {path}" 200
		respond /apps/secret "the provider's secret page" 200
		respond 404
	}
}
`, cloudPort))
	s.broker = secRouteBroker(t, brokerPort, fmt.Sprintf(`		provider cloud-a {
			adapter cimi %[1]s/cimi/
			adapter cdmi %[1]s/cdmi/
			auth basic provider-user provider-pass
			service vm {
				kind iaas
				compute {
					architecture x86_64
					cores 8
					memory 32
				}
			}
			service objects {
				kind dsaas
				objects data container
			}
		}
		provider saas1 {
			adapter link
			auth basic provider-user provider-pass
			service crm {
				kind saas
				link crm %[1]s/apps/crm
			}
		}
`, s.cloud))
	s.c = &consumerBroker{t: t, p: s.broker, url: s.base + "/csb/consumer"}
	return s
}

// secRouteBroker starts a broker on port with the given provider blocks,
// basic_auth for alice and bob, and the job route opened as README.md's
// "Open the job route" shows.
func secRouteBroker(t *testing.T, port int, providers string) *harness.Process {
	t.Helper()
	hashes := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte(testUsers[u]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hashes[u] = string(h)
	}
	return harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
%s
		jobs {
			respond_within 10s
		}
	}
}

http://127.0.0.1:%d {
	route {
		basic_auth {
			alice %s
			bob %s
		}
		csb_job_route /csb/jobs/*
		reverse_proxy /csb/jobs/* {
			dynamic csb
			fail_duration 30s
			lb_retries 1
		}
		csb
	}
	handle_errors {
		respond "{err.status_code} {err.status_text}: {err.message}"
	}
}
`, providers, port, hashes["alice"], hashes["bob"]))
}

// job creates a job for user, waits until it succeeded, and returns its
// id and Cloud-service-URI.
func (s *secRouteSetup) job(user string, req *csbmsg.ServiceRequest) (id, uri string) {
	s.t.Helper()
	a := s.c.create(user, req, nil)
	mustStatus(s.t, a, csbmsg.StatusOK)
	id = a.jobID()
	a = s.c.waitJob(user, id, "success")
	return id, a.Resp.JobInfo.CloudServiceURI
}

// route sends method to the broker at path (sent as written: dot-segments
// and escapes are not touched) as user, and returns the status and body.
func (s *secRouteSetup) route(user, method, path, contentType, body string) (int, string) {
	s.t.Helper()
	return secRouteSend(s.t, user, method, s.base+path, contentType, body, nil)
}

// routeWith is route with extra request headers.
func (s *secRouteSetup) routeWith(user, method, path string, hdr map[string]string) (int, string) {
	s.t.Helper()
	return secRouteSend(s.t, user, method, s.base+path, "", "", hdr)
}

// native sends method straight to the sandbox, as the provider sees it.
func (s *secRouteSetup) native(method, path, accept string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.cloud+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
		req.Header.Set("X-CDMI-Specification-Version", "1.1.1")
	}
	return secRouteDo(s.t, req)
}

func secRouteSend(t *testing.T, user, method, rawURL, contentType, body string, hdr map[string]string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	// Send the path exactly as written: the client neither cleans nor
	// re-escapes an opaque path.
	req.URL.Opaque = strings.SplitN(strings.TrimPrefix(rawURL, "http://"+req.URL.Host), "?", 2)[0]
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
		if strings.HasPrefix(contentType, "application/cdmi-") {
			req.Header.Set("X-CDMI-Specification-Version", "1.1.1")
		}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if user != "" {
		req.SetBasicAuth(user, testUsers[user])
	}
	return secRouteDo(t, req)
}

func secRouteDo(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// secRoutePath is the path of an absolute URI.
func secRoutePath(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil || u.Path == "" {
		t.Fatalf("not a URI: %q", uri)
	}
	return u.Path
}

// secRouteRefused checks that a request through the route was refused by
// the broker (403 or 404, as given; 0 for either) and never answered by
// the provider.
func secRouteRefused(t *testing.T, what string, status int, code int, body string, provider ...string) {
	t.Helper()
	if (status == 0 && code != 403 && code != 404) || (status != 0 && code != status) {
		t.Errorf("%s: HTTP %d, want %d: %s", what, code, status, body)
		return
	}
	if !strings.HasPrefix(body, fmt.Sprintf("%d %s: ", code, http.StatusText(code))) {
		t.Errorf("%s: HTTP %d not from the broker's refusal: %s", what, code, body)
	}
	for _, p := range provider {
		if strings.Contains(body, p) {
			t.Errorf("%s: the provider's answer came through: %s", what, body)
		}
	}
}
