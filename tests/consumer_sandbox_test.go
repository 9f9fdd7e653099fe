package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestConsumerOnSandbox brokers IaaS and DSaaS jobs to the embedded
// sandbox cloud (csb_sandbox) through its native APIs, CIMI and CDMI,
// in one real Caddy, with "anonymous allow" and no authentication: the
// sandbox enforces its capacity, so a request the catalogue promises but
// the cloud cannot build fails with the cloud's own reason.
func TestConsumerOnSandbox(t *testing.T) {
	broker, cloud := harness.FreePort(t), harness.FreePort(t)
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider cloud-a {
			adapter cimi http://127.0.0.1:%[2]d/cimi/
			adapter cdmi http://127.0.0.1:%[2]d/cdmi/
			service vm {
				kind iaas
				compute {
					architecture x86_64
					cores 64
					memory 256
				}
			}
			service objects {
				kind dsaas
				objects data container
			}
		}
		jobs {
			anonymous allow
			lease_min 1s
		}
	}
}

http://127.0.0.1:%[1]d {
	csb
}

http://127.0.0.1:%[2]d {
	csb_sandbox cloud-a {
		capacity 8 16 200
		architecture x86_64
	}
}
`, broker, cloud))
	b := &consumerBroker{t: t, p: p, url: fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", broker)}

	vm := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: str("x86_64"), Cores: u64(2), Memory: u64(4)}}}
	a := b.create("", vm, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if a.jobStatus() != "success" && a.jobStatus() != "provisioning" {
		t.Fatalf("IaaS: %s", a.Body)
	}
	vmID := a.jobID()
	a = b.waitJob("", vmID, "success")
	machine := a.Resp.JobInfo.CloudServiceURI
	if !strings.Contains(machine, fmt.Sprintf("127.0.0.1:%d/cimi/", cloud)) {
		t.Fatalf("IaaS job not at the sandbox's CIMI API: %s", a.Body)
	}
	if st := getStatus(t, machine); st != http.StatusOK {
		t.Fatalf("the machine at the sandbox: HTTP %d", st)
	}

	ds := &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		// No container objectID: the CDMI adapter names the container
		// after the job and does not honour one (it would be a 420).
		ContainerObject: &csbmsg.ContainerObject{},
		DataObject:      &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: str("cat.txt")}, Mimetype: str("text/plain"), Value: str("meow")},
	}}
	a = b.create("", ds, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	dsID := a.jobID()
	a = b.waitJob("", dsID, "success")
	if !strings.Contains(a.Resp.JobInfo.CloudServiceURI, fmt.Sprintf("127.0.0.1:%d/cdmi/", cloud)) {
		t.Fatalf("DSaaS job not at the sandbox's CDMI API: %s", a.Body)
	}

	// The catalogue promises 64 cores; the sandbox has 8 (6 left).
	a = b.create("", &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: str("x86_64"), Cores: u64(32), Memory: u64(4)}}}, nil)
	mustStatus(t, a, csbmsg.StatusUnableToFindResource)
	if !strings.Contains(a.Resp.Reason, "cloud-a: failed") {
		t.Fatalf("capacity refusal: %s", a.Body)
	}

	for _, id := range []string{vmID, dsID} {
		a = b.do("", http.MethodDelete, "/"+id, nil, nil)
		mustStatus(t, a, csbmsg.StatusOK)
		if a.jobStatus() != "removed" {
			t.Fatalf("remove %s: %s", id, a.Body)
		}
	}
	// Removed means gone at the cloud.
	if st := getStatus(t, machine); st != http.StatusNotFound {
		t.Fatalf("the machine after removal: HTTP %d", st)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
