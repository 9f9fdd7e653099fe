package tests

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// quotaOptions returns broker options whose providers cost price per core
// per hour and whose csb block holds the quota block given (its inside).
func quotaOptions(price, quota string) brokerOptions {
	return brokerOptions{
		// The placement subdirective is followed by the quota block in
		// the csb block (brokerOptions has no field for it).
		placement: "first\n\t\tquota {\n" + quota + "\n\t\t}",
		provider:  func(string) string { return "\t\t\tprice " + price },
	}
}

// quotaExplanation is the part of POST /csb/placement/explain read here.
type quotaExplanation struct {
	Chosen *struct {
		ProviderID string `json:"provider_id"`
	} `json:"chosen"`
	Quota *struct {
		User     string   `json:"user"`
		Scopes   []string `json:"scopes"`
		Admitted bool     `json:"admitted"`
		Scope    string   `json:"scope"`
		Limit    string   `json:"limit"`
		Reason   string   `json:"reason"`
		Cost     float64  `json:"cost"`
	} `json:"quota"`
}

func quotaExplain(t *testing.T, b *consumerBroker, user string, cores uint64, query string) quotaExplanation {
	t.Helper()
	status, _, data := adminDo(t, b.p.AdminAddr, http.MethodPost, "/csb/placement/explain?user="+user+query, "", csbmsg.ConsumerMediaType, consumerBody(t, vmRequest(cores, 1)))
	var ex quotaExplanation
	if status != http.StatusOK || json.Unmarshal(data, &ex) != nil || ex.Quota == nil {
		t.Fatalf("explain: %d %s", status, data)
	}
	return ex
}

// TestQuotaCoresLive: a consumer at its cores quota is refused with 408
// and a reason naming the limit, explain names the limit too, a user
// without a quota is not held back, and a removal frees the cores.
func TestQuotaCoresLive(t *testing.T) {
	b := startConsumerBroker(t, quotaOptions("0.5", "\t\t\tuser alice {\n\t\t\t\tcores 16\n\t\t\t}"))
	first := b.create("alice", vmRequest(8, 1), nil)
	mustStatus(t, first, csbmsg.StatusOK)
	if got := first.Header.Get("Csb-Cost-Detail"); got != "state=accruing, rate=4, price=0.5, unit=core, units=8" {
		t.Fatalf("Csb-Cost-Detail %q", got)
	}
	mustStatus(t, b.create("alice", vmRequest(8, 1), nil), csbmsg.StatusOK)
	if ex := quotaExplain(t, b, "alice", 8, ""); ex.Quota.Admitted || ex.Quota.Limit != "cores" || ex.Quota.Scope != "user alice" || ex.Chosen == nil {
		t.Fatalf("explain at the quota: %+v", ex.Quota)
	}
	status, _, xml := adminDo(t, b.p.AdminAddr, http.MethodPost, "/csb/placement/explain?user=alice&format=xml", "", csbmsg.ConsumerMediaType, consumerBody(t, vmRequest(8, 1)))
	if status != http.StatusOK || !strings.Contains(string(xml), `<admin:quota user="alice" admitted="false" scope="user alice" limit="cores"`) {
		t.Fatalf("explain as XML: %d\n%s", status, xml)
	}
	over := b.create("alice", vmRequest(2, 1), nil)
	mustStatus(t, over, csbmsg.StatusUnableToFindResource)
	if want := "quota exceeded: cores limit of user alice: 16 cores at most; 16 held, the request asks for 2 more"; over.Resp.Reason != want || over.jobID() != "" {
		t.Fatalf("over the quota: %s", over.Body)
	}
	// bob has no quota.
	if ex := quotaExplain(t, b, "bob", 8, ""); !ex.Quota.Admitted || len(ex.Quota.Scopes) != 0 {
		t.Fatalf("explain for bob: %+v", ex.Quota)
	}
	mustStatus(t, b.create("bob", vmRequest(8, 1), nil), csbmsg.StatusOK)
	mustStatus(t, b.do("alice", http.MethodDelete, "/"+first.jobID(), nil, nil), csbmsg.StatusOK)
	if ex := quotaExplain(t, b, "alice", 8, ""); !ex.Quota.Admitted {
		t.Fatalf("explain after a removal: %+v", ex.Quota)
	}
	mustStatus(t, b.create("alice", vmRequest(8, 1), nil), csbmsg.StatusOK)
}

