package tests

import (
	"fmt"
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
	if r := notify(t, pubA, "csp1", notification(t, id, 1, "csp1", "vm", "wf")); r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	sent := time.Now()
	eventually(t, 5*time.Second, "notification reaches the other broker", func() bool {
		return placeableTotal(catalogOf(t, b.AdminAddr)) == 2
	})
	t.Logf("a notification received by one broker reached the other's placement in %s", time.Since(sent).Round(10*time.Millisecond))
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
