package tests

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// broker is a live Caddy with the csb app, basic_auth in front of the
// publish endpoint for the users csp1 and csp2, and the providers given.
type broker struct {
	*harness.Process
	port      int
	users     string
	publish   string
	providers string
}

func brokerConfig(port int, users, providers string) string {
	return fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		subscriptions {
			retry 100ms 400ms
			timeout 5s
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

func startBroker(t *testing.T, providers string, opts ...harness.Options) *broker {
	t.Helper()
	b := &broker{port: harness.FreePort(t), users: basicAuthUsers(t, "csp1", "csp2"), providers: providers}
	b.publish = fmt.Sprintf("http://127.0.0.1:%d/csb/publish", b.port)
	b.Process = harness.Start(t, brokerConfig(b.port, b.users, providers), opts...)
	return b
}

func (b *broker) reload(t *testing.T, providers string) {
	t.Helper()
	b.providers = providers
	if err := b.Reload(brokerConfig(b.port, b.users, providers)); err != nil {
		t.Fatal(err)
	}
}

func csp1(url, expires, frequency string) string {
	return fmt.Sprintf(`		provider csp1 {
			subscribe %s {
				expires %s
				frequency %s
			}
			publishers csp1
		}
`, url, expires, frequency)
}

const csp2Push = `		provider csp2 {
			publishers csp2
			push csp2-push
		}
`

// TestLivePublishLifecycle: create → notify → update → remove, with the
// values the provider adjusted in its answer honoured.
func TestLivePublishLifecycle(t *testing.T) {
	d := newProviderDouble(t)
	// The provider grants shorter values than asked (draft 4.1.2.4).
	d.setAnswer(func(s csbmsg.Subscription) (csbmsg.Status, *csbmsg.Subscription) {
		if s.Action == csbmsg.ActionRemove {
			return csbmsg.StatusOK, nil
		}
		return csbmsg.StatusOK, &csbmsg.Subscription{ID: s.ID, SeqNumber: s.SeqNumber, Action: s.Action, Expires: u64p(2), Frequency: u64p(1)}
	})
	b := startBroker(t, csp1(d.URL(), "10m", "20s"))
	c := d.expect(csbmsg.ActionCreate, 1, 20*time.Second)
	if c.Expires == nil || *c.Expires != 600 || c.Frequency == nil || *c.Frequency != 20 || c.ID == "" {
		t.Fatalf("create %+v", c)
	}
	id := c.ID

	r := notify(t, b.publish, "csp1", notification(t, id, 1, "csp1", "vm", "wf", "sms", "store"))
	if r.HTTPStatus != 200 || r.Status != 200 {
		t.Fatalf("notification: %+v", r)
	}
	cat := catalogOf(t, b.AdminAddr)
	for _, k := range []string{"IaaS", "PaaS", "SaaS", "DSaaS"} {
		if cat.Placeable[k] != 1 {
			t.Fatalf("placeable %v", cat.Placeable)
		}
	}
	var sub debugSubscription
	eventually(t, 10*time.Second, "granted values recorded", func() bool {
		s := subscriptionsOf(t, b.AdminAddr)
		if len(s) == 1 && s[0].Expires != nil && *s[0].Expires == 2 && s[0].Frequency != nil && *s[0].Frequency == 1 {
			sub = s[0]
			return true
		}
		return false
	})
	if sub.ID != id || sub.Status != "active" {
		t.Fatalf("subscription %+v", sub)
	}
	// Renewed at 80% of the 2 s granted, same id, next seqnumber.
	start := time.Now()
	u := d.expect(csbmsg.ActionUpdate, 2, 10*time.Second)
	if u.ID != id {
		t.Fatalf("update of id %s, want %s", u.ID, id)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("renewal took %s for a 2 s subscription", el)
	}
	// The provider leaves the configuration: remove with the next
	// seqnumber. Renewals may have happened meanwhile.
	b.reload(t, csp2Push)
	seq := uint64(3)
	for {
		s := d.next(10 * time.Second)
		if s.Action == csbmsg.ActionUpdate && s.SeqNumber == seq {
			seq++
			continue
		}
		if s.Action != csbmsg.ActionRemove || s.SeqNumber != seq || s.ID != id {
			t.Fatalf("got %+v, want remove seqnumber %d", s, seq)
		}
		break
	}
	d.quiet(500 * time.Millisecond)
	if s := subscriptionsOf(t, b.AdminAddr); len(s) != 0 {
		t.Fatalf("subscriptions after removal %+v", s)
	}
	// The provider's entries left with it.
	if cat := catalogOf(t, b.AdminAddr); placeableTotal(cat) != 0 {
		t.Fatalf("placeable after the provider left: %v", cat.Placeable)
	}
	b.WaitLog(`"subscription removed"`, 5*time.Second)
}

// TestLiveNotificationStatuses: every status the broker answers a
// notification with, sequencing (duplicate, old, gap → resync), who may
// notify, and the HTTP-level refusals.
func TestLiveNotificationStatuses(t *testing.T) {
	d := newProviderDouble(t)
	b := startBroker(t, csp1(d.URL(), "10m", "20s")+csp2Push)
	id := d.expect(csbmsg.ActionCreate, 1, 20*time.Second).ID

	steps := []struct {
		name   string
		user   string
		body   []byte
		status csbmsg.Status
		reason string
	}{
		{"first", "csp1", notification(t, id, 1, "csp1", "a", "b"), 200, "applied"},
		{"duplicate", "csp1", notification(t, id, 1, "csp1", "x"), 200, "duplicate"},
		{"next", "csp1", notification(t, id, 2, "csp1", "a"), 200, "applied"},
		{"gap", "csp1", notification(t, id, 5, "csp1", "c"), 200, "3 to 4 missing, resynchronising"},
		{"old", "csp1", notification(t, id, 3, "csp1", "x"), 200, "older"},
		{"syntax error", "csp1", []byte(`<csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish"><csbnotification`), 400, ""},
		{"not understood", "csp1", []byte(`<?xml version="1.0"?><csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish"><csbrequest><subscription id="x" seqnumber="1" action="create"/></csbrequest></csbpublish>`), 420, "csbnotification"},
		{"another provider", "csp2", notification(t, id, 6, "csp1", "evil"), 402, "may not publish"},
		{"another provider's subscription", "csp2", notification(t, id, 6, "csp2", "evil"), 402, "not a subscription of provider"},
		{"unknown id", "csp1", notification(t, "nope", 1, "csp1", "evil"), 404, "does not exist"},
		{"push", "csp2", notification(t, "csp2-push", 1, "csp2", "p"), 200, "applied"},
	}
	for _, s := range steps {
		r := notify(t, b.publish, s.user, s.body)
		if r.HTTPStatus != 200 || r.Status != s.status || !strings.Contains(r.Reason, s.reason) {
			t.Fatalf("%s: got HTTP %d, status %d %q; want HTTP 200, status %d containing %q", s.name, r.HTTPStatus, r.Status, r.Reason, s.status, s.reason)
		}
	}
	// The gap asked the provider for its full state.
	u := d.expect(csbmsg.ActionUpdate, 2, 10*time.Second)
	if u.ID != id {
		t.Fatal("resynchronised another id")
	}
	// Refusals changed nothing: a, b (seq 1), c (gap) for csp1, p for csp2.
	cat := catalogOf(t, b.AdminAddr)
	var got []string
	for _, p := range cat.Providers {
		for _, s := range p.Services {
			got = append(got, p.Provider.ID+"/"+s.Service.ID)
		}
	}
	if strings.Join(got, ",") != "csp1/a,csp1/b,csp1/c,csp2/p" {
		t.Fatalf("catalogue %v", got)
	}
	// After the resync the next notification is the full state.
	if r := notify(t, b.publish, "csp1", notification(t, id, 6, "csp1", "c")); r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	eventually(t, 5*time.Second, "withdrawal by the full notification", func() bool {
		return catalogOf(t, b.AdminAddr).Placeable["IaaS"] == 2 // csp1/c and csp2/p
	})

	// HTTP-level problems get HTTP statuses, never a protocol answer.
	req, _ := http.NewRequest(http.MethodGet, b.publish, nil)
	req.SetBasicAuth("csp1", "pw-csp1")
	if r := do(t, req); r.HTTPStatus != 405 || r.Allow != "POST, PUT" {
		t.Fatalf("GET: %+v", r)
	}
	if r := post(t, b.publish, "csp1", "text/xml", notification(t, id, 7, "csp1", "c")); r.HTTPStatus != 415 {
		t.Fatalf("text/xml: %+v", r)
	}
	if r := post(t, b.publish, "csp1", csbmsg.PublishMediaType+"; charset=koi8-r", notification(t, id, 7, "csp1", "c")); r.HTTPStatus != 415 {
		t.Fatalf("koi8-r: %+v", r)
	}
	if r := notify(t, b.publish, "csp1", bytes.Repeat([]byte(" "), 2<<20)); r.HTTPStatus != 413 {
		t.Fatalf("2 MiB: %+v", r)
	}
	if r := notify(t, b.publish, "", notification(t, id, 7, "csp1", "c")); r.HTTPStatus != 401 {
		t.Fatalf("no credentials: %+v", r)
	}
	// PUT is accepted like POST (draft B1 says PUT in its title).
	req, _ = http.NewRequest(http.MethodPut, b.publish, bytes.NewReader(notification(t, id, 7, "csp1", "c")))
	req.Header.Set("Content-Type", csbmsg.PublishMediaType)
	req.SetBasicAuth("csp1", "pw-csp1")
	if r := do(t, req); r.HTTPStatus != 200 || r.Status != 200 {
		t.Fatalf("PUT: %+v", r)
	}
}

// TestLiveSubscriptionAnswers: the broker's next step for each table 1
// answer of the provider.
func TestLiveSubscriptionAnswers(t *testing.T) {
	d := newProviderDouble(t)
	script := []csbmsg.Status{405, 420, 401, 200}
	d.setAnswer(func(s csbmsg.Subscription) (csbmsg.Status, *csbmsg.Subscription) {
		st := csbmsg.StatusOK
		if len(script) > 0 {
			st, script = script[0], script[1:]
		}
		if st == csbmsg.StatusOK && s.Action != csbmsg.ActionRemove {
			return st, &csbmsg.Subscription{ID: s.ID, SeqNumber: s.SeqNumber, Action: s.Action, Expires: u64p(8)}
		}
		return st, nil
	})
	b := startBroker(t, csp1(d.URL(), "10m", "20s"))
	c1 := d.expect(csbmsg.ActionCreate, 1, 20*time.Second) // → 405: a fresh id at once
	c2 := d.expect(csbmsg.ActionCreate, 1, 5*time.Second)  // → 420: again without expires/frequency
	if c2.ID == c1.ID || c2.Expires == nil {
		t.Fatalf("after 405: %+v", c2)
	}
	c3 := d.expect(csbmsg.ActionCreate, 1, 5*time.Second) // → 401: backoff, then create
	if c3.Expires != nil || c3.Frequency != nil {
		t.Fatalf("after 420 the optional elements must go: %+v", c3)
	}
	c4 := d.expect(csbmsg.ActionCreate, 1, 5*time.Second) // → 200, 8 s granted: renewal after 6.4 s
	if c4.ID == c3.ID {
		t.Fatal("a refused create must not reuse its id")
	}
	// Renewal: 402 → backoff, update again; 400 → again; 404 → create.
	d.setAnswer(func(s csbmsg.Subscription) (csbmsg.Status, *csbmsg.Subscription) {
		if s.Action == csbmsg.ActionCreate {
			return 200, &csbmsg.Subscription{ID: s.ID, SeqNumber: 1, Action: s.Action, Expires: u64p(600)}
		}
		switch s.SeqNumber {
		case 2:
			return 402, nil
		case 3:
			return 400, nil
		case 4:
			return 404, nil
		}
		return 403, nil // remove refused
	})
	for seq := uint64(2); seq <= 4; seq++ {
		if u := d.expect(csbmsg.ActionUpdate, seq, 10*time.Second); u.ID != c4.ID {
			t.Fatalf("update of %s, want %s", u.ID, c4.ID)
		}
	}
	c5 := d.expect(csbmsg.ActionCreate, 1, 5*time.Second)
	if c5.ID == c4.ID {
		t.Fatal("404 on update must create with a fresh id")
	}
	eventually(t, 5*time.Second, "active again", func() bool {
		s := subscriptionsOf(t, b.AdminAddr)
		return len(s) == 1 && s[0].ID == c5.ID && s[0].Status == "active"
	})
	// Caddy stops: remove, one try; 403 is logged.
	b.Stop()
	r := d.expect(csbmsg.ActionRemove, 2, 5*time.Second)
	if r.ID != c5.ID {
		t.Fatal("removed another id")
	}
	if !strings.Contains(b.Log(), `"subscription not removed"`) {
		t.Fatalf("403 on remove not logged\n%s", b.Log())
	}
	// Each failure was logged once per state change, not per try.
	if n := strings.Count(b.Log(), `"subscription command failed"`); n != 5 {
		t.Fatalf("%d failure lines, want 5 (one each for 405, 420, 401, 402 and 400)\n%s", n, b.Log())
	}
}

// TestLiveSubscriptionLapse: when renewals keep failing until the
// subscription lapses, its services leave placement but stay visible.
func TestLiveSubscriptionLapse(t *testing.T) {
	d := newProviderDouble(t)
	refuse := make(chan struct{})
	d.setAnswer(func(s csbmsg.Subscription) (csbmsg.Status, *csbmsg.Subscription) {
		select {
		case <-refuse:
			if s.Action == csbmsg.ActionUpdate {
				return csbmsg.StatusCannotUpdate, nil
			}
		default:
		}
		return csbmsg.StatusOK, &csbmsg.Subscription{ID: s.ID, SeqNumber: s.SeqNumber, Action: s.Action, Expires: u64p(3)}
	})
	b := startBroker(t, csp1(d.URL(), "10m", "20s"))
	id := d.expect(csbmsg.ActionCreate, 1, 20*time.Second).ID
	if r := notify(t, b.publish, "csp1", notification(t, id, 1, "csp1", "vm", "wf")); r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	if cat := catalogOf(t, b.AdminAddr); placeableTotal(cat) != 2 {
		t.Fatalf("placeable %v", cat.Placeable)
	}
	close(refuse)
	lapsed := time.Now().Add(3 * time.Second)
	eventually(t, 10*time.Second, "services leave placement", func() bool {
		return placeableTotal(catalogOf(t, b.AdminAddr)) == 0
	})
	if time.Now().Before(lapsed.Add(-time.Second)) {
		t.Fatal("services left placement long before the subscription could lapse")
	}
	cat := catalogOf(t, b.AdminAddr)
	if len(cat.Providers) != 1 || len(cat.Providers[0].Services) != 2 {
		t.Fatalf("lapsed services must stay visible: %+v", cat.Providers)
	}
	b.WaitLog(`"services left placement: expired"`, 5*time.Second)
	b.WaitLog(`"subscription lapsed"`, 5*time.Second)
	// The broker subscribes again; the new subscription's notification
	// brings the services back.
	var fresh csbmsg.Subscription
	for fresh.Action != csbmsg.ActionCreate {
		fresh = d.next(10 * time.Second)
	}
	if fresh.ID == id {
		t.Fatal("re-subscribed with the lapsed id")
	}
	eventually(t, 5*time.Second, "new subscription held", func() bool {
		s := subscriptionsOf(t, b.AdminAddr)
		return len(s) == 1 && s[0].ID == fresh.ID && s[0].Active
	})
	if r := notify(t, b.publish, "csp1", notification(t, fresh.ID, 1, "csp1", "vm")); r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	if cat := catalogOf(t, b.AdminAddr); cat.Placeable["IaaS"] != 1 {
		t.Fatalf("placeable %v", cat.Placeable)
	}
}

// TestLiveReloadAndRestart: a reload keeps the catalogue, the sequencing
// and the subscription (no command at all); a graceful restart removes
// and re-creates the subscription but starts warm; a crash continues the
// stored subscription.
func TestLiveReloadAndRestart(t *testing.T) {
	d := newProviderDouble(t)
	b := startBroker(t, csp1(d.URL(), "10m", "20s"))
	id := d.expect(csbmsg.ActionCreate, 1, 20*time.Second).ID
	for seq := uint64(1); seq <= 2; seq++ {
		if r := notify(t, b.publish, "csp1", notification(t, id, seq, "csp1", "vm", "wf")); r.Status != 200 {
			t.Fatalf("%+v", r)
		}
	}
	before := catalogOf(t, b.AdminAddr)

	b.reload(t, csp1(d.URL(), "10m", "20s")+csp2Push)
	d.quiet(time.Second) // nothing sent for a provider the reload kept
	after := catalogOf(t, b.AdminAddr)
	if placeableTotal(after) != 2 || after.Providers[0].SeqNumber != 2 || after.Providers[0].Provider.SubscriptionID != id {
		t.Fatalf("after reload %+v (before %+v)", after, before)
	}
	if r := notify(t, b.publish, "csp1", notification(t, id, 3, "csp1", "vm", "wf")); r.Status != 200 || r.Reason != "OK: notification applied" {
		t.Fatalf("sequencing lost on reload: %+v", r)
	}
	if r := notify(t, b.publish, "csp1", notification(t, id, 3, "csp1", "vm")); !strings.Contains(r.Reason, "duplicate") {
		t.Fatalf("%+v", r)
	}

	// Graceful restart: remove on stop, create on start, warm catalogue.
	b.Restart()
	d.expect(csbmsg.ActionRemove, 2, 10*time.Second)
	id2 := d.expect(csbmsg.ActionCreate, 1, 20*time.Second).ID
	if id2 == id {
		t.Fatal("a new subscription must have a new id")
	}
	warm := catalogOf(t, b.AdminAddr)
	if placeableTotal(warm) != 2 || warm.Providers[0].Provider.Expires == "" {
		t.Fatalf("not warm after restart: %+v", warm)
	}
	if r := notify(t, b.publish, "csp1", notification(t, id2, 1, "csp1", "vm", "wf")); r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	// Crash right after the acknowledgement: it is in storage already (a
	// journal file, not yet compacted into the provider's record). The
	// subscription's own record is written when the provider answers the
	// create, which the provider double may not have done yet.
	subRecord := filepath.Join(b.DataDir, "caddy", "csb", "subscriptions", "csp1")
	eventually(t, 5*time.Second, "subscription record written", func() bool {
		data, err := os.ReadFile(subRecord)
		return err == nil && strings.Contains(string(data), `"id":"`+id2+`"`) && strings.Contains(string(data), `"active":true`)
	})
	if r := notify(t, b.publish, "csp1", notification(t, id2, 2, "csp1", "vm", "wf")); r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	b.Kill()
	b.Restart()
	d.quiet(time.Second) // the stored subscription is continued, not re-created
	s := subscriptionsOf(t, b.AdminAddr)
	if len(s) != 1 || s[0].ID != id2 || !s[0].Active {
		t.Fatalf("subscription after a crash %+v", s)
	}
	if r := notify(t, b.publish, "csp1", notification(t, id2, 2, "csp1", "vm", "wf")); !strings.Contains(r.Reason, "duplicate") {
		t.Fatalf("seqnumber 2, acknowledged just before the crash, was lost: %+v", r)
	}
	if r := notify(t, b.publish, "csp1", notification(t, id2, 3, "csp1", "vm", "wf")); r.Reason != "OK: notification applied" {
		t.Fatalf("sequencing lost in the crash: %+v", r)
	}
	if r := notify(t, b.publish, "csp1", notification(t, id2, 1, "csp1", "vm", "wf")); !strings.Contains(r.Reason, "older") {
		t.Fatalf("%+v", r)
	}
	if placeableTotal(catalogOf(t, b.AdminAddr)) != 2 {
		t.Fatal("catalogue lost")
	}
	// The restarted broker compacts what the killed one left: the
	// provider's record holds the sequence, and the journal empties.
	record := filepath.Join(b.DataDir, "caddy", "csb", "catalog", "csp1")
	journal := filepath.Join(b.DataDir, "caddy", "csb", "catalog-journal")
	eventually(t, 20*time.Second, "journal compacted into the provider's record", func() bool {
		data, err := os.ReadFile(record)
		left, _ := filepath.Glob(filepath.Join(journal, "*.*"))
		return err == nil && strings.Contains(string(data), `"subscription_id":"`+id2+`"`) && len(left) == 0
	})
}