// TestQuotaSpendLive: a spend limit stops a request whose projected cost
// (what is committed for the live jobs' leases plus its own lease) passes
// it; explain says so first.
func TestQuotaSpendLive(t *testing.T) {
	b := startConsumerBroker(t, quotaOptions("0.5", "\t\t\tuser * {\n\t\t\t\tspend 10 day\n\t\t\t}"))
	// 8 cores × 0.5 × 1 h = 4.
	mustStatus(t, b.create("alice", vmRequest(8, 1), map[string]string{"Csb-Lease": "3600"}), csbmsg.StatusOK)
	// 8 cores × 0.5 × 2 h = 8 more: 12 > 10.
	ex := quotaExplain(t, b, "alice", 8, "&lease=2h")
	if ex.Quota.Admitted || ex.Quota.Limit != "spend per day" || ex.Quota.Cost != 8 {
		t.Fatalf("explain: %+v", ex.Quota)
	}
	over := b.create("alice", vmRequest(8, 1), map[string]string{"Csb-Lease": "7200"})
	mustStatus(t, over, csbmsg.StatusUnableToFindResource)
	if !strings.HasPrefix(over.Resp.Reason, "quota exceeded: spend per day limit of user alice (the default for users): 10 at most; 4") ||
		!strings.HasSuffix(over.Resp.Reason, "the request would cost 8 for its lease") {
		t.Fatalf("over the spend: %s", over.Body)
	}
	// A shorter lease fits: 4 + 4.
	mustStatus(t, b.create("alice", vmRequest(8, 1), map[string]string{"Csb-Lease": "3600"}), csbmsg.StatusOK)
	// Each user has a spend of its own under "*".
	mustStatus(t, b.create("bob", vmRequest(8, 1), map[string]string{"Csb-Lease": "7200"}), csbmsg.StatusOK)
}

// TestQuotaMaxPriceLive: placement never picks a provider above the
// request's Csb-Max-Price; a malformed one is HTTP 400.
func TestQuotaMaxPriceLive(t *testing.T) {
	o := quotaOptions("", "")
	o.placement = "cheapest"
	o.provider = func(id string) string {
		return map[string]string{"p1": "\t\t\tprice 0.5", "p2": "\t\t\tprice 0.2"}[id]
	}
	b := startConsumerBroker(t, o)
	got := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Max-Price": "0.3"})
	mustStatus(t, got, csbmsg.StatusOK)
	if got.Header.Get("Csb-Test-Placeholders") != "200|p2|"+got.jobID() {
		t.Fatalf("placed at %q", got.Header.Get("Csb-Test-Placeholders"))
	}
	none := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Max-Price": "0.1"})
	mustStatus(t, none, csbmsg.StatusUnableToFindResource)
	if !strings.Contains(none.Resp.Reason, "p1: price 0.5 is above the maximum price 0.1 the request accepts; p2: price 0.2 is above") {
		t.Fatalf("under every price: %s", none.Body)
	}
	if bad := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Max-Price": "cheap"}); bad.HTTP != http.StatusBadRequest {
		t.Fatalf("Csb-Max-Price cheap: HTTP %d %s", bad.HTTP, bad.Body)
	}
}

// TestQuotaClusterRace: two brokers sharing a file-system storage, six
// creates at once (three through each) against a quota of three live
// jobs: exactly three are admitted, the others refused naming the limit.
func TestQuotaClusterRace(t *testing.T) {
	o := quotaOptions("0.5", "\t\t\tuser alice {\n\t\t\t\tjobs 3\n\t\t\t}")
	a := startConsumerBroker(t, o)
	b := &consumerBroker{t: t, port: harness.FreePort(t), providers: a.providers, fixtures: a.fixtures, hashes: a.hashes}
	b.url = fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", b.port)
	o.providers = a.providers
	b.p = harness.Start(t, b.caddyfile(o), harness.Options{DataDir: a.dataDir})

	var wg sync.WaitGroup
	answers := make([]*answer, 6)
	start := make(chan struct{})
	for i := range answers {
		broker := a
		if i%2 == 1 {
			broker = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = broker.create("alice", vmRequest(1, 1), nil)
		}()
	}
	close(start)
	wg.Wait()
	admitted, refused := 0, 0
	for _, an := range answers {
		switch {
		case an.status() == csbmsg.StatusOK:
			admitted++
		case an.status() == csbmsg.StatusUnableToFindResource && strings.Contains(an.Resp.Reason, "jobs limit of user alice: 3 live jobs at most; 3 held"):
			refused++
		default:
			t.Errorf("an answer neither admitted nor refused for the quota: HTTP %d %s", an.HTTP, an.Body)
		}
	}
	if admitted != 3 || refused != 3 {
		t.Fatalf("admitted %d, refused %d; want 3 and 3", admitted, refused)
	}
}

