package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// i17LifeSandbox starts the sandbox cloud in a Caddy process of its own
// (8 cores, 16 GB) and returns its port.
func i17LifeSandbox(t *testing.T) int {
	t.Helper()
	port := harness.FreePort(t)
	harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
}

http://127.0.0.1:%d {
	csb_sandbox cloud-a {
		capacity 8 16 200
		architecture x86_64
	}
}
`, port))
	return port
}

// i17LifeBroker starts a broker whose provider cloud-a is the sandbox at
// cloud (a static catalogue entry promising 64 cores), with the jobs
// options given.
func i17LifeBroker(t *testing.T, cloud int, jobsOpts string) *consumerBroker {
	t.Helper()
	port := harness.FreePort(t)
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider cloud-a {
			adapter cimi http://127.0.0.1:%[2]d/cimi/
			service vm {
				kind iaas
				compute {
					architecture x86_64
					cores 64
					memory 256
				}
			}
		}
		jobs {
			anonymous allow
			lease_min 1s
%[3]s
		}
	}
}

http://127.0.0.1:%[1]d {
	csb
}
`, port, cloud, jobsOpts))
	return &consumerBroker{t: t, p: p, url: fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", port)}
}

// i17LifeMachine creates a 2-core VM job and returns its id and machine
// URI at the sandbox.
func i17LifeMachine(t *testing.T, b *consumerBroker) (string, string) {
	t.Helper()
	vm := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: str("x86_64"), Cores: u64(2), Memory: u64(4)}}}
	a := b.create("", vm, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	a = b.waitJob("", a.jobID(), "success")
	return a.jobID(), a.Resp.JobInfo.CloudServiceURI
}

// i17LifeDelete deletes a machine at the sandbox, behind the broker's back.
func i17LifeDelete(t *testing.T, uri string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, uri, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("deleting %s at the sandbox: HTTP %d", uri, resp.StatusCode)
	}
	if st := getStatus(t, uri); st != http.StatusNotFound {
		t.Fatalf("machine still there: HTTP %d", st)
	}
}

// TestI17LifeVanishedMachineFound: a machine deleted at the sandbox
// behind the broker's back makes its job failed within check_interval,
// and a read says the resource is gone.
func TestI17LifeVanishedMachineFound(t *testing.T) {
	cloud := i17LifeSandbox(t)
	b := i17LifeBroker(t, cloud, "\t\t\tcheck_interval 1s\n\t\t\tcache_ttl 100ms")
	id, machine := i17LifeMachine(t, b)
	i17LifeDelete(t, machine)
	start := time.Now()
	a := b.waitJob("", id, "failed")
	if !strings.Contains(a.Resp.Reason, "resource gone at cloud-a") {
		t.Fatalf("read of the vanished job: %s", a.Body)
	}
	// Within the interval, two passes at most, plus the cache.
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("the vanished machine was seen after %s with check_interval 1s", el)
	}
}

// TestI17LifeEmptyPutOnVanishedMachine: an empty PUT (a lease renewal)
// on a machine that no longer exists does not renew it; the answer is
// 409 (a refusal carries no job-info) and the job is failed. The check pass is an hour away, so only the
// renewal's own check can see it.
func TestI17LifeEmptyPutOnVanishedMachine(t *testing.T) {
	cloud := i17LifeSandbox(t)
	b := i17LifeBroker(t, cloud, "\t\t\tcheck_interval 1h")
	id, machine := i17LifeMachine(t, b)
	i17LifeDelete(t, machine)
	a := b.do("", http.MethodPut, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusCannotUpdateResource)
	if !strings.Contains(a.Resp.Reason, "not renewed") || !strings.Contains(a.Resp.Reason, "gone") {
		t.Fatalf("empty PUT on a vanished machine: %s", a.Body)
	}
	if a = b.do("", http.MethodGet, "/"+id, nil, nil); a.jobStatus() != "failed" {
		t.Fatalf("read after the refused renewal: %s", a.Body)
	}
}

