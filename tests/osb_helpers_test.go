package tests

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	osb "github.com/pmorie/go-open-service-broker-client/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// osbSetup is a broker serving the Open Service Broker API at /osb/
// behind basic_auth for two platforms, the job route behind the
// csb_binding provider, and two sandbox clouds (cloud-a small, cloud-b
// large and slow to build) in a Caddy process of their own.
type osbSetup struct {
	t       *testing.T
	base    string // the broker, http://127.0.0.1:<port>
	clouds  [2]string
	broker  *harness.Process
	sandbox *harness.Process
	// caddyfile is the broker's, with %[1]d for its port.
	caddyfile string
}

// osbPlatforms are the platform users and their passwords.
var osbPlatforms = map[string]string{"platform": "platform-secret", "other-platform": "other-secret"}

// osbPlans is the csb_osb block osbStart serves.
const osbPlans = `csb_osb {
			plan small {
				cores 2
				memory 4
				storage 20
			}
			plan large {
				cores 32
				memory 128
				storage 100
			}
			plan brief {
				cores 1
				memory 1
				storage 1
				lease 2s
			}
			plan bucket {
				kind dsaas
			}
			platforms platform other-platform
		}`

func osbStart(t *testing.T) *osbSetup {
	t.Helper()
	return osbStartWith(t, osbPlans)
}

// osbStartWith is osbStart with another csb_osb block.
func osbStartWith(t *testing.T, osbBlock string) *osbSetup {
	t.Helper()
	return osbStartBuild(t, osbBlock, "1500ms")
}

// osbStartBuild is osbStartWith with cloud-b's build time.
func osbStartBuild(t *testing.T, osbBlock, buildB string) *osbSetup {
	t.Helper()
	portA, portB, brokerPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	s := &osbSetup{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", brokerPort),
		clouds: [2]string{fmt.Sprintf("http://127.0.0.1:%d", portA), fmt.Sprintf("http://127.0.0.1:%d", portB)}}
	s.sandbox = harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
}

http://127.0.0.1:%d {
	csb_sandbox cloud-a {
		capacity 16 64 500
		architecture x86_64
	}
}

http://127.0.0.1:%d {
	csb_sandbox cloud-b {
		capacity 64 256 2000
		architecture x86_64
		build_time %s
	}
}
`, portA, portB, buildB))
	hashes := map[string]string{}
	for u, pw := range osbPlatforms {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hashes[u] = string(h)
	}
	s.caddyfile = fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider cloud-a {
			adapter cimi %[1]s/cimi/
			adapter cdmi %[1]s/cdmi/
			service vm {
				kind iaas
				compute {
					architecture x86_64
					cores 8
					memory 32
				}
				storage {
					size 200
				}
			}
			service objects {
				kind dsaas
				objects data container
			}
		}
		provider cloud-b {
			adapter cimi %[2]s/cimi/
			service vm {
				kind iaas
				compute {
					architecture x86_64
					cores 64
					memory 256
				}
				storage {
					size 2000
				}
			}
		}
		jobs {
			respond_within 10s
			lease_min 1s
			reap_interval 100ms
			poll_interval 50ms
		}
	}
}

http://127.0.0.1:%[3]s {
	handle_path /osb/* {
		basic_auth {
			platform %[4]s
			other-platform %[5]s
		}
		%[6]s
	}
	route /csb/jobs/* {
		csb_binding_auth
		csb_job_route
		reverse_proxy {
			dynamic csb
		}
	}
	route /csb/consumer* {
		csb_binding_auth
		csb
	}
	handle_errors {
		respond "{err.status_code} {err.status_text}: {err.message}"
	}
}
`, s.clouds[0], s.clouds[1], "%[1]d", hashes["platform"], hashes["other-platform"], osbBlock)
	s.broker = harness.Start(t, fmt.Sprintf(s.caddyfile, brokerPort))
	return s
}

// second starts another broker with the same configuration on another
// port, sharing the first one's storage (a cluster), and returns its
// base URL.
func (s *osbSetup) second() (string, *harness.Process) {
	s.t.Helper()
	port := harness.FreePort(s.t)
	p := harness.Start(s.t, fmt.Sprintf(s.caddyfile, port), harness.Options{DataDir: s.broker.DataDir})
	return fmt.Sprintf("http://127.0.0.1:%d", port), p
}

