package tests

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// reloadingBrokerConfig is brokerConfig with a subscribed provider (csp1)
// and two push providers (csp2, csp3), and a response header naming the
// configuration's generation, so that each answer tells which
// configuration served it and each reload changes the configuration
// (Caddy skips a reload to an identical one).
func reloadingBrokerConfig(port int, users, subscribeURL string, generation int) string {
	return fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		subscriptions {
			retry 100ms 400ms
			timeout 5s
		}
%s		provider csp2 {
			publishers csp2
			push csp2-push
		}
		provider csp3 {
			publishers csp3
			push csp3-push
		}
	}
}

http://127.0.0.1:%d {
	header X-Config-Generation %d
	basic_auth {
%s	}
	csb
}
`, csp1(subscribeURL, "10m", "20s"), port, generation, users)
}

// attempt is what one POST of a notification got.
type attempt struct {
	generation string // X-Config-Generation of the answer
	err        error  // transport error
	httpStatus int
	status     csbmsg.Status
	reason     string
}

// retryable reports whether a provider should send the same notification
// again: the connection failed, the server was unavailable, or the broker
// said it could not store the notification (draft code 402, "send it
// again").
func (a attempt) retryable() bool {
	switch {
	case a.err != nil:
		return true
	case a.httpStatus == http.StatusBadGateway, a.httpStatus == http.StatusServiceUnavailable, a.httpStatus == http.StatusGatewayTimeout:
		return true
	case a.httpStatus == http.StatusOK && a.status == csbmsg.StatusCannotUpdate && strings.Contains(a.reason, "send it again"):
		return true
	}
	return false
}

func (a attempt) String() string {
	if a.err != nil {
		return "transport error: " + a.err.Error()
	}
	return fmt.Sprintf("HTTP %d, csbresponse %d %q (generation %s)", a.httpStatus, a.status, a.reason, a.generation)
}

func postNotification(client *http.Client, url, user string, body []byte) attempt {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return attempt{err: err}
	}
	req.Header.Set("Content-Type", csbmsg.PublishMediaType)
	req.SetBasicAuth(user, "pw-"+user)
	resp, err := client.Do(req)
	if err != nil {
		return attempt{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return attempt{err: err}
	}
	a := attempt{httpStatus: resp.StatusCode, generation: resp.Header.Get("X-Config-Generation")}
	if resp.StatusCode != http.StatusOK {
		return a
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != csbmsg.PublishMediaType {
		a.reason = "not a csb-publish answer: " + resp.Header.Get("Content-Type")
		return a
	}
	p, err := csbmsg.ParsePublish(data, csbmsg.Options{Mode: csbmsg.Strict})
	if err != nil || p.Response == nil {
		a.reason = fmt.Sprintf("not a csbresponse: %v", err)
		return a
	}
	a.status, a.reason = p.Response.Status, p.Response.Reason
	return a
}

// sender is a provider sending its notifications one after the other
// (seqnumber 1, 2, ...), each adding one service, until told to stop.
type sender struct {
	provider, user, id string
	progress           chan string // after each notification accepted: the generation that answered
	last               uint64      // the last seqnumber accepted
	retries            int         // notifications that needed a retry
	retried            []string    // why, for the log
	generations        map[string]bool
}

// run sends notifications until stop is closed, and returns the first
// answer that is neither an acceptance nor retryable, or a retry that
// failed for too long.
func (s *sender) run(url string, stop <-chan struct{}) error {
	client := &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer client.CloseIdleConnections()
	s.generations = map[string]bool{}
	for seq := uint64(1); ; seq++ {
		var gen string
		select {
		case <-stop:
			return nil
		default:
		}
		body, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Notification: &csbmsg.Notification{
			ID: s.id, SeqNumber: seq, Provider: csbmsg.Provider{ID: s.provider, Status: csbmsg.ServiceActive},
			Services: []csbmsg.Service{{ID: fmt.Sprintf("%s-s%d", s.provider, seq), Status: csbmsg.ServiceActive,
				IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: strp("x86_64"), Cores: u64p(8), Memory: u64p(32)}}}},
		}})
		if err != nil {
			return err
		}
		deadline := time.Now().Add(20 * time.Second)
		for try := 0; ; try++ {
			a := postNotification(client, url, s.user, body)
			if a.generation != "" {
				s.generations[a.generation] = true
			}
			gen = a.generation
			// The first attempt must be applied in sequence; a retry may
			// find it applied already (the answer to the first was lost).
			if a.httpStatus == http.StatusOK && a.status == csbmsg.StatusOK &&
				(a.reason == "OK: notification applied" || try > 0 && a.reason == fmt.Sprintf("OK: duplicate seqnumber %d already applied", seq)) {
				break
			}
			if !a.retryable() {
				return fmt.Errorf("%s seqnumber %d, attempt %d: %s", s.provider, seq, try+1, a)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s seqnumber %d: still not accepted after %d attempts: %s", s.provider, seq, try+1, a)
			}
			if try == 0 {
				s.retries++
				if len(s.retried) < 5 {
					s.retried = append(s.retried, fmt.Sprintf("seqnumber %d: %s", seq, a))
				}
			}
			// A provider's retry backoff, not a wait for an outcome.
			time.Sleep(10 * time.Millisecond)
		}
		s.last = seq
		select {
		case s.progress <- gen:
		default: // the test has not taken the last one yet
		}
	}
}

// TestLiveReloadWithoutGap (issue 3: reloads keep catalogue and
// subscriptions without a gap): three providers, one subscribed and two
// pushing, send sequenced notifications concurrently while the broker's
// configuration is reloaded several times through the admin API. Every
// notification is answered with an acceptance, or with a retryable outcome
// (a transport error, 502/503/504, or 402 "send it again") whose retry is
// accepted; none is lost: the catalogue ends with each provider's last
// seqnumber and every service each notification added; the subscription
// is kept (same id, no command sent), and sequencing goes on after the
// reloads.
func TestLiveReloadWithoutGap(t *testing.T) {
	const reloads = 6
	d := newProviderDouble(t)
	port := harness.FreePort(t)
	users := basicAuthUsers(t, "csp1", "csp2", "csp3")
	p := harness.Start(t, reloadingBrokerConfig(port, users, d.URL(), 0))
	url := fmt.Sprintf("http://127.0.0.1:%d/csb/publish", port)
	subID := d.expect(csbmsg.ActionCreate, 1, 20*time.Second).ID

	senders := []*sender{
		{provider: "csp1", user: "csp1", id: subID},
		{provider: "csp2", user: "csp2", id: "csp2-push"},
		{provider: "csp3", user: "csp3", id: "csp3-push"},
	}
	stop := make(chan struct{})
	errs := make(chan error, len(senders))
	var wg sync.WaitGroup
	for _, s := range senders {
		s.progress = make(chan string, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.run(url, stop)
		}()
	}
	stopped := false
	halt := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer halt()

	// awaitGeneration waits until every provider has had a notification
	// accepted by configuration gen.
	awaitGeneration := func(gen int) {
		t.Helper()
		want := fmt.Sprint(gen)
		for _, s := range senders {
			for got := ""; got != want; {
				select {
				case got = <-s.progress:
				case err := <-errs:
					halt()
					t.Fatalf("waiting for configuration %d: %v", gen, err)
				case <-time.After(30 * time.Second):
					halt()
					t.Fatalf("%s had no notification accepted by configuration %d in 30s", s.provider, gen)
				}
			}
		}
	}
	// Each reload waits until every provider has had a notification
	// accepted by the configuration it replaces, so the reloads happen
	// while they send.
	for gen := 1; gen <= reloads; gen++ {
		awaitGeneration(gen - 1)
		if err := p.Reload(reloadingBrokerConfig(port, users, d.URL(), gen)); err != nil {
			halt()
			t.Fatal(err)
		}
	}
	awaitGeneration(reloads)
	halt()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}

	total := 0
	for _, s := range senders {
		total += int(s.last)
		t.Logf("%s: %d notifications accepted, %d needed a retry %q, answered by configurations %v",
			s.provider, s.last, s.retries, s.retried, keys(s.generations))
	}

	cat := catalogOf(t, p.AdminAddr)
	for _, s := range senders {
		var found bool
		for _, pr := range cat.Providers {
			if pr.Provider.ID != s.provider {
				continue
			}
			found = true
			if pr.SeqNumber != s.last {
				t.Errorf("%s: the catalogue holds seqnumber %d; %d was the last accepted", s.provider, pr.SeqNumber, s.last)
			}
			have := map[string]bool{}
			for _, svc := range pr.Services {
				have[svc.Service.ID] = true
			}
			for seq := uint64(1); seq <= s.last; seq++ {
				if id := fmt.Sprintf("%s-s%d", s.provider, seq); !have[id] {
					t.Errorf("%s: service %s (seqnumber %d, accepted) is not in the catalogue", s.provider, id, seq)
				}
			}
			if len(have) != int(s.last) {
				t.Errorf("%s: %d services in the catalogue, %d notifications accepted", s.provider, len(have), s.last)
			}
			if s.provider == "csp1" && pr.Provider.SubscriptionID != subID {
				t.Errorf("csp1's subscription is %q after the reloads, was %q", pr.Provider.SubscriptionID, subID)
			}
		}
		if !found {
			t.Errorf("%s is not in the catalogue", s.provider)
		}
	}
	if placeableTotal(cat) != total {
		t.Errorf("%d services placeable, %d notifications accepted", placeableTotal(cat), total)
	}
	subs := subscriptionsOf(t, p.AdminAddr)
	if len(subs) != 1 || subs[0].ID != subID || !subs[0].Active {
		t.Errorf("subscriptions after the reloads: %+v", subs)
	}
	// Sequencing goes on where it was: the next seqnumber is applied, the
	// last one is a duplicate.
	s := senders[0]
	if r := notify(t, url, "csp1", notification(t, subID, s.last+1, "csp1", "csp1-after")); r.Reason != "OK: notification applied" {
		t.Errorf("seqnumber %d after the reloads: %+v", s.last+1, r)
	}
	if r := notify(t, url, "csp1", notification(t, subID, s.last+1, "csp1", "csp1-after")); !strings.Contains(r.Reason, "duplicate") {
		t.Errorf("seqnumber %d again: %+v", s.last+1, r)
	}
	// A reload that keeps the provider sends it nothing.
	d.quiet(time.Second)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
