package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// consumerBroker is a real Caddy serving the Consumer interface, in front
// of OCCI provider doubles (the occitest fixture, real OCCI over loopback
// HTTP) with static services declared in the Caddyfile.
type consumerBroker struct {
	t         *testing.T
	p         *harness.Process
	url       string // the consumer endpoint
	port      int
	providers []string
	fixtures  map[string]*occitest.Server
	hashes    map[string]string
	dataDir   string
}

// brokerOptions shape the Caddyfile.
type brokerOptions struct {
	providers []string // provider ids, in configuration order (default p1, p2)
	placement string   // the placement subdirective's arguments and block (default first)
	jobs      string   // extra lines of the jobs block
	provider  func(id string) string
	dataDir   string
	noAuth    bool // no basic_auth in front of csb
}

var testUsers = map[string]string{"alice": "alice-secret", "bob": "bob-secret"}

func startConsumerBroker(t *testing.T, o brokerOptions) *consumerBroker {
	t.Helper()
	if len(o.providers) == 0 {
		o.providers = []string{"p1", "p2"}
	}
	b := &consumerBroker{t: t, port: harness.FreePort(t), providers: o.providers, fixtures: map[string]*occitest.Server{}, hashes: map[string]string{}}
	for _, id := range o.providers {
		b.fixtures[id] = occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	}
	for u, pw := range testUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.hashes[u] = string(h)
	}
	b.url = fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", b.port)
	b.p = harness.Start(t, b.caddyfile(o), harness.Options{DataDir: o.dataDir})
	b.dataDir = b.p.DataDir
	return b
}

func (b *consumerBroker) caddyfile(o brokerOptions) string {
	var provs strings.Builder
	for _, id := range o.providers {
		extra := ""
		if o.provider != nil {
			extra = o.provider(id)
		}
		fmt.Fprintf(&provs, `		provider %s {
			adapter occi %s/ {
				retries 0
				retry_backoff 1ms
			}
			service vm-%s {
				kind iaas
				compute {
					architecture x64
					cores 8
					memory 32
					speed 3
				}
				storage {
					size 500
				}
			}
%s
		}
`, id, b.fixtures[id].URL, id, extra)
	}
	placement := o.placement
	if placement == "" {
		placement = "first"
	}
	auth := fmt.Sprintf(`basic_auth {
		alice %s
		bob %s
	}`, b.hashes["alice"], b.hashes["bob"])
	if o.noAuth {
		auth = ""
	}
	return fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
%s		placement %s
		jobs {
%s
		}
	}
}

http://127.0.0.1:%d {
	%s
	header >Csb-Test-Placeholders "{http.csb.outcome}|{http.csb.provider.id}|{http.csb.job.id}"
	csb
}
`, provs.String(), placement, jobsOptions(o.jobs), b.port, auth)
}

// jobsOptions returns the test brokers' jobs options: the defaults that
// extra does not set (an option may be given once in a block), then
// extra's lines. extra may close the jobs block and open others (the
// events tests add an events block that way): only its lines before the
// first "}" are jobs options.
func jobsOptions(extra string) string {
	set := map[string]bool{}
	for _, line := range strings.Split(extra, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "}" {
			break
		}
		if len(f) > 0 {
			set[f[0]] = true
		}
	}
	var lines []string
	for _, d := range []string{"lease_min 1s", "reap_interval 100ms", "attempt_timeout 5s", "call_timeout 5s", "respond_within 5s", "poll_interval 20ms"} {
		if !set[strings.Fields(d)[0]] {
			lines = append(lines, "\t\t\t"+d)
		}
	}
	if strings.TrimSpace(extra) != "" {
		lines = append(lines, extra)
	}
	return strings.Join(lines, "\n")
}

// reload replaces the configuration (same providers and fixtures).
func (b *consumerBroker) reload(o brokerOptions) {
	b.t.Helper()
	o.providers = b.providers
	if err := b.p.Reload(b.caddyfile(o)); err != nil {
		b.t.Fatal(err)
	}
}

// inventory counts the entities every fixture holds.
func (b *consumerBroker) inventory() map[string]int {
	out := map[string]int{}
	for id, f := range b.fixtures {
		out[id] = f.Inventory()
	}
	return out
}

// answer is a decoded consumer response.
type answer struct {
	HTTP   int
	Header http.Header
	Body   []byte
	Resp   *csbmsg.ServiceResponse
}

func (a *answer) status() csbmsg.Status {
	if a.Resp == nil {
		return 0
	}
	return a.Resp.Status
}

func (a *answer) jobID() string {
	if a.Resp == nil || a.Resp.JobInfo == nil {
		return ""
	}
	return a.Resp.JobInfo.JobID
}

func (a *answer) jobStatus() string {
	if a.Resp == nil || a.Resp.JobInfo == nil {
		return ""
	}
	return a.Resp.JobInfo.JobStatus
}

// do sends a request as user ("" = no credentials) and decodes the
// answer when it is a consumer message.
func (b *consumerBroker) do(user, method, path string, body []byte, hdr map[string]string) *answer {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if user != "" {
		req.SetBasicAuth(user, testUsers[user])
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := &answer{HTTP: resp.StatusCode, Header: resp.Header, Body: data}
	if resp.StatusCode == 200 && len(data) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), csbmsg.ConsumerMediaType) {
		msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
		if err != nil {
			b.t.Fatalf("%s %s: the broker's answer does not parse: %v\n%s", method, path, err, data)
		}
		a.Resp = msg.Response
	}
	return a
}

// create POSTs a request.
func (b *consumerBroker) create(user string, req *csbmsg.ServiceRequest, hdr map[string]string) *answer {
	b.t.Helper()
	return b.do(user, http.MethodPost, "", consumerBody(b.t, req), hdr)
}

// waitJob polls GET until the job's status is one of want, or fails.
func (b *consumerBroker) waitJob(user, id string, want ...string) *answer {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
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
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

func consumerBody(t *testing.T, req *csbmsg.ServiceRequest) []byte {
	t.Helper()
	data, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Request: req})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func u64(v uint64) *uint64 { return &v }
func str(v string) *string { return &v }

// vmRequest asks for an x64 machine with cores and memory and a disk.
func vmRequest(cores, memory uint64) *csbmsg.ServiceRequest {
	return &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
		Compute: &csbmsg.Compute{Architecture: str("x64"), Cores: u64(cores), Memory: u64(memory)},
		Storage: &csbmsg.Storage{Size: u64(20)},
	}}
}

func mustStatus(t *testing.T, a *answer, want csbmsg.Status) {
	t.Helper()
	if a.HTTP != 200 || a.status() != want {
		t.Fatalf("got HTTP %d, status %d, want HTTP 200 with status %d\n%s", a.HTTP, a.status(), want, a.Body)
	}
}
