package tests

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// opsBroker is a broker with one OCCI provider (p1, a static IaaS
// service) and one provider that publishes through a subscription (csp2),
// with a header that exposes the csb placeholders.
type opsBroker struct {
	*consumerBroker
	double  *providerDouble
	publish string // the publish endpoint
	admin   string
}

func (b *opsBroker) config(reapInterval string) string {
	return fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider p1 {
			adapter occi %s/ {
				retries 0
			}
			service vm-p1 {
				kind iaas
				compute {
					architecture x64
					cores 8
					memory 32
					speed 3
				}
				storage {
					size 500
				}
			}
		}
		provider csp2 {
			subscribe %s {
				expires 10m
			}
			publishers csp2
		}
		jobs {
			lease_min 1s
			reap_interval %s
			poll_interval 20ms
		}
	}
}

http://127.0.0.1:%d {
	basic_auth {
		alice %s
		csp2 %s
	}
	header >Csb-Test-Placeholders "{http.csb.outcome}|{http.csb.provider.id}|{http.csb.job.id}|{http.csb.subscription.id}|{http.csb.publish.outcome}"
	csb
}
`, b.fixtures["p1"].URL, b.double.URL(), reapInterval, b.port, b.hashes["alice"], b.hashes["csp2"])
}

func startOpsBroker(t *testing.T) *opsBroker {
	t.Helper()
	b := &opsBroker{
		consumerBroker: &consumerBroker{t: t, port: harness.FreePort(t), providers: []string{"p1"},
			fixtures: map[string]*occitest.Server{"p1": occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})},
			hashes:   map[string]string{}},
		double: newProviderDouble(t),
	}
	for user, pw := range map[string]string{"alice": testUsers["alice"], "csp2": "pw-csp2"} {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.hashes[user] = string(h)
	}
	b.url = fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", b.port)
	b.publish = fmt.Sprintf("http://127.0.0.1:%d/csb/publish", b.port)
	b.p = harness.Start(t, b.config("100ms"))
	b.admin = b.p.AdminAddr
	return b
}

// notifyRaw sends a notification and returns the answer's placeholder
// header with the parsed answer.
func (b *opsBroker) notifyRaw(body []byte) (string, publishResult) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.publish, bytes.NewReader(body))
	req.Header.Set("Content-Type", csbmsg.PublishMediaType)
	req.SetBasicAuth("csp2", "pw-csp2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	hdr := resp.Header.Get("Csb-Test-Placeholders")
	return hdr, publishResult{HTTPStatus: resp.StatusCode}
}

// metricEquals polls /metrics until the series has the value.
func (b *opsBroker) metricEquals(want float64, name string, labels ...string) {
	b.t.Helper()
	var last metrics
	deadline := time.Now().Add(10 * time.Second)
	for {
		last = scrape(b.t, b.admin)
		if last.value(name, labels...) == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s%v = %v, want %v\n%s", name, labels, last.value(name, labels...), want, last.dump())
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

func (b *opsBroker) adminJSON(path string, v any) {
	b.t.Helper()
	status, ct, data := adminDo(b.t, b.admin, http.MethodGet, path, "", "", nil)
	if status != http.StatusOK || !strings.HasPrefix(ct, "application/json") {
		b.t.Fatalf("GET %s: %d %s\n%s", path, status, ct, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		b.t.Fatalf("GET %s: %v\n%s", path, err, data)
	}
}

type adminCatalogView struct {
	Version   uint64         `json:"version"`
	Placeable map[string]int `json:"placeable"`
	Providers []struct {
		Provider struct {
			ID             string    `json:"id"`
			Status         string    `json:"status"`
			Source         string    `json:"source"`
			SubscriptionID string    `json:"subscription_id"`
			Expires        time.Time `json:"expires"`
		} `json:"provider"`
		SeqNumber uint64 `json:"seqnumber"`
		Placeable int    `json:"placeable"`
		Services  []struct {
			Kind      string    `json:"kind"`
			Source    string    `json:"source"`
			Expires   time.Time `json:"expires"`
			Placeable bool      `json:"placeable"`
			Service   struct {
				ID     string
				Status string
			} `json:"service"`
		} `json:"services"`
	} `json:"providers"`
}

type adminJobsView struct {
	Count int `json:"count"`
	Jobs  []struct {
		ID           string `json:"id"`
		Owner        string `json:"owner"`
		State        string `json:"state"`
		ProviderID   string `json:"provider_id"`
		ServiceID    string `json:"service_id"`
		LeaseSeconds uint64 `json:"lease_seconds"`
		ExpiresIn    uint64 `json:"expires_in"`
		Attempts     []struct {
			ProviderID string `json:"provider_id"`
			Outcome    string `json:"outcome"`
		} `json:"attempts"`
	} `json:"jobs"`
}

type adminSubscriptionView struct {
	ProviderID       string  `json:"provider_id"`
	ID               string  `json:"id"`
	SeqNumber        uint64  `json:"seqnumber"`
	Status           string  `json:"status"`
	Expires          *uint64 `json:"expires"`
	RenewAt          string  `json:"renew_at"`
	LastError        string  `json:"last_error"`
	LastNotification *struct {
		SeqNumber uint64    `json:"seqnumber"`
		At        time.Time `json:"at"`
	} `json:"last_notification"`
}

// xmlNames returns the namespace-qualified names of every element of an
// XML document ("ns local").
func xmlNames(t *testing.T, data []byte) map[string]int {
	t.Helper()
	out := map[string]int{}
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("not well-formed XML: %v\n%s", err, data)
		}
		if se, ok := tok.(xml.StartElement); ok {
			out[se.Name.Space+" "+se.Name.Local]++
		}
	}
}

// TestOpsAdminAndMetrics drives notifications and jobs through a live
// broker and follows them in the admin API (JSON and XML) and in the
// caddy_csb_* metrics; a reload keeps the counters and serves the same
// views.
func TestOpsAdminAndMetrics(t *testing.T) {
	b := startOpsBroker(t)
	sub := b.double.expect(csbmsg.ActionCreate, 1, 20*time.Second)
	b.metricEquals(1, "caddy_csb_subscriptions", "state=active")
	m := scrape(t, b.admin)
	for _, c := range []struct {
		want   float64
		name   string
		labels []string
	}{
		{1, "caddy_csb_catalog_services", []string{"kind=IaaS", "status=active"}},
		{1, "caddy_csb_catalog_placeable_services", []string{"kind=IaaS"}},
		{0, "caddy_csb_catalog_services", []string{"kind=PaaS"}},
		{0, "caddy_csb_notifications_total", nil},
		{0, "caddy_csb_jobs", nil},
		{0, "caddy_csb_subscriptions", []string{"state=retrying"}},
	} {
		if got := m.value(c.name, c.labels...); got != c.want {
			t.Errorf("before traffic: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// Notifications: applied, duplicate, invalid.
	hdr, r := b.notifyRaw(notification(t, sub.ID, 1, "csp2", "vm", "wf"))
	if r.HTTPStatus != 200 || hdr != "200|csp2||"+sub.ID+"|applied" {
		t.Fatalf("applied notification: HTTP %d, placeholders %q", r.HTTPStatus, hdr)
	}
	if hdr, _ = b.notifyRaw(notification(t, sub.ID, 1, "csp2", "vm", "wf")); hdr != "200|csp2||"+sub.ID+"|duplicate" {
		t.Fatalf("duplicate: placeholders %q", hdr)
	}
	if hdr, _ = b.notifyRaw([]byte("<csbpublish")); hdr != "400||||invalid" {
		t.Fatalf("invalid: placeholders %q", hdr)
	}
	m = scrape(t, b.admin)
	for _, c := range []struct {
		want   float64
		name   string
		labels []string
	}{
		{1, "caddy_csb_notifications_total", []string{"status=200", "outcome=applied"}},
		{1, "caddy_csb_notifications_total", []string{"status=200", "outcome=duplicate"}},
		{1, "caddy_csb_notifications_total", []string{"status=400", "outcome=invalid"}},
		{2, "caddy_csb_catalog_services", []string{"kind=IaaS", "status=active"}},
		{1, "caddy_csb_catalog_services", []string{"kind=PaaS", "status=active"}},
		{2, "caddy_csb_catalog_providers", []string{"status=active"}},
	} {
		if got := m.value(c.name, c.labels...); got != c.want {
			t.Errorf("after notifications: %s%v = %v, want %v\n%s", c.name, c.labels, got, c.want, m.dump())
		}
	}

	// The applied notification is compacted into csp2's record: the
	// journal backlog drains (it is 1 until the compaction, 5 s at most).
	if !strings.Contains(m.dump(), "caddy_csb_catalog_journal_backlog") {
		t.Errorf("no caddy_csb_catalog_journal_backlog gauge:\n%s", m.dump())
	}
	b.metricEquals(0, "caddy_csb_catalog_journal_backlog")

	// The catalogue, filtered.
	var cat adminCatalogView
	b.adminJSON("/csb/catalog?provider=csp2", &cat)
	if len(cat.Providers) != 1 || cat.Providers[0].Provider.SubscriptionID != sub.ID || cat.Providers[0].SeqNumber != 1 ||
		len(cat.Providers[0].Services) != 2 || cat.Providers[0].Provider.Expires.IsZero() || cat.Placeable["IaaS"] != 2 {
		t.Fatalf("catalogue of csp2: %+v", cat)
	}
	cat = adminCatalogView{}
	b.adminJSON("/csb/catalog?kind=paas", &cat)
	if len(cat.Providers) != 1 || len(cat.Providers[0].Services) != 1 || cat.Providers[0].Services[0].Service.ID != "wf" ||
		!cat.Providers[0].Services[0].Placeable || cat.Providers[0].Services[0].Source != "published" {
		t.Fatalf("PaaS services: %+v", cat)
	}
	cat = adminCatalogView{}
	b.adminJSON("/csb/catalog?kind=IaaS&provider=p1", &cat)
	if len(cat.Providers) != 1 || cat.Providers[0].Services[0].Service.ID != "vm-p1" || cat.Providers[0].Services[0].Source != "static" ||
		!cat.Providers[0].Services[0].Expires.IsZero() {
		t.Fatalf("p1's IaaS: %+v", cat)
	}
	status, ct, data := adminDo(t, b.admin, http.MethodGet, "/csb/catalog?provider=csp2", csbmsg.PublishMediaType, "", nil)
	names := xmlNames(t, data)
	if status != 200 || !strings.HasPrefix(ct, csbmsg.PublishMediaType) || names[csbmsg.PublishNS+" Cloud-Service"] != 2 ||
		names[csbmsg.PublishNS+" Cloud-Service-Provider"] != 1 || names["urn:caddy-csb:admin service"] != 2 ||
		!bytes.Contains(data, []byte("<Cloud-Service-id>wf</Cloud-Service-id>")) {
		t.Fatalf("catalogue as XML: %d %s %v\n%s", status, ct, names, data)
	}
	if status, _, _ = adminDo(t, b.admin, http.MethodGet, "/csb/catalog", csbmsg.ConsumerMediaType, "", nil); status != http.StatusNotAcceptable {
		t.Fatalf("catalogue as csb-consumer: %d", status)
	}
	if status, _, _ = adminDo(t, b.admin, http.MethodGet, "/csb/catalog?kind=vaas", "", "", nil); status != http.StatusBadRequest {
		t.Fatalf("unknown kind: %d", status)
	}

	// The subscription, with its last notification.
	var subs []adminSubscriptionView
	b.adminJSON("/csb/subscriptions", &subs)
	if len(subs) != 1 || subs[0].ID != sub.ID || subs[0].Status != "active" || subs[0].Expires == nil || *subs[0].Expires != 600 ||
		subs[0].RenewAt == "" || subs[0].LastNotification == nil || subs[0].LastNotification.SeqNumber != 1 {
		t.Fatalf("subscriptions: %+v", subs)
	}
	status, _, data = adminDo(t, b.admin, http.MethodGet, "/csb/subscriptions", "application/xml", "", nil)
	if status != 200 || !bytes.Contains(data, []byte(`<subscription id="`+sub.ID+`" seqnumber="1" action="create">`)) ||
		!bytes.Contains(data, []byte("<expires>600</expires>")) || !bytes.Contains(data, []byte(`last-notification-seqnumber="1"`)) {
		t.Fatalf("subscriptions as XML: %d\n%s", status, data)
	}

	// Explain: p1 would be chosen, csp2's x86_64 machine does not match;
	// nothing is created.
	before := b.inventory()["p1"]
	body := consumerBody(t, vmRequest(2, 4))
	status, _, data = adminDo(t, b.admin, http.MethodPost, "/csb/placement/explain", "", csbmsg.ConsumerMediaType, body)
	var ex struct {
		Kind       string `json:"kind"`
		Policy     string `json:"policy"`
		Chosen     *struct{ ProviderID, ServiceID string }
		Candidates []struct {
			ProviderID string   `json:"provider_id"`
			Matched    bool     `json:"matched"`
			Rank       int      `json:"rank"`
			Score      *float64 `json:"score"`
			Note       string   `json:"note"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal(data, &ex); status != 200 || err != nil {
		t.Fatalf("explain: %d %v\n%s", status, err, data)
	}
	if ex.Kind != "IaaS" || ex.Policy != "first" || ex.Chosen == nil || len(ex.Candidates) != 2 ||
		ex.Candidates[0].ProviderID != "p1" || !ex.Candidates[0].Matched || ex.Candidates[0].Rank != 0 || ex.Candidates[0].Score == nil ||
		ex.Candidates[1].ProviderID != "csp2" || ex.Candidates[1].Matched || !strings.Contains(ex.Candidates[1].Note, "architecture") {
		t.Fatalf("explanation:\n%s", data)
	}
	status, _, data = adminDo(t, b.admin, http.MethodPost, "/csb/placement/explain", csbmsg.ConsumerMediaType, csbmsg.ConsumerMediaType, body)
	if names := xmlNames(t, data); status != 200 || names[csbmsg.ConsumerNS+" CloudServiceRequest"] != 1 || names["urn:caddy-csb:admin candidate"] != 2 ||
		!bytes.Contains(data, []byte(`chosen-provider="p1"`)) {
		t.Fatalf("explanation as XML: %d\n%s", status, data)
	}
	if status, _, data = adminDo(t, b.admin, http.MethodPost, "/csb/placement/explain", "", csbmsg.ConsumerMediaType, []byte("<nope/>")); status != http.StatusBadRequest {
		t.Fatalf("explain of a bad body: %d %s", status, data)
	}
	if status, _, _ = adminDo(t, b.admin, http.MethodGet, "/csb/placement/explain", "", "", nil); status != http.StatusMethodNotAllowed {
		t.Fatalf("GET explain: %d", status)
	}
	m = scrape(t, b.admin)
	if b.inventory()["p1"] != before || m.value("caddy_csb_jobs") != 0 || m.value("caddy_csb_placement_duration_seconds") != 0 {
		t.Fatalf("explain created something: p1 %d → %d\n%s", before, b.inventory()["p1"], m.dump())
	}

	// A job: the gauges, the placement and adapter histograms, the
	// consumer counter and the admin views follow it.
	a := b.create("alice", vmRequest(2, 4), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	id := a.jobID()
	if got := a.Header.Get("Csb-Test-Placeholders"); got != "200|p1|"+id+"||" {
		t.Fatalf("consumer placeholders %q", got)
	}
	m = scrape(t, b.admin)
	for _, c := range []struct {
		want   float64
		name   string
		labels []string
	}{
		{1, "caddy_csb_jobs", []string{"state=success"}},
		{1, "caddy_csb_placement_duration_seconds", []string{"kind=IaaS", "result=placed"}},
		{1, "caddy_csb_consumer_answers_total", []string{"method=POST", "status=200"}},
		{0, "caddy_csb_adapter_errors_total", nil},
	} {
		if got := m.value(c.name, c.labels...); got != c.want {
			t.Errorf("after a create: %s%v = %v, want %v\n%s", c.name, c.labels, got, c.want, m.dump())
		}
	}
	if m.value("caddy_csb_adapter_call_duration_seconds", "provider=p1", "operation=provision") < 1 {
		t.Errorf("no provision call timed\n%s", m.dump())
	}
	var js adminJobsView
	b.adminJSON("/csb/jobs?owner=alice", &js)
	if js.Count != 1 || js.Jobs[0].ID != id || js.Jobs[0].State != "success" || js.Jobs[0].ProviderID != "p1" || js.Jobs[0].ServiceID != "vm-p1" ||
		js.Jobs[0].LeaseSeconds != 3600 || js.Jobs[0].ExpiresIn < 3500 || len(js.Jobs[0].Attempts) != 1 || js.Jobs[0].Attempts[0].Outcome != "success" {
		t.Fatalf("jobs of alice: %+v", js)
	}
	for q, want := range map[string]int{"owner=bob": 0, "state=failed": 0, "state=pending,success": 1, "provider=p1": 1, "provider=csp2": 0, "kind=dsaas": 0} {
		js = adminJobsView{}
		b.adminJSON("/csb/jobs?"+q, &js)
		if js.Count != want {
			t.Errorf("jobs?%s: %d, want %d", q, js.Count, want)
		}
	}
	var full struct {
		ID      string `json:"id"`
		Request struct {
			IaaS struct{ Compute struct{ Cores int } }
		} `json:"request"`
	}
	b.adminJSON("/csb/jobs/"+id, &full)
	if full.ID != id || full.Request.IaaS.Compute.Cores != 2 {
		t.Fatalf("one job: %+v", full)
	}
	if status, _, _ = adminDo(t, b.admin, http.MethodGet, "/csb/jobs/not-a-job", "", "", nil); status != http.StatusNotFound {
		t.Fatalf("unknown job: %d", status)
	}
	status, _, data = adminDo(t, b.admin, http.MethodGet, "/csb/jobs", csbmsg.ConsumerMediaType, "", nil)
	if !bytes.Contains(data, []byte("<job-id>"+id+"</job-id>")) || xmlNames(t, data)[csbmsg.ConsumerNS+" response-job-info"] != 1 {
		t.Fatalf("jobs as XML: %d\n%s", status, data)
	}
	// An unknown job id is named by the placeholder too.
	if got := b.do("alice", http.MethodGet, "/unknownjob", nil, nil).Header.Get("Csb-Test-Placeholders"); got != "408||unknownjob||" {
		t.Fatalf("unknown job placeholders %q", got)
	}

	// The lease ends: reclaimed once, the job expired.
	mustStatus(t, b.do("alice", http.MethodPut, "/"+id, nil, map[string]string{"Csb-Lease": "1"}), csbmsg.StatusOK)
	b.waitJob("alice", id, "expired")
	b.metricEquals(1, "caddy_csb_lease_reclaims_total", "result=reclaimed")
	b.metricEquals(1, "caddy_csb_jobs", "state=expired")
	b.metricEquals(0, "caddy_csb_jobs", "state=success")
	b.metricEquals(1, "caddy_csb_adapter_call_duration_seconds", "provider=p1", "operation=remove")

	// A reload keeps the counters and serves the same views; counting
	// goes on.
	if err := b.p.Reload(b.config("150ms")); err != nil {
		t.Fatal(err)
	}
	m = scrape(t, b.admin)
	if m.value("caddy_csb_notifications_total", "outcome=applied") != 1 || m.value("caddy_csb_lease_reclaims_total") != 1 ||
		m.value("caddy_csb_jobs", "state=expired") != 1 || m.value("caddy_csb_subscriptions", "state=active") != 1 {
		t.Fatalf("after a reload:\n%s", m.dump())
	}
	if r := notify(t, b.publish, "csp2", notification(t, sub.ID, 2, "csp2", "vm", "wf", "sms")); r.Status != 200 {
		t.Fatalf("%+v", r)
	}
	b.metricEquals(2, "caddy_csb_notifications_total", "status=200", "outcome=applied")
	b.metricEquals(1, "caddy_csb_catalog_services", "kind=SaaS", "status=active")
	subs = nil
	b.adminJSON("/csb/subscriptions", &subs)
	if len(subs) != 1 || subs[0].LastNotification == nil || subs[0].LastNotification.SeqNumber != 2 {
		t.Fatalf("subscriptions after the reload: %+v", subs)
	}
	if strings.Contains(b.p.Log(), "duplicate metrics collector") || strings.Contains(b.p.Log(), "registering metrics") {
		t.Fatalf("metrics registration failed on reload:\n%s", b.p.Log())
	}

	// The log: one line per state change, with the ids as fields, and no
	// secret.
	logLines := strings.Split(b.p.Log(), "\n")
	lineWith := func(msg string, fields ...string) {
		t.Helper()
		n := 0
		for _, l := range logLines {
			if !strings.Contains(l, `"msg":"`+msg+`"`) {
				continue
			}
			n++
			for _, f := range fields {
				if !strings.Contains(l, f) {
					t.Errorf("log line %q lacks %s:\n%s", msg, f, l)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d log lines %q, want one", n, msg)
		}
	}
	lineWith("subscription active", `"provider_id":"csp2"`, `"subscription_id":"`+sub.ID+`"`)
	lineWith("job accepted", `"job_id":"`+id+`"`, `"owner":"alice"`)
	lineWith("job succeeded", `"job_id":"`+id+`"`, `"provider_id":"p1"`, `"service_id":"vm-p1"`)
	lineWith("job expired", `"job_id":"`+id+`"`, `"provider_id":"p1"`, `"from":"success"`)
	for _, secret := range []string{testUsers["alice"], "pw-csp2", b.hashes["alice"], b.hashes["csp2"]} {
		if strings.Contains(b.p.Log(), secret) {
			t.Fatalf("the log holds a secret (%.4s...)", secret)
		}
	}
}
