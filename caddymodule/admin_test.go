package caddymodule

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

func TestAdminNegotiate(t *testing.T) {
	cases := []struct {
		accept, query string
		want          adminFormat
		status        int // an error with this status
	}{
		{"", "", formatJSON, 0},
		{"*/*", "", formatJSON, 0},
		{"application/json", "", formatJSON, 0},
		{csbmsg.PublishMediaType, "", formatXML, 0},
		{"application/xml", "", formatXML, 0},
		{"text/xml;q=0.5, application/json;q=0.4", "", formatXML, 0},
		{"text/html, */*;q=0.1", "", formatJSON, 0},
		{"*/*;q=0.5, application/xml", "", formatXML, 0},
		{"*/*, " + csbmsg.PublishMediaType, "", formatXML, 0}, // the specific one wins a tie
		{csbmsg.ConsumerMediaType, "", 0, http.StatusNotAcceptable},
		{"text/html", "", 0, http.StatusNotAcceptable},
		{"application/json;q=0", "", 0, http.StatusNotAcceptable},
		{"text/html", "format=xml", formatXML, 0},
		{"application/xml", "format=json", formatJSON, 0},
		{"", "format=yaml", 0, http.StatusBadRequest},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/csb/catalog?"+c.query, nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		got, err := negotiate(r, csbmsg.PublishMediaType)
		var ae caddy.APIError
		switch {
		case c.status != 0 && (!errors.As(err, &ae) || ae.HTTPStatus != c.status):
			t.Errorf("Accept %q %s: got %v, want HTTP %d", c.accept, c.query, err, c.status)
		case c.status == 0 && (err != nil || got != c.want):
			t.Errorf("Accept %q %s: got %v %v, want %v", c.accept, c.query, got, err, c.want)
		}
	}
}

// Every admin endpoint answers another method with 405 and Allow, and an
// Accept it cannot serve with 406, before it reads any broker state.
// /csb/webhooks, JSON only, answered every Accept (application/xml,
// text/html) and ?format=xml with JSON; it answers 406 and 400 as the
// others do.
func TestAdminEndpointsCheckMethodAndFormat(t *testing.T) {
	api := new(AdminAPI)
	cases := []struct {
		path  string
		serve func(http.ResponseWriter, *http.Request) error
		allow string
	}{
		{"/csb/catalog", api.serveCatalog, "GET"},
		{"/csb/subscriptions", api.serveSubscriptions, "GET"},
		{"/csb/jobs", api.serveJobs, "GET"},
		{"/csb/jobs/x", api.serveJob, "GET"},
		{"/csb/placement/explain", api.serveExplain, "POST"},
		{"/csb/costs", api.serveCosts, "GET"},
		{"/csb/webhooks", api.serveWebhooks, "GET"},
	}
	status := func(err error) int {
		var ae caddy.APIError
		if !errors.As(err, &ae) {
			return 0
		}
		return ae.HTTPStatus
	}
	for _, c := range cases {
		wrong := http.MethodPost
		if c.allow == "POST" {
			wrong = http.MethodGet
		}
		w := httptest.NewRecorder()
		if err := c.serve(w, httptest.NewRequest(wrong, c.path, nil)); status(err) != http.StatusMethodNotAllowed || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: got %v, Allow %q; want 405, Allow %s", wrong, c.path, err, w.Header().Get("Allow"), c.allow)
		}
		r := httptest.NewRequest(c.allow, c.path, nil)
		r.Header.Set("Accept", "text/html")
		if err := c.serve(httptest.NewRecorder(), r); status(err) != http.StatusNotAcceptable {
			t.Errorf("%s %s with Accept text/html: got %v, want 406", c.allow, c.path, err)
		}
	}
	for accept, want := range map[string]int{"application/xml": http.StatusNotAcceptable, "application/json;q=0, text/html": http.StatusNotAcceptable} {
		r := httptest.NewRequest(http.MethodGet, "/csb/webhooks", nil)
		r.Header.Set("Accept", accept)
		if err := api.serveWebhooks(httptest.NewRecorder(), r); status(err) != want {
			t.Errorf("/csb/webhooks with Accept %s: got %v, want %d", accept, err, want)
		}
	}
	if err := api.serveWebhooks(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/csb/webhooks?format=xml", nil)); status(err) != http.StatusBadRequest {
		t.Errorf("/csb/webhooks?format=xml: got %v, want 400", err)
	}
	// JSON, or anything, is served (here: 503, no app running).
	for _, accept := range []string{"", "application/json", "*/*", "text/html, application/*;q=0.1"} {
		r := httptest.NewRequest(http.MethodGet, "/csb/webhooks?format=", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if err := api.serveWebhooks(httptest.NewRecorder(), r); status(err) != http.StatusServiceUnavailable {
			t.Errorf("/csb/webhooks with Accept %q: got %v, want 503 (no app)", accept, err)
		}
	}
}