// TestI17LifeResizeReasonIsProviderMessage: a resize the sandbox refuses
// (the catalogue promises 64 cores, the cloud has 8) answers 409 with the
// sandbox's own message, not its JSON error document.
func TestI17LifeResizeReasonIsProviderMessage(t *testing.T) {
	cloud := i17LifeSandbox(t)
	b := i17LifeBroker(t, cloud, "\t\t\tcheck_interval 1h")
	id, _ := i17LifeMachine(t, b)
	body := consumerBody(t, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(32)}}})
	a := b.do("", http.MethodPut, "/"+id, body, nil)
	mustStatus(t, a, csbmsg.StatusCannotUpdateResource)
	r := a.Resp.Reason
	if !strings.Contains(r, "cores requested") || strings.Contains(r, "{") || strings.Contains(r, `"error"`) {
		t.Fatalf("resize refusal reason %q: want the sandbox's message without its JSON", r)
	}
}

// i17LifeNotice is a push notification of provider csp2 with the given
// status, offering one VM service (8 cores, 32 GB).
func i17LifeNotice(t *testing.T, seq uint64, st csbmsg.ServiceStatus) []byte {
	t.Helper()
	n := &csbmsg.Notification{ID: "csp2-push", SeqNumber: seq, Provider: csbmsg.Provider{ID: "csp2", Status: st},
		Services: []csbmsg.Service{{ID: "vm", Status: csbmsg.ServiceActive,
			IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: strp("x86_64"), Cores: u64p(8), Memory: u64p(32)}}}}}
	out, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Notification: n})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestI17LifeDeactivatedProviderLeftAlone: once provider csp2 notifies
// that it is deactivated, the broker does not contact it (draft
// 4.1.2.3.1.1): a resize is refused 409 naming the status, a renewal
// renews without calling it, and a remove is queued; the machine stays
// at the sandbox until csp2 notifies that it is active again, and then
// the reaper removes it.
func TestI17LifeDeactivatedProviderLeftAlone(t *testing.T) {
	cloud := i17LifeSandbox(t)
	port := harness.FreePort(t)
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider csp2 {
			adapter cimi http://127.0.0.1:%[2]d/cimi/
			publishers csp2
			push csp2-push
		}
		jobs {
			anonymous allow
			lease_min 1s
			reap_interval 200ms
			check_interval 1h
		}
	}
}

http://127.0.0.1:%[1]d {
	route {
		basic_auth /csb/publish* {
%[3]s		}
		csb
	}
}
`, port, cloud, basicAuthUsers(t, "csp2")))
	b := &consumerBroker{t: t, p: p, url: fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", port)}
	publish := fmt.Sprintf("http://127.0.0.1:%d/csb/publish", port)
	if r := notify(t, publish, "csp2", i17LifeNotice(t, 1, csbmsg.ServiceActive)); r.Status != csbmsg.StatusOK {
		t.Fatalf("notification: %+v", r)
	}
	id, machine := i17LifeMachine(t, b)
	if r := notify(t, publish, "csp2", i17LifeNotice(t, 2, csbmsg.ServiceDeactivated)); r.Status != csbmsg.StatusOK {
		t.Fatalf("notification: %+v", r)
	}

	body := consumerBody(t, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(4)}}})
	a := b.do("", http.MethodPut, "/"+id, body, nil)
	mustStatus(t, a, csbmsg.StatusCannotUpdateResource)
	if !strings.Contains(a.Resp.Reason, "deactivated") {
		t.Fatalf("resize at a deactivated provider: %s", a.Body)
	}
	a = b.do("", http.MethodPut, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if !strings.Contains(a.Resp.Reason, "not contacted") {
		t.Fatalf("renewal at a deactivated provider: %s", a.Body)
	}
	a = b.do("", http.MethodDelete, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if a.jobStatus() != "removed" || !strings.Contains(a.Resp.Reason, "queued") {
		t.Fatalf("remove at a deactivated provider: %s", a.Body)
	}
	if st := getStatus(t, machine); st != http.StatusOK {
		t.Fatalf("the deactivated provider's machine was removed: HTTP %d", st)
	}
	// Active again: the queued removal happens (the reaper runs every
	// 200 ms).
	if r := notify(t, publish, "csp2", i17LifeNotice(t, 3, csbmsg.ServiceActive)); r.Status != csbmsg.StatusOK {
		t.Fatalf("notification: %+v", r)
	}
	eventually(t, 10*time.Second, "queued removal done", func() bool { return getStatus(t, machine) == http.StatusNotFound })
}
