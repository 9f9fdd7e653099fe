package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// providerDouble is a cloud service provider for live tests: it records
// the subscription commands the broker sends and answers them as the test
// says (200 by default), and the test sends notifications in its name.
type providerDouble struct {
	t   testing.TB
	srv *httptest.Server
	cmd chan csbmsg.Subscription

	mu     sync.Mutex
	answer func(csbmsg.Subscription) (csbmsg.Status, *csbmsg.Subscription)
}

func newProviderDouble(t testing.TB) *providerDouble {
	d := &providerDouble{t: t, cmd: make(chan csbmsg.Subscription, 256)}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

// URL is the subscription URL.
func (d *providerDouble) URL() string { return d.srv.URL + "/csb/subscribe" }

// setAnswer decides the status (and the extra <subscription>) of the
// answers from now on.
func (d *providerDouble) setAnswer(fn func(csbmsg.Subscription) (csbmsg.Status, *csbmsg.Subscription)) {
	d.mu.Lock()
	d.answer = fn
	d.mu.Unlock()
}

func (d *providerDouble) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != csbmsg.PublishMediaType {
		http.Error(w, "want POST application/csb-publish+xml", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	p, err := csbmsg.ParsePublish(body, csbmsg.Options{Mode: csbmsg.Strict})
	if err != nil || p.Request == nil {
		d.reply(w, csbmsg.StatusSyntaxError, fmt.Sprint("bad request: ", err), nil)
		return
	}
	s := p.Request.Subscription
	d.cmd <- s
	d.mu.Lock()
	fn := d.answer
	d.mu.Unlock()
	status, granted := csbmsg.StatusOK, (*csbmsg.Subscription)(nil)
	if fn != nil {
		status, granted = fn(s)
	}
	d.reply(w, status, "as the test says", granted)
}

func (d *providerDouble) reply(w http.ResponseWriter, status csbmsg.Status, reason string, granted *csbmsg.Subscription) {
	out, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version,
		Response: &csbmsg.PublishResponse{Status: status, Reason: reason, Subscription: granted}})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", csbmsg.PublishMediaType)
	w.Write(out)
}

// next returns the next command the broker sent.
func (d *providerDouble) next(within time.Duration) csbmsg.Subscription {
	d.t.Helper()
	select {
	case s := <-d.cmd:
		return s
	case <-time.After(within):
		d.t.Fatalf("the broker sent no subscription command within %s", within)
	}
	return csbmsg.Subscription{}
}

// expect returns the next command and checks its action and seqnumber.
func (d *providerDouble) expect(action csbmsg.SubscriptionAction, seq uint64, within time.Duration) csbmsg.Subscription {
	d.t.Helper()
	s := d.next(within)
	if s.Action != action || s.SeqNumber != seq {
		d.t.Fatalf("got %s seqnumber %d (id %s), want %s seqnumber %d", s.Action, s.SeqNumber, s.ID, action, seq)
	}
	return s
}

// quiet checks that no command arrives for a while.
func (d *providerDouble) quiet(for_ time.Duration) {
	d.t.Helper()
	select {
	case s := <-d.cmd:
		d.t.Fatalf("unexpected command: %s seqnumber %d id %s", s.Action, s.SeqNumber, s.ID)
	case <-time.After(for_):
	}
}

func u64p(v uint64) *uint64 { return &v }

func strp(v string) *string { return &v }

// notification builds a csb-publish notification with one service per id
// (IaaS, PaaS, SaaS, DSaaS in turn).
func notification(t testing.TB, id string, seq uint64, provider string, services ...string) []byte {
	t.Helper()
	n := &csbmsg.Notification{ID: id, SeqNumber: seq, Provider: csbmsg.Provider{ID: provider, Status: csbmsg.ServiceActive}}
	for i, sid := range services {
		s := csbmsg.Service{ID: sid, Status: csbmsg.ServiceActive}
		switch i % 4 {
		case 0:
			s.IaaS = &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: strp("x86_64"), Cores: u64p(8), Memory: u64p(32)}}
		case 1:
			s.PaaS = &csbmsg.PaaS{Link: &csbmsg.Link{Rel: "workflow"}}
		case 2:
			s.SaaS = &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "sms"}}
		case 3:
			s.DSaaS = &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{}}
		}
		n.Services = append(n.Services, s)
	}
	out, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Notification: n})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// publishResult is what the broker answered to a notification.
type publishResult struct {
	HTTPStatus int
	Allow      string
	Status     csbmsg.Status
	Reason     string
}

// post sends body to the broker's publish endpoint as user (password
// "pw-"+user; no credentials when user is "").
func post(t testing.TB, url, user, contentType string, body []byte) publishResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if user != "" {
		req.SetBasicAuth(user, "pw-"+user)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) publishResult {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := publishResult{HTTPStatus: resp.StatusCode, Allow: resp.Header.Get("Allow")}
	if resp.StatusCode == http.StatusOK {
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != csbmsg.PublishMediaType {
			t.Fatalf("answer content type %q", resp.Header.Get("Content-Type"))
		}
		p, err := csbmsg.ParsePublish(data, csbmsg.Options{Mode: csbmsg.Strict})
		if err != nil || p.Response == nil {
			t.Fatalf("answer is not a csbresponse: %v\n%s", err, data)
		}
		r.Status, r.Reason = p.Response.Status, p.Response.Reason
	}
	return r
}

func notify(t testing.TB, url, user string, body []byte) publishResult {
	t.Helper()
	return post(t, url, user, csbmsg.PublishMediaType, body)
}

// basicAuthUsers returns basic_auth lines for the users, each with
// password "pw-"+user.
func basicAuthUsers(t testing.TB, users ...string) string {
	t.Helper()
	var b bytes.Buffer
	for _, u := range users {
		h, err := bcrypt.GenerateFromPassword([]byte("pw-"+u), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\t\t%s %s\n", u, h)
	}
	return b.String()
}

// debugCatalog is the admin debug view of the catalogue.
type debugCatalog struct {
	Version   uint64         `json:"version"`
	Placeable map[string]int `json:"placeable"`
	Providers []struct {
		Provider struct {
			ID             string `json:"id"`
			Status         string `json:"status"`
			SubscriptionID string `json:"subscription_id"`
			Expires        string `json:"expires"`
		} `json:"provider"`
		Services []struct {
			Service struct{ ID string } `json:"service"`
		} `json:"services"`
		Placeable int    `json:"placeable"`
		SeqNumber uint64 `json:"seqnumber"`
	} `json:"providers"`
}

type debugSubscription struct {
	ProviderID string  `json:"provider_id"`
	ID         string  `json:"id"`
	SeqNumber  uint64  `json:"seqnumber"`
	Active     bool    `json:"active"`
	Expires    *uint64 `json:"expires"`
	Frequency  *uint64 `json:"frequency"`
	Status     string  `json:"status"`
	LastError  string  `json:"last_error"`
}

func adminGet(t testing.TB, admin, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, data)
	}
}

func catalogOf(t testing.TB, admin string) debugCatalog {
	var c debugCatalog
	adminGet(t, admin, "/csb/debug/catalog", &c)
	return c
}

func subscriptionsOf(t testing.TB, admin string) []debugSubscription {
	var s []debugSubscription
	adminGet(t, admin, "/csb/debug/subscriptions", &s)
	return s
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func placeableTotal(c debugCatalog) int {
	n := 0
	for _, v := range c.Placeable {
		n += v
	}
	return n
}
