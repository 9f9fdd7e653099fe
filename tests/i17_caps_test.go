package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// i17CapsBroker is one real Caddy with two providers offering the same
// IaaS service: "plain" (first in configuration order, the embedded
// sandbox's CIMI API, plus its CDMI API for DSaaS), whose CIMI adapter
// does not honour NetworkInterface/ip, and "occi" (an OCCI provider
// double, encryption-support true), whose adapter does.
type i17CapsBroker struct {
	*consumerBroker
	admin string
	occi  *occitest.Server
	cfg   func(mode string) string
}

func i17CapsStart(t *testing.T, mode string) *i17CapsBroker {
	t.Helper()
	broker, cloud := harness.FreePort(t), harness.FreePort(t)
	occi := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	service := `service vm {
				kind iaas
				compute {
					architecture x86_64
					cores 8
					memory 16
				}
				network {
					allocation dynamic
				}
				network_interface {
					interface eth0
				}
			}`
	cfg := func(mode string) string {
		return fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider plain {
			adapter cimi http://127.0.0.1:%[2]d/cimi/
			adapter cdmi http://127.0.0.1:%[2]d/cdmi/
			%[3]s
			service objects {
				kind dsaas
				objects data container
			}
		}
		provider occi {
			adapter occi %[4]s/ {
				retries 0
			}
			encryption_support true
			%[3]s
		}
		placement first
		jobs {
			anonymous allow
			unhonoured_fields %[5]s
		}
	}
}

http://127.0.0.1:%[1]d {
	csb
}

