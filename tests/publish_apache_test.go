package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestLiveSubscriptionThroughApacheDigest puts the provider double behind
// a real Apache httpd with mod_auth_digest: the broker's subscription gets
// through with the right credentials (its client answers the Digest
// challenge) and is refused with the wrong ones.
func TestLiveSubscriptionThroughApacheDigest(t *testing.T) {
	d := newProviderDouble(t)
	ap := StartApache(t, ApacheOptions{
		Realm:   "provider",
		Users:   map[string]string{"broker": "right horse battery"},
		Backend: d.srv.URL,
	})
	subscribeURL := ap.URL + "/csb/subscribe"
	provider := func(password string) string {
		return fmt.Sprintf(`		provider csp1 {
			subscribe %s {
				expires 10m
			}
			auth digest broker %q
			publishers csp1
		}
`, subscribeURL, password)
	}

	// Right credentials: the create reaches the provider and is granted.
	b := startBroker(t, provider("right horse battery"))
	c := d.expect(csbmsg.ActionCreate, 1, 20*time.Second)
	eventually(t, 10*time.Second, "subscription active behind Apache", func() bool {
		s := subscriptionsOf(t, b.AdminAddr)
		return len(s) == 1 && s[0].ID == c.ID && s[0].Active
	})
	if r := notify(t, b.publish, "csp1", notification(t, c.ID, 1, "csp1", "vm")); r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	b.Stop()
	d.expect(csbmsg.ActionRemove, 2, 10*time.Second) // the remove got through too

	// Wrong credentials: Apache answers 401, nothing reaches the provider,
	// and the broker reports the refusal.
	b2 := startBroker(t, provider("wrong password"))
	eventually(t, 10*time.Second, "refusal recorded", func() bool {
		s := subscriptionsOf(t, b2.AdminAddr)
		return len(s) == 1 && strings.Contains(s[0].LastError, "401")
	})
	d.quiet(time.Second)
	// Between attempts the subscription is "retrying"; a sample taken
	// during the next attempt sees "creating", so wait for the former.
	eventually(t, 10*time.Second, "subscription retrying, inactive", func() bool {
		s := subscriptionsOf(t, b2.AdminAddr)
		return len(s) == 1 && !s[0].Active && s[0].Status == "retrying" && strings.Contains(s[0].LastError, "401")
	})
	if !strings.Contains(b2.Log(), `"subscription command failed"`) {
		t.Fatal("failure not logged")
	}
	if strings.Contains(b2.Log(), "wrong password") || strings.Contains(b.Log(), "right horse battery") {
		t.Fatal("a password appears in the log")
	}
	if !strings.Contains(ap.ErrorLog(), "broker") {
		t.Logf("apache error log:\n%s", ap.ErrorLog())
	}
}