// client returns an OSB client (written elsewhere: pmorie's) for a
// platform user.
func (s *osbSetup) client(platform string) osb.Client {
	s.t.Helper()
	c, err := osb.NewClient(&osb.ClientConfiguration{
		Name:           "osb-test",
		URL:            s.base + "/osb",
		APIVersion:     osb.LatestAPIVersion(),
		TimeoutSeconds: 30,
		AuthConfig:     &osb.AuthConfig{BasicAuthConfig: &osb.BasicAuthConfig{Username: platform, Password: osbPlatforms[platform]}},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// osbUser is an originating identity of Cloud Foundry's shape.
func osbUser(id string) *osb.OriginatingIdentity {
	return &osb.OriginatingIdentity{Platform: "cloudfoundry", Value: fmt.Sprintf(`{"user_id":%q}`, id)}
}

// osbCatalog finds services and plans by name in the broker's catalogue.
type osbCatalog struct {
	services map[string]osb.Service
	plans    map[string]osb.Plan // "<service>/<plan>"
}

func (s *osbSetup) catalog(c osb.Client) osbCatalog {
	s.t.Helper()
	resp, err := c.GetCatalog()
	if err != nil {
		s.t.Fatalf("catalog: %v\n%s", err, s.broker.Log())
	}
	cat := osbCatalog{services: map[string]osb.Service{}, plans: map[string]osb.Plan{}}
	for _, sv := range resp.Services {
		cat.services[sv.Name] = sv
		for _, p := range sv.Plans {
			cat.plans[sv.Name+"/"+p.Name] = p
		}
	}
	return cat
}

// provision asks for an instance of plan and returns its operation.
func (s *osbSetup) provision(c osb.Client, cat osbCatalog, user, id, plan string, params map[string]any) (*osb.ProvisionResponse, error) {
	svc, _, _ := strings.Cut(plan, "/")
	return c.ProvisionInstance(&osb.ProvisionRequest{
		InstanceID: id, AcceptsIncomplete: true,
		ServiceID: cat.services[svc].ID, PlanID: cat.plans[plan].ID,
		OrganizationGUID: "org-1", SpaceGUID: "space-1",
		Parameters: params, OriginatingIdentity: osbUser(user),
	})
}

// waitOp polls last_operation until the state is final, and returns it.
func (s *osbSetup) waitOp(c osb.Client, user, id string, op *osb.OperationKey) *osb.LastOperationResponse {
	s.t.Helper()
	return s.waitOpFor(c, user, id, op, 30)
}

// waitOpFor is waitOp with a deadline in seconds.
func (s *osbSetup) waitOpFor(c osb.Client, user, id string, op *osb.OperationKey, seconds int) *osb.LastOperationResponse {
	s.t.Helper()
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	for {
		resp, err := c.PollLastOperation(&osb.LastOperationRequest{InstanceID: id, OperationKey: op, OriginatingIdentity: osbUser(user)})
		if err != nil {
			s.t.Fatalf("last_operation of %s: %v\n%s", id, err, s.broker.Log())
		}
		if resp.State != osb.StateInProgress {
			return resp
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("last_operation of %s still in progress after %ds", id, seconds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// raw sends an OSB request by hand (for what the client does not send:
// a missing or wrong version header, GET of an instance).
func (s *osbSetup) raw(platform, method, path, version, identity, body string) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+"/osb"+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.SetBasicAuth(platform, osbPlatforms[platform])
	if version != "" {
		req.Header.Set("X-Broker-API-Version", version)
	}
	if identity != "" {
		req.Header.Set("X-Broker-API-Originating-Identity", "cloudfoundry "+base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"user_id":%q}`, identity))))
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	if m == nil {
		m = map[string]any{"_body": string(data)}
	}
	return resp.StatusCode, m
}

// osbGet sends GET url with Basic credentials (none when user is "").
func osbGet(t *testing.T, url, user, pass string) (int, string) {
	t.Helper()
	return osbGetAccept(t, url, user, pass, "application/json")
}

// osbGetAccept is osbGet with an Accept header.
func osbGetAccept(t *testing.T, url, user, pass, accept string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// osbStatus returns the HTTP status of an OSB client error (0 if none).
func osbStatus(err error) int {
	var he osb.HTTPStatusCodeError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// osbPoll is a polling deadline.
type osbPoll struct{ until time.Time }

func osbDeadline(seconds int) osbPoll {
	return osbPoll{time.Now().Add(time.Duration(seconds) * time.Second)}
}

func (p osbPoll) passed() bool { return time.Now().After(p.until) }

func (p osbPoll) pause() { time.Sleep(50 * time.Millisecond) }
