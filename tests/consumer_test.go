package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// The draft's example 5.2 request, as printed: placeholders ("......")
// where the schema wants integers and enumerations.
const draftConsumerExample = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<csbconsumer version="1.0" xmlns="urn:ietf:params:xml:ns:csb-consumer">
    <CloudServiceRequest>
       <IaaS>
          <compute>
                <architecture>......</architecture>
            <cores >......</cores>
            <hostname>......</hostname>
            <speed>......</speed>
            <memory>......</memory>
            <status>......</status>
          </compute>
          <Network>
            <vlan>......</vlan>
            <VLANlabel>......</VLANlabel>
            <address>......</address>
            <gateway>......</gateway>
            <allocation>......</allocation>
          </Network>
          <Storage>
            <size>......</size>
            <status>......</status>
          </Storage>
       </IaaS>
    </CloudServiceRequest>
</csbconsumer>
`

// networkService adds a service that offers the draft example's network.
func networkService(id string) string {
	return fmt.Sprintf(`			service vm-net-%s {
				kind iaas
				compute {
					architecture x64
					cores 4
					memory 8
					speed 2
				}
				network {
					vlan 343
					vlan_label external-dmz
					allocation static
				}
				storage {
					size 100
				}
			}`, id)
}

// TestConsumerDraftExample sends the draft's consumer example: as printed
// it is a 400 (its placeholders are not integers or enumeration values);
// with real values in the same places, and the element spellings of the
// example (<Network>, <Storage>), it is placed, provisioned at an OCCI
// provider and answered like the draft's response.
func TestConsumerDraftExample(t *testing.T) {
	b := startConsumerBroker(t, brokerOptions{provider: networkService})
	a := b.do("alice", http.MethodPost, "", []byte(draftConsumerExample), nil)
	mustStatus(t, a, csbmsg.StatusSyntaxError)
	if a.Resp.JobInfo != nil || a.Resp.Reason == "" {
		t.Fatalf("a 400 carries no job and says why: %s", a.Body)
	}

	real := strings.NewReplacer(
		"<architecture>......", "<architecture>x64",
		"<cores >......", "<cores >2",
		"<hostname>......", "<hostname>web1.example.net",
		"<speed>......", "<speed>2",
		"<memory>......", "<memory>4",
		"<status>......</status>\n          </compute>", "<status>active</status>\n          </compute>",
		"<vlan>......", "<vlan>343",
		"<VLANlabel>......", "<VLANlabel>external-dmz",
		"<address>......", "<address>192.0.2.0/24",
		"<gateway>......", "<gateway>192.0.2.1",
		"<allocation>......", "<allocation>static",
		"<size>......", "<size>20",
		"<status>......</status>\n          </Storage>", "<status>online</status>\n          </Storage>",
	).Replace(draftConsumerExample)
	before := b.inventory()
	a = b.do("alice", http.MethodPost, "", []byte(real), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	ji := a.Resp.JobInfo
	if ji == nil || ji.JobID == "" || ji.JobStatus != "success" || ji.Expires == 0 || !strings.HasPrefix(ji.CloudServiceURI, b.fixtures["p1"].URL) {
		t.Fatalf("response-job-info %+v\n%s", ji, a.Body)
	}
	if !strings.Contains(a.Resp.Reason, "provider p1, service vm-net-p1") {
		t.Fatalf("the reason should name the provider and why: %q", a.Resp.Reason)
	}
	g := a.Resp.IaaS
	if g == nil || g.Compute == nil || g.Compute.Cores == nil || *g.Compute.Cores != 2 || g.Network == nil || g.Storage == nil {
		t.Fatalf("granted resources not echoed: %s", a.Body)
	}
	if after := b.inventory(); after["p1"] <= before["p1"] {
		t.Fatalf("nothing created at the provider: %v → %v", before, after)
	}
	if loc := a.Header.Get("Location"); loc != "/csb/consumer/"+ji.JobID {
		t.Fatalf("Location %q", loc)
	}
}
