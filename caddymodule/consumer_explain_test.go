package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// explainHandler is a csb handler over providers a (price 0.5, first in
// order) and b (price 0.1), with an ovf block when ovfHosts is set.
func explainHandler(t *testing.T, ovfHosts ...string) *Handler {
	t.Helper()
	cat := new(jobstest.Catalog)
	cat.AddProvider(catalog.ProviderEntry{ID: "a", Label: "price:0.5"})
	cat.AddService("a", jobstest.VM("vm-a", 8, 32))
	cat.AddProvider(catalog.ProviderEntry{ID: "b", Label: "price:0.1"})
	cat.AddService("b", jobstest.VM("vm-b", 8, 32))
	placer, err := placement.New(placement.Config{Catalog: cat, Order: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	ad := &jobstest.Adapter{Name: "a"}
	m, err := jobs.New(jobs.Config{Store: new(store.Memory), Placer: placer, Logger: zap.NewNop(),
		Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return ad, true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	x, _ := newXML(t, &XMLConfig{})
	app := &App{XML: x, engine: &engine{consumer: &consumerEngine{jobs: m}},
		consumerView: &consumerView{placer: placer, cfg: &ConsumerConfig{}}}
	if len(ovfHosts) > 0 {
		app.OVF = &OVFConfig{AllowedHosts: ovfHosts}
		if err := app.OVF.provision(nil); err != nil {
			t.Fatal(err)
		}
	}
	return &Handler{app: app, logger: zap.NewNop()}
}

// explained is what a test reads of a consumer's explain.
type explained struct {
	Status     csbmsg.Status    `json:"status"`
	Reason     string           `json:"reason"`
	Chosen     *adminCandidate  `json:"chosen"`
	Candidates []adminCandidate `json:"candidates"`
}

// consumerExplain POSTs req to ?explain with the headers (name, value
// pairs) and returns the answer, or the handler's error.
func consumerExplain(t *testing.T, h *Handler, req *csbmsg.ServiceRequest, header ...string) (explained, error) {
	t.Helper()
	body, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Request: req})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/csb/consumer?explain", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	r.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	var out explained
	if err := h.serveConsumerExplain(w, r, "u", h.app.consumerView.cfg); err != nil {
		return out, err
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer: %v\n%s", err, w.Body.Bytes())
	}
	return out, nil
}

// TestConsumerExplainMaxPrice: a consumer's explain takes the create's
// Csb-Max-Price. It ignored the header, so it named provider a (price
// 0.5) as the one a create with "Csb-Max-Price: 0.2" would try first,
// when placement keeps a out of that create and places it on b; and it
// answered a header a create refuses with HTTP 400.
func TestConsumerExplainMaxPrice(t *testing.T) {
	h := explainHandler(t)
	req := jobstest.VMRequest(2, 4)
	if x, err := consumerExplain(t, h, req); err != nil || x.Status != csbmsg.StatusOK || x.Chosen == nil || x.Chosen.ProviderID != "a" {
		t.Fatalf("without a maximum price: %+v, %v", x, err)
	}
	x, err := consumerExplain(t, h, req, "Csb-Max-Price", "0.2")
	if err != nil || x.Status != csbmsg.StatusOK || x.Chosen == nil || x.Chosen.ProviderID != "b" {
		t.Fatalf("Csb-Max-Price 0.2: %+v, %v; want b chosen", x, err)
	}
	if !strings.Contains(x.Candidates[0].Note, "above the maximum price 0.2") {
		t.Fatalf("a's note %q does not name the maximum price", x.Candidates[0].Note)
	}
	x, err = consumerExplain(t, h, req, "Csb-Max-Price", "0.05")
	if err != nil || x.Status != csbmsg.StatusUnableToFindResource || x.Chosen != nil {
		t.Fatalf("Csb-Max-Price 0.05: %+v, %v; want 408", x, err)
	}
	_, err = consumerExplain(t, h, req, "Csb-Max-Price", "cheap")
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bad Csb-Max-Price: %v, want HTTP 400 as a create answers", err)
	}
}

// TestConsumerExplainOVFLink: with an ovf block, explain refuses what a
// create refuses before placement, with the create's status. An IaaS
// Link that names no OVF descriptor (another rel) is answered 420 by a
// create; explain passed it through and answered 200 with a provider
// chosen. A descriptor that cannot be fetched is a create's 400; explain
// said 408.
func TestConsumerExplainOVFLink(t *testing.T) {
	h := explainHandler(t, "images.example.org")
	req := jobstest.VMRequest(2, 4)
	req.IaaS.Link = &csbmsg.Link{Rel: "describedby", Href: "https://images.example.org/vm.json"}
	x, err := consumerExplain(t, h, req)
	if err != nil || x.Status != csbmsg.StatusUnsupported || !strings.Contains(x.Reason, "reads only OVF descriptors") {
		t.Fatalf("IaaS Link of another rel: %+v, %v; want 420 as a create answers", x, err)
	}
	req.IaaS.Link = &csbmsg.Link{Rel: "ovf", Href: "https://169.254.169.254/latest/"}
	if x, err := consumerExplain(t, h, req); err != nil || x.Status != csbmsg.StatusSyntaxError {
		t.Fatalf("descriptor not allowed: %+v, %v; want 400 as a create answers", x, err)
	}
}
