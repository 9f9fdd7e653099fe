package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
	"github.com/caddy-csb/caddy-csb/tests/ospeer"
)

// os2Broker is a real Caddy brokering to the real OpenStack of ospeer
// through the openstack adapter: the Consumer interface at /csb/consumer
// and job routes at /csb/jobs/ (csb_job_route + reverse_proxy { dynamic
// csb }, retrying once on a 401 so a revoked token is replaced within the
// consumer's request), for alice and bob (HTTP Basic).
type os2Broker struct {
	*consumerBroker
	o    *ospeer.OpenStack
	base string // http://127.0.0.1:<port>
}

// os2Provider is one provider block of the broker's Caddyfile.
type os2Provider struct {
	id string
	// auth holds the adapter's authentication lines; default: the broker
	// user's password, scoped to project csb.
	auth string
	// extra adapter lines (compute_url, object_store_url).
	extra string
	// block holds extra lines of the provider block (a static service).
	block string
}

// os2PasswordAuth is the adapter's password authentication for project.
func os2PasswordAuth(project string) string {
	return fmt.Sprintf(`username %s
				user_domain_name Default
				password %s
				project_name %s
				project_domain_name Default`, ospeer.BrokerUser, ospeer.BrokerPassword, project)
}

// os2Start starts a broker whose providers all reach the shared
// OpenStack; alice and bob may use every one of them.
func os2Start(t *testing.T, providers ...os2Provider) *os2Broker {
	t.Helper()
	o := ospeer.Shared(t)
	port := harness.FreePort(t)
	var blocks, ids strings.Builder
	for _, p := range providers {
		if p.auth == "" {
			p.auth = os2PasswordAuth(ospeer.BrokerProject)
		}
		fmt.Fprintf(&blocks, `
		provider %s {
			adapter openstack {
				auth_url %s
				region %s
				%s
				image %s
				%s
			}
			allowed_hosts 127.0.0.1
			allow_private
			discover
			%s
		}`, p.id, o.AuthURL, ospeer.Region, p.auth, o.ImageID, p.extra, p.block)
		ids.WriteString(" " + p.id)
	}
	hashes := map[string]string{}
	for u, pw := range testUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hashes[u] = string(h)
	}
	caddyfile := fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {%s
		jobs {
			respond_within 2s
			poll_interval 100ms
			access alice {
				allow%s
			}
			access bob {
				allow%s
			}
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
			lb_retries 1
			lb_retry_match {
				expression `+"`{rp.status_code} == 401`"+`
			}
		}
		csb
	}
}
`, blocks.String(), ids.String(), ids.String(), port, hashes["alice"], hashes["bob"])
	p := harness.Start(t, caddyfile)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	return &os2Broker{consumerBroker: &consumerBroker{t: t, p: p, url: base + "/csb/consumer"}, o: o, base: base}
}

// catalogue polls the admin API until provider id's discovered services
// are in the catalogue, and returns their ids.
func (b *os2Broker) catalogue(provider string, want int) []string {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for {
		resp, err := http.Get("http://" + b.p.AdminAddr + "/csb/catalog?provider=" + provider)
		if err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(data)
			var v struct {
				Providers []struct {
					Services []struct {
						Service   map[string]any `json:"service"`
						Placeable bool           `json:"placeable"`
					} `json:"services"`
				} `json:"providers"`
			}
			if json.Unmarshal(data, &v) == nil && len(v.Providers) == 1 && len(v.Providers[0].Services) >= want {
				var ids []string
				for _, s := range v.Providers[0].Services {
					for k, id := range s.Service {
						if strings.EqualFold(k, "id") {
							ids = append(ids, fmt.Sprint(id))
						}
					}
				}
				return ids
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("provider %s: fewer than %d services in the catalogue after 60 s: %s\n%s", provider, want, last, b.p.Log())
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
}

// createVM creates an IaaS job for user asking for cores and memory (GB)
// and waits until it succeeds (Nova's server ACTIVE).
func (b *os2Broker) createVM(user string, cores, memory uint64) *answer {
	b.t.Helper()
	a := b.create(user, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(cores), Memory: u64(memory)}}}, nil)
	mustStatus(b.t, a, csbmsg.StatusOK)
	return b.os2WaitJob(user, a.jobID(), "success")
}

// os2WaitJob is waitJob with a deadline long enough for Nova on a
// loaded machine.
func (b *os2Broker) os2WaitJob(user, id string, want ...string) *answer {
	b.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		a := b.do(user, http.MethodGet, "/"+id, nil, nil)
		for _, w := range want {
			if a.jobStatus() == w {
				return a
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("job %s never reached %v; last answer %d %s\n%s", id, want, a.HTTP, a.Body, b.p.Log())
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
}

// serverOf returns the Nova server whose csb-job metadata is job,
// as Nova's admin sees it, failing when there is not exactly one.
func os2ServerOf(t *testing.T, o *ospeer.OpenStack, job string) ospeer.Server {
	t.Helper()
	list, err := o.Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found []ospeer.Server
	for _, s := range list {
		if s.Metadata["csb-job"] == job {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Nova holds %d servers tagged csb-job=%s: %+v", len(found), job, found)
	}
	return found[0]
}

// os2WaitServer polls Nova (as admin) until the server satisfies ok.
func os2WaitServer(t *testing.T, o *ospeer.OpenStack, id, what string, ok func(s *ospeer.Server, status int) bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		s, st, err := o.GetServer(context.Background(), id)
		if err != nil && st != http.StatusNotFound {
			t.Fatal(err)
		}
		if ok(s, st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s: not %s after 90 s: %+v (HTTP %d)", id, what, s, st)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
}

// route sends a request to the broker's job route as user.
func (b *os2Broker) route(user, method, path, body string) (int, string) {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, testUsers[user])
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// os2Tap is a reverse proxy in front of a real OpenStack service that
// records, for every request, the token it carried and the status the
// service answered.
type os2Tap struct {
	URL string

	mu    sync.Mutex
	calls []os2Call
}

type os2Call struct {
	Method, Path, Token string
	Status              int
}

func os2NewTap(t *testing.T, target string) *os2Tap {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tap := &os2Tap{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		tap.mu.Lock()
		tap.calls = append(tap.calls, os2Call{Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("X-Auth-Token"), Status: resp.StatusCode})
		tap.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	tap.URL = srv.URL
	return tap
}

// Calls returns the calls recorded so far.
func (tp *os2Tap) Calls() []os2Call {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]os2Call(nil), tp.calls...)
}
