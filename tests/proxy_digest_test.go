package tests

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// Provider credentials at the Digest-protected provider: the consumer
// must never see them.
const (
	digestProviderUser = "broker-at-provider"
	digestProviderPass = "pr0vider-s3cret"
)

// digestProvider is a provider's native API behind Apache httpd's
// mod_auth_digest: the backend records the Authorization each request
// arrives with (Apache forwards it).
type digestProvider struct {
	apache *Apache
	mu     sync.Mutex
	auths  []string
}

func (p *digestProvider) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.auths...)
}

func startDigestProvider(t *testing.T, lifetime int) *digestProvider {
	p := &digestProvider{}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.auths = append(p.auths, r.Header.Get("Authorization"))
		p.mu.Unlock()
		if r.URL.Path != "/files/hello.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from the provider")
	}))
	t.Cleanup(backend.Close)
	p.apache = StartApache(t, ApacheOptions{
		Realm:         "provider",
		Users:         map[string]string{digestProviderUser: digestProviderPass},
		Backend:       backend.URL,
		NonceLifetime: lifetime,
	})
	return p
}

// startDigestProxyBroker runs a broker whose provider "files" is the
// Digest-protected Apache: a link adapter hands out its service (rel
// crm, as auditCreateSaaSJob asks),
// and the job route fronts it through reverse_proxy { dynamic csb },
// retrying a 401 once (a stale nonce).
func startDigestProxyBroker(t *testing.T, prov *digestProvider) string {
	port := harness.FreePort(t)
	hash, err := bcrypt.GenerateFromPassword([]byte(testUsers["alice"]), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider files {
			adapter link
			auth digest %s %s
			service files {
				kind saas
				status active
				link crm %s/files/
			}
		}
		jobs {
			respond_within 10s
		}
	}
}

http://127.0.0.1:%d {
	route {
		basic_auth {
			alice %s
		}
		csb_job_route /csb/jobs/*
		reverse_proxy /csb/jobs/* {
			dynamic csb
			lb_retries 1
			lb_retry_match {
				expression `+"`{rp.status_code} == 401`"+`
			}
		}
		csb
	}
}
`, digestProviderUser, digestProviderPass, prov.apache.URL, port, hash))
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// getThroughRoute GETs a file of the job through the broker as alice and
// returns the whole answer as the consumer sees it.
func getThroughRoute(t *testing.T, base, job, file string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/csb/jobs/"+job+"/"+file, nil)
	req.SetBasicAuth("alice", testUsers["alice"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var seen strings.Builder
	resp.Header.Write(&seen)
	seen.Write(data)
	if strings.Contains(seen.String(), digestProviderPass) || strings.Contains(seen.String(), digestProviderUser) {
		t.Fatalf("the consumer saw the provider's credentials:\n%s", seen.String())
	}
	return resp.StatusCode, string(data)
}

// TestProxyDigestProvider fronts a provider protected by Apache httpd's
// mod_auth_digest: the consumer's GET through the job route gets the
// provider's file, Apache accepted the broker's Digest response, the
// consumer's own credentials never reached the provider, and the consumer
// never sees the provider's.
func TestProxyDigestProvider(t *testing.T) {
	prov := startDigestProvider(t, 0)
	base := startDigestProxyBroker(t, prov)
	job := auditCreateSaaSJob(t, base) // its rel is crm
	for i := range 3 {
		code, body := getThroughRoute(t, base, job, "hello.txt")
		if code != http.StatusOK || body != "hello from the provider" {
			t.Fatalf("GET %d through the job route: %d %q\napache:\n%s", i, code, body, prov.apache.ErrorLog())
		}
	}
	seen := prov.seen()
	if len(seen) != 3 {
		t.Fatalf("the provider got %d requests, want 3", len(seen))
	}
	for _, a := range seen {
		if !strings.HasPrefix(a, "Digest ") || !strings.Contains(a, `username="`+digestProviderUser+`"`) || strings.Contains(a, digestProviderPass) {
			t.Fatalf("the provider saw Authorization %q, want the broker's Digest response", a)
		}
	}
}

// TestProxyDigestStaleNonce: once Apache's nonce lifetime has passed, the
// proxied request is answered stale=true; the reverse proxy retries it
// (lb_retry_match on 401) and the source answers the fresh challenge, so
// the consumer sees no 401.
func TestProxyDigestStaleNonce(t *testing.T) {
	prov := startDigestProvider(t, 1)
	base := startDigestProxyBroker(t, prov)
	job := auditCreateSaaSJob(t, base) // its rel is crm
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; ; n++ {
		code, body := getThroughRoute(t, base, job, "hello.txt")
		if code != http.StatusOK || body != "hello from the provider" {
			t.Fatalf("GET %d: %d %q\napache:\n%s", n, code, body, prov.apache.ErrorLog())
		}
		// Polling a condition: Apache has refused an expired nonce.
		if strings.Contains(prov.apache.ErrorLog(), "nonce expired") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no nonce expired within 20s:\n%s", prov.apache.ErrorLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
