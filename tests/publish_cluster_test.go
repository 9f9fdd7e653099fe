package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestLiveClusterSharesCatalogueAndSubscription runs two brokers on one
// storage directory: one subscription serves both, a notification received
// by one reaches the other's catalogue within the sync interval, the
// sequence continues across them, and when one stops (removing the
// subscription) the other subscribes again.
func TestLiveClusterSharesCatalogueAndSubscription(t *testing.T) {
	d := newProviderDouble(t)
	shared := filepath.Join(t.TempDir(), "data")
	providers := `		catalog {
			sync_interval 500ms
		}
` + csp1(d.URL(), "10m", "20s")
	cfg := func(port int, users string) string {
		return fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		subscriptions {
			retry 100ms 400ms
			sync_interval 500ms
		}
%s
	}
}

http://127.0.0.1:%d {
	basic_auth {
%s	}
	csb
}
`, providers, port, users)
	}
	users := basicAuthUsers(t, "csp1", "csp2")
	portA, portB := harness.FreePort(t), harness.FreePort(t)
	a := harness.Start(t, cfg(portA, users), harness.Options{DataDir: shared})
	id := d.expect(csbmsg.ActionCreate, 1, 20*time.Second).ID
	b := harness.Start(t, cfg(portB, users), harness.Options{DataDir: shared})
	d.quiet(time.Second) // b continues a's subscription
	eventually(t, 5*time.Second, "b holds a's subscription", func() bool {
		s := subscriptionsOf(t, b.AdminAddr)
		return len(s) == 1 && s[0].ID == id && s[0].Active
	})

	pubA := fmt.Sprintf("http://127.0.0.1:%d/csb/publish", portA)
	pubB := fmt.Sprintf("http://127.0.0.1:%d/csb/publish", portB)
	// Placement on b sees it: a dry run of a PaaS request on b's admin
	// API chooses csp1's workflow service, within the sync interval
	// (500 ms here; catalog { sync_interval } sets the bound).
	explainOnB := func() bool {
		status, _, data := adminDo(t, b.AdminAddr, http.MethodPost, "/csb/placement/explain", "", csbmsg.ConsumerMediaType,
			consumerBody(t, &csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "workflow"}}}))
		var ex struct {
			Chosen *struct {
				ProviderID string `json:"provider_id"`
				ServiceID  string `json:"service_id"`
			} `json:"chosen"`
		}
		return status == 200 && json.Unmarshal(data, &ex) == nil && ex.Chosen != nil && ex.Chosen.ProviderID == "csp1" && ex.Chosen.ServiceID == "wf"
	}
	if explainOnB() {
		t.Fatal("b placed on csp1 before any notification")
	}
	if r := notify(t, pubA, "csp1", notification(t, id, 1, "csp1", "vm", "wf")); r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	sent := time.Now()
	eventually(t, 5*time.Second, "notification reaches the other broker's placement", explainOnB)
	delay := time.Since(sent)
	t.Logf("a notification received by one broker reached the other's placement in %s", delay.Round(10*time.Millisecond))
	// The bound: sync_interval plus the write-behind delay (flush_delay,
	// 100 ms), with room for a loaded test machine.
	if delay > 500*time.Millisecond+100*time.Millisecond+2*time.Second {
		t.Fatalf("the notification took %s to reach the other broker, more than its sync interval allows", delay)
	}
	if placeableTotal(catalogOf(t, b.AdminAddr)) != 2 {
		t.Fatalf("b's catalogue: %+v", catalogOf(t, b.AdminAddr))
	}
	if r := notify(t, pubB, "csp1", notification(t, id, 2, "csp1", "vm", "wf", "sms")); r.Reason != "OK: notification applied" {
		t.Fatalf("sequence not shared: %+v", r)
	}
	eventually(t, 5*time.Second, "and back", func() bool {
		return placeableTotal(catalogOf(t, a.AdminAddr)) == 3
	})
	if r := notify(t, pubA, "csp1", notification(t, id, 2, "csp1", "vm")); r.Status != 200 || r.Reason == "OK: notification applied" {
		t.Fatalf("a duplicate sent to the other broker was applied: %+v", r)
	}

	// a stops and removes the subscription; b subscribes again.
	a.Stop()
	d.expect(csbmsg.ActionRemove, 2, 10*time.Second)
	c := d.expect(csbmsg.ActionCreate, 1, 10*time.Second)
	if c.ID == id {
		t.Fatal("re-subscribed with the removed id")
	}
	eventually(t, 5*time.Second, "b holds the new subscription", func() bool {
		s := subscriptionsOf(t, b.AdminAddr)
		return len(s) == 1 && s[0].ID == c.ID && s[0].Active
	})
}