// TestQuotaCostFinalLive: a job's cost accrues while it lives and is final
// after its removal: the answers' Csb-Cost, /csb/costs (JSON and CSV) and
// caddy_csb_job_cost_total agree on the final amount.
func TestQuotaCostFinalLive(t *testing.T) {
	b := startConsumerBroker(t, quotaOptions("3600", ""))
	created := b.create("alice", vmRequest(2, 1), nil)
	mustStatus(t, created, csbmsg.StatusOK)
	id := created.jobID()
	// 3600 per core-hour: 2 cores cost 2 a second.
	eventually(t, 10*time.Second, "the cost accrues", func() bool {
		c, _ := strconv.ParseFloat(b.do("alice", http.MethodGet, "/"+id, nil, nil).Header.Get("Csb-Cost"), 64)
		return c > 0
	})
	rem := b.do("alice", http.MethodDelete, "/"+id, nil, nil)
	mustStatus(t, rem, csbmsg.StatusOK)
	if d := rem.Header.Get("Csb-Cost-Detail"); !strings.HasPrefix(d, "state=final, rate=7200, price=3600, unit=core, units=2") {
		t.Fatalf("after the removal: Csb-Cost-Detail %q", d)
	}
	final, err := strconv.ParseFloat(rem.Header.Get("Csb-Cost"), 64)
	if err != nil || final <= 0 {
		t.Fatalf("Csb-Cost %q", rem.Header.Get("Csb-Cost"))
	}
	// Read again (after another job's create moved time on): the same.
	mustStatus(t, b.create("bob", vmRequest(1, 1), nil), csbmsg.StatusOK)
	if again := b.do("alice", http.MethodGet, "/"+id, nil, nil).Header.Get("Csb-Cost"); again != rem.Header.Get("Csb-Cost") {
		t.Fatalf("the final cost moved: %s, then %s", rem.Header.Get("Csb-Cost"), again)
	}
	var costs struct {
		Total  float64 `json:"total"`
		Owners []struct {
			ID    string  `json:"id"`
			Total float64 `json:"total"`
		} `json:"owners"`
		Jobs []struct {
			ID    string  `json:"id"`
			Final bool    `json:"final"`
			Cost  float64 `json:"cost"`
		} `json:"jobs"`
	}
	adminGet(t, b.p.AdminAddr, "/csb/costs?owner=alice", &costs)
	if len(costs.Jobs) != 1 || costs.Jobs[0].ID != id || !costs.Jobs[0].Final || math.Abs(costs.Jobs[0].Cost-final) > 1e-6 ||
		math.Abs(costs.Total-final) > 1e-6 || len(costs.Owners) != 1 || costs.Owners[0].ID != "alice" {
		t.Fatalf("/csb/costs?owner=alice: %+v, want one final job costing %v", costs, final)
	}
	status, ctype, data := adminDo(t, b.p.AdminAddr, http.MethodGet, "/csb/costs", "text/csv", "", nil)
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if status != http.StatusOK || !strings.HasPrefix(ctype, "text/csv") || err != nil || len(rows) < 5 || rows[0][0] != "row" {
		t.Fatalf("CSV: %d %s %v\n%s", status, ctype, err, data)
	}
	if last := rows[len(rows)-1]; last[0] != "total" {
		t.Fatalf("CSV ends with %v", last)
	}
	if status, _, _ := adminDo(t, b.p.AdminAddr, http.MethodGet, "/csb/costs?since=yesterday", "", "", nil); status != http.StatusBadRequest {
		t.Fatalf("since=yesterday: %d", status)
	}
	if status, _, _ := adminDo(t, b.p.AdminAddr, http.MethodGet, "/csb/costs", "application/xml", "", nil); status != http.StatusNotAcceptable {
		t.Fatalf("Accept: application/xml: %d", status)
	}
	m := scrape(t, b.p.AdminAddr)
	if got := m.value("caddy_csb_job_cost_total", "owner=alice", "provider=p1"); math.Abs(got-final) > 1e-6 {
		t.Fatalf("caddy_csb_job_cost_total{owner=alice} = %v, want the final %v", got, final)
	}
}