// The XML catalogue carries the draft's own elements, in the draft's
// namespace, as the codec writes them: the parser reads them back.
func TestCatalogXMLUsesDraftElements(t *testing.T) {
	yes := true
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c := adminCatalog{Version: 7, Count: 3, Next: "cursor", Placeable: map[catalog.Kind]int{catalog.KindIaaS: 1}, Providers: []adminProvider{
		{Provider: catalog.ProviderEntry{ID: "csp1", Status: csbmsg.ServiceActive, URI: "https://csp1.example/", EncryptionSupport: &yes,
			Label: "price:0.1", Source: catalog.SourcePublished, SubscriptionID: "sub1", Expires: now}, SeqNumber: 3, Placeable: 1,
			Services: []adminService{
				{ServiceEntry: catalog.ServiceEntry{ProviderID: "csp1", Kind: catalog.KindIaaS, Source: catalog.SourcePublished, Expires: now,
					Service: csbmsg.Service{ID: "vm", Status: csbmsg.ServiceActive, IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: ptr(uint64(4))}}}},
					Placeable: true},
				{ServiceEntry: catalog.ServiceEntry{ProviderID: "csp1", Kind: catalog.KindSaaS, Source: catalog.SourcePublished,
					Service: csbmsg.Service{ID: "sms", Status: csbmsg.ServiceDeactivated, SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "sms"}}}}},
			}},
		{Provider: catalog.ProviderEntry{ID: "empty", Status: csbmsg.ServiceUnavailable, Source: catalog.SourceStatic}, Services: []adminService{}},
	}}
	doc, err := catalogXML(c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	doc.WriteTo(&buf)
	out := buf.String()
	for _, want := range []string{
		`<admin:catalog xmlns="urn:ietf:params:xml:ns:csb-publish" xmlns:admin="urn:caddy-csb:admin" version="7" count="3" next="cursor">`,
		`<admin:provider source="published" subscription-id="sub1" seqnumber="3" expires="2026-11-22T12:00:00Z"`,
		`<Cloud-Service-Provider-id>csp1</Cloud-Service-Provider-id>`,
		`<encryption-support>true</encryption-support>`,
		`<label>price:0.1</label>`,
		`<admin:service kind="IaaS" source="published" expires="2026-11-22T12:00:00Z" placeable="true"><Cloud-Service>`,
		`<Cloud-Service-id>vm</Cloud-Service-id>`,
		`<Cloud-Service-status>deactivated</Cloud-Service-status>`,
		`<Cloud-Service-Provider-status>unavailable</Cloud-Service-Provider-status>`,
	} {
		if !strings.Contains(strings.ReplaceAll(out, "\n", ""), want) && !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, "<Cloud-Service-id>none</Cloud-Service-id>") {
		t.Errorf("the placeholder service of an empty provider leaked:\n%s", out)
	}
	// Each admin:service's <Cloud-Service>, wrapped as a notification,
	// parses with the codec in strict mode.
	i := strings.Index(out, "<Cloud-Service>")
	j := strings.Index(out, "</Cloud-Service>")
	svc := out[i : j+len("</Cloud-Service>")]
	n := `<csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish"><csbnotification id="x" seqnumber="1">` +
		`<Cloud-Service-Provider><Cloud-Service-Provider-id>csp1</Cloud-Service-Provider-id><Cloud-Service-Provider-status>active</Cloud-Service-Provider-status></Cloud-Service-Provider>` +
		svc + `</csbnotification></csbpublish>`
	if _, err := csbmsg.ParsePublish([]byte(n), csbmsg.Options{Mode: csbmsg.Strict}); err != nil {
		t.Fatalf("the <Cloud-Service> written does not parse: %v\n%s", err, svc)
	}
}

func TestJobXML(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	j := &jobs.Job{ID: "job1", Owner: "alice", Status: jobs.StatusSuccess, Kind: catalog.KindIaaS, ProviderID: "p1", ServiceID: "vm",
		LeaseSeconds: 3600, Expires: now.Add(time.Hour), Created: now, Updated: now,
		Request:  csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: ptr(uint64(2))}}},
		Attempts: []jobs.Attempt{{ProviderID: "p1", ServiceID: "vm", Purpose: jobs.OpCreate, Outcome: jobs.OutcomeSuccess, Started: now}}}
	doc, root := newAdminDoc("jobs", csbmsg.ConsumerNS)
	root.AddChild(jobXML(j, now))
	var buf bytes.Buffer
	doc.WriteTo(&buf)
	out := buf.String()
	for _, want := range []string{
		`<admin:job owner="alice" kind="IaaS" provider="p1" service="vm" lease-seconds="3600"`,
		`<response-job-info><job-id>job1</job-id><job-status>success</job-status><expires>3600</expires></response-job-info>`,
		`<IaaS><compute><cores>2</cores></compute></IaaS>`,
		`<admin:attempt provider="p1" service="vm" purpose="create" outcome="success"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}