http://127.0.0.1:%[2]d {
	csb_sandbox cloud-a {
		capacity 16 64 200
		architecture x86_64
	}
}
`, broker, cloud, service, occi.URL, mode)
	}
	p := harness.Start(t, cfg(mode))
	b := &consumerBroker{t: t, p: p, url: fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", broker)}
	return &i17CapsBroker{consumerBroker: b, admin: p.AdminAddr, occi: occi, cfg: cfg}
}

// i17CapsVM asks for a machine on a network, with a NetworkInterface
// whose ip is set when ip is not "".
func i17CapsVM(ip string) *csbmsg.ServiceRequest {
	r := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
		Compute:          &csbmsg.Compute{Architecture: str("x86_64"), Cores: u64(1), Memory: u64(1)},
		Network:          &csbmsg.Network{},
		NetworkInterface: &csbmsg.NetworkInterface{},
	}}
	if ip != "" {
		r.IaaS.NetworkInterface.IP = str(ip)
	}
	return r
}

// i17CapsExports asks for a container with <exports>, which no adapter
// of the broker honours (the sandbox's CDMI adapter serves DSaaS).
func i17CapsExports() *csbmsg.ServiceRequest {
	return &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{Exports: str("nfs")}}}
}

// i17CapsExplanation is the JSON of POST /csb/placement/explain.
type i17CapsExplanation struct {
	Chosen *struct {
		ProviderID string `json:"provider_id"`
	} `json:"chosen"`
	Fields     []string `json:"request_fields"`
	Candidates []struct {
		ProviderID string   `json:"provider_id"`
		Matched    bool     `json:"matched"`
		Note       string   `json:"note"`
		Unhonoured []string `json:"unhonoured_fields"`
	} `json:"candidates"`
}

func (b *i17CapsBroker) explain(req *csbmsg.ServiceRequest) i17CapsExplanation {
	b.t.Helper()
	status, _, data := adminDo(b.t, b.admin, http.MethodPost, "/csb/placement/explain", "", csbmsg.ConsumerMediaType, consumerBody(b.t, req))
	var ex i17CapsExplanation
	if err := json.Unmarshal(data, &ex); status != 200 || err != nil {
		b.t.Fatalf("explain: %d %v\n%s", status, err, data)
	}
	return ex
}

// TestI17CapsPlacedWhereHonoured: a request setting NetworkInterface/ip
// lands on the provider whose adapter honours it (OCCI), though the first
// policy and configuration order prefer the CIMI one; the same request
// without ip lands on CIMI. Explain shows why: CIMI is rejected with the
// field named, and lists the request's fields.
func TestI17CapsPlacedWhereHonoured(t *testing.T) {
	b := i17CapsStart(t, "refuse")

	ex := b.explain(i17CapsVM("10.1.2.3"))
	if ex.Chosen == nil || ex.Chosen.ProviderID != "occi" || len(ex.Candidates) != 2 ||
		ex.Candidates[0].ProviderID != "plain" || ex.Candidates[0].Matched ||
		!strings.Contains(ex.Candidates[0].Note, "does not honour IaaS/NetworkInterface/ip") ||
		strings.Join(ex.Candidates[0].Unhonoured, ",") != "IaaS/NetworkInterface/ip" ||
		!strings.Contains(strings.Join(ex.Fields, ","), "IaaS/NetworkInterface/ip") {
		t.Fatalf("explanation with ip: %+v", ex)
	}

	status, _, data := adminDo(t, b.admin, http.MethodPost, "/csb/placement/explain", csbmsg.ConsumerMediaType, csbmsg.ConsumerMediaType, consumerBody(t, i17CapsVM("10.1.2.3")))
	if x := string(data); status != 200 || !strings.Contains(x, `unhonoured-fields="IaaS/NetworkInterface/ip"`) ||
		!strings.Contains(x, "<admin:request-field>IaaS/NetworkInterface/ip</admin:request-field>") || !strings.Contains(x, `chosen-provider="occi"`) {
		t.Fatalf("explanation as XML: %d\n%s", status, data)
	}

	a := b.create("", i17CapsVM("10.1.2.3"), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	a = b.waitJob("", a.jobID(), "success")
	if !strings.Contains(a.Resp.Reason, "provisioned at occi") || !strings.HasPrefix(a.Resp.JobInfo.CloudServiceURI, b.occi.URL) {
		t.Fatalf("the job with ip is not at the OCCI provider: %s", a.Body)
	}

	a = b.create("", i17CapsVM(""), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	a = b.waitJob("", a.jobID(), "success")
	if !strings.Contains(a.Resp.Reason, "provisioned at plain") {
		t.Fatalf("the job without ip is not at the first provider: %s", a.Body)
	}
}

// TestI17CapsRefusedWhenNoneHonours: a field no candidate's adapter
// honours is answered 420 naming it, and nothing is created.
func TestI17CapsRefusedWhenNoneHonours(t *testing.T) {
	b := i17CapsStart(t, "refuse")
	a := b.create("", i17CapsExports(), nil)
	if a.HTTP != 200 || a.Resp == nil {
		// Refusals are <CloudServiceResponse> documents too.
		msg, err := csbmsg.ParseConsumer(a.Body, csbmsg.Options{})
		if err != nil || msg.Response == nil {
			t.Fatalf("answer: %d %s", a.HTTP, a.Body)
		}
		a.Resp = msg.Response
	}
	if a.Resp.Status != csbmsg.StatusUnsupported || !strings.Contains(a.Resp.Reason, "DSaaS/ContainerObject/exports") ||
		!strings.Contains(a.Resp.Reason, "plain: its adapter does not honour DSaaS/ContainerObject/exports") {
		t.Fatalf("want 420 naming DSaaS/ContainerObject/exports: %s", a.Body)
	}
	if a.Resp.JobInfo != nil {
		t.Fatalf("a refused request got a job: %s", a.Body)
	}
	ex := b.explain(i17CapsExports())
	if ex.Chosen != nil || strings.Join(ex.Candidates[0].Unhonoured, ",") != "DSaaS/ContainerObject/exports" {
		t.Fatalf("explanation: %+v", ex)
	}
}

// TestI17CapsLenient: with "unhonoured_fields ignore" the same request is
// placed, and the answer names the ignored field in the
// Csb-Ignored-Fields header and the reason; the log says so once per
// consumer, however many such requests it sends.
func TestI17CapsLenient(t *testing.T) {
	b := i17CapsStart(t, "ignore")
	for i := range 2 {
		a := b.create("", i17CapsExports(), nil)
		mustStatus(t, a, csbmsg.StatusOK)
		if got := a.Header.Get("Csb-Ignored-Fields"); got != "DSaaS/ContainerObject/exports" {
			t.Fatalf("request %d: Csb-Ignored-Fields %q\n%s", i, got, a.Body)
		}
		a = b.waitJob("", a.jobID(), "success")
		if !strings.Contains(a.Resp.Reason, "ignored fields its adapter does not honour: DSaaS/ContainerObject/exports") ||
			a.Header.Get("Csb-Ignored-Fields") != "DSaaS/ContainerObject/exports" {
			t.Fatalf("request %d: the job's answer does not name the ignored field: %v\n%s", i, a.Header, a.Body)
		}
	}
	// Lenient still prefers a provider that honours every field.
	a := b.create("", i17CapsVM("10.1.2.3"), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if a.Header.Get("Csb-Ignored-Fields") != "" {
		t.Fatalf("nothing was ignored, yet: %v", a.Header)
	}
	if a = b.waitJob("", a.jobID(), "success"); !strings.Contains(a.Resp.Reason, "provisioned at occi") {
		t.Fatalf("lenient placement did not prefer the honouring provider: %s", a.Body)
	}
	// The log is read in order: once this last job's lines are in, so is
	// anything the two lenient jobs logged.
	b.p.WaitLog(a.jobID(), 10*time.Second)
	const msg = "request fields ignored"
	if n := strings.Count(b.p.Log(), msg); n != 1 {
		t.Fatalf("the log says %q %d times, want once per consumer:\n%s", msg, n, b.p.Log())
	}
}

// TestI17CapsEncryption: a job whose service is encrypted (the request
// asked for encryption, granted on the provider with encryption-support)
// answers with <encryption>true</encryption>.
func TestI17CapsEncryption(t *testing.T) {
	b := i17CapsStart(t, "refuse")
	req := i17CapsVM("")
	req.Encryption = new(bool)
	*req.Encryption = true
	a := b.create("", req, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if !strings.Contains(string(a.Body), "<encryption>true</encryption>") || a.Resp.Encryption == nil || !*a.Resp.Encryption {
		t.Fatalf("no <encryption>true</encryption> in the answer:\n%s", a.Body)
	}
	a = b.waitJob("", a.jobID(), "success")
	if !strings.Contains(a.Resp.Reason, "provisioned at occi") || !strings.Contains(string(a.Body), "<encryption>true</encryption>") {
		t.Fatalf("read of the encrypted job:\n%s", a.Body)
	}
	// A job that did not ask for encryption says nothing about it.
	a = b.create("", i17CapsVM(""), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if strings.Contains(string(a.Body), "<encryption>") {
		t.Fatalf("unencrypted job with <encryption>:\n%s", a.Body)
	}
}
