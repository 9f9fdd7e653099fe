package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestCIMIPolicy: the csb.policy property names one of csb_cimi's
// policies; the broker's own (first: cloud-a) places the others. A dry
// run with csb.policy explains that policy's choice; an unknown policy is
// 400.
func TestCIMIPolicy(t *testing.T) {
	cloudB := harness.FreePort(t)
	b := startCIMIBroker(t, cimiOptions{
		cimiBlock: "policies cheapest round_robin",
		providers: fmt.Sprintf(`		provider cloud-b {
			adapter cimi http://127.0.0.1:%d/cimi/
			price 0.01
			service vm-b {
				kind iaas
				compute {
					architecture x86_64
					cores 8
					memory 16
				}
			}
		}`, cloudB),
		extra: fmt.Sprintf(`
http://127.0.0.1:%d {
	csb_sandbox cloud-b {
		capacity 8 16 200
		architecture x86_64
	}
}`, cloudB),
	})
	a := b.do("alice", "json", http.MethodPost, "/cimi/machines", cimiMachineCreate("json", "default", 1, 1, nil))
	a.must(t, "create", http.StatusCreated, http.StatusAccepted)
	if m := b.waitState("alice", "json", a.header.Get("Location"), "STARTED"); m.prop("csb.provider") != "cloud-a" || m.prop("csb.policy") != "" {
		t.Fatalf("the broker's policy:\n%s", m.body)
	}
	a = b.do("alice", "xml", http.MethodPost, "/cimi/machines", cimiMachineCreate("xml", "cheap", 1, 1, map[string]string{"csb.policy": "cheapest"}))
	a.must(t, "create with csb.policy", http.StatusCreated, http.StatusAccepted)
	if m := b.waitState("alice", "xml", a.header.Get("Location"), "STARTED"); m.prop("csb.provider") != "cloud-b" || m.prop("csb.policy") != "cheapest" {
		t.Fatalf("csb.policy cheapest:\n%s", m.body)
	}
	dry := b.do("alice", "json", http.MethodPost, "/cimi/machines?dryRun", cimiMachineCreate("json", "dry", 1, 1, map[string]string{"csb.policy": "cheapest"}))
	dry.must(t, "dry run", http.StatusOK)
	var exp struct {
		Policy string `json:"policy"`
		Chosen struct {
			ProviderID string `json:"provider_id"`
		} `json:"chosen"`
	}
	if err := json.Unmarshal(dry.body, &exp); err != nil || exp.Policy != "cheapest" || exp.Chosen.ProviderID != "cloud-b" {
		t.Fatalf("dry run with csb.policy: %v\n%s", err, dry.body)
	}
	b.do("alice", "json", http.MethodPost, "/cimi/machines", cimiMachineCreate("json", "x", 1, 1, map[string]string{"csb.policy": "weighted"})).must(t, "a policy not offered", http.StatusBadRequest)
}
