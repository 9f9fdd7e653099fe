package publish

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// twoServicesNamedX is a notification whose two <Cloud-Service>
// elements give one Cloud-Service-id, x, two descriptions: 4 cores and
// 64 cores.
const twoServicesNamedX = `<?xml version="1.0" encoding="UTF-8"?>
<csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish">
  <csbnotification seqnumber="1" id="push-a">
    <Cloud-Service-Provider>
      <Cloud-Service-Provider-id>a</Cloud-Service-Provider-id>
      <Cloud-Service-Provider-status>active</Cloud-Service-Provider-status>
    </Cloud-Service-Provider>
    <Cloud-Service>
      <Cloud-Service-id>x</Cloud-Service-id>
      <Cloud-Service-status>active</Cloud-Service-status>
      <IaaS-support><compute-support><cores>4</cores></compute-support></IaaS-support>
    </Cloud-Service>
    <Cloud-Service>
      <Cloud-Service-id> x </Cloud-Service-id>
      <Cloud-Service-status>active</Cloud-Service-status>
      <IaaS-support><compute-support><cores>64</cores></compute-support></IaaS-support>
    </Cloud-Service>
  </csbnotification>
</csbpublish>`

// TestDuplicateServiceIDRefused: a notification that lists one
// Cloud-Service-id twice (the draft makes the id a unique identifier of
// the service) is answered 400 naming the id, and nothing of it is
// applied: the broker used to answer 200 "applied" and keep whichever
// description came last, so the provider never learnt that its 4-core
// offer had been replaced by the 64-core one (or the other way round,
// depending on the order it wrote them in). The refusal does not use up
// the seqnumber.
func TestDuplicateServiceIDRefused(t *testing.T) {
	cat, err := catalog.New(catalog.Options{Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close(context.Background())
	ing := NewIngester(IngestOptions{Catalog: cat})
	if err := ing.Configure(true, map[string]Policy{"a": {Publishers: []string{"pub"}, PushIDs: []string{"push-a"}}}); err != nil {
		t.Fatal(err)
	}
	r := ing.IngestBody([]byte(twoServicesNamedX), "pub", csbmsg.Options{})
	if r.Response.Status != csbmsg.StatusSyntaxError || r.Outcome != OutcomeInvalid ||
		!strings.Contains(r.Response.Reason, `"x"`) {
		t.Fatalf("got %d %s %q, want 400 naming the id", r.Response.Status, r.Outcome, r.Response.Reason)
	}
	if v := cat.Version(); v != 0 || len(cat.Services("a")) != 0 {
		t.Fatalf("the refused notification changed the catalogue (version %d): %+v", v, cat.Services("a"))
	}
	// The corrected notification, with the same seqnumber, is applied.
	fixed := strings.Replace(twoServicesNamedX, "<Cloud-Service-id> x </Cloud-Service-id>", "<Cloud-Service-id>y</Cloud-Service-id>", 1)
	if r := ing.IngestBody([]byte(fixed), "pub", csbmsg.Options{}); r.Outcome != OutcomeApplied {
		t.Fatalf("corrected notification: %+v", r)
	}
	if n := len(cat.Placeable(catalog.KindIaaS)); n != 2 {
		t.Fatalf("%d placeable services, want 2", n)
	}
}

// statusOnly is a notification about service x of provider a that gives
// only its status: no <IaaS-support> or other support element, which the
// schema's choice allows (every member has minOccurs 0).
func statusOnly(seq, status string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<csbpublish version="1.0" xmlns="urn:ietf:params:xml:ns:csb-publish">
  <csbnotification seqnumber="` + seq + `" id="push-a">
    <Cloud-Service-Provider>
      <Cloud-Service-Provider-id>a</Cloud-Service-Provider-id>
      <Cloud-Service-Provider-status>active</Cloud-Service-Provider-status>
    </Cloud-Service-Provider>
    <Cloud-Service>
      <Cloud-Service-id>x</Cloud-Service-id>
      <Cloud-Service-status>` + status + `</Cloud-Service-status>
    </Cloud-Service>
  </csbnotification>
</csbpublish>`
}

// TestStatusOnlyServiceKeepsItsDescription: a <Cloud-Service> with an id
// and a status but no support element changes the status of the service
// the provider published under that id and keeps its description. It
// used to replace the entry with one of no kind: the 8-core IaaS offer
// was gone, acknowledged with 200 "applied", and when the provider later
// sent "active" the same way the service stayed out of placement for
// good.
func TestStatusOnlyServiceKeepsItsDescription(t *testing.T) {
	cat, err := catalog.New(catalog.Options{Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close(context.Background())
	ing := NewIngester(IngestOptions{Catalog: cat})
	if err := ing.Configure(true, map[string]Policy{"a": {Publishers: []string{"pub"}, PushIDs: []string{"push-a"}}}); err != nil {
		t.Fatal(err)
	}
	first := strings.Replace(statusOnly("1", "active"), "</Cloud-Service-status>",
		"</Cloud-Service-status><Cloud-Service-URI>http://a.example/x</Cloud-Service-URI>"+
			"<IaaS-support><compute-support><cores>8</cores></compute-support></IaaS-support>", 1)
	if r := ing.IngestBody([]byte(first), "pub", csbmsg.Options{}); r.Outcome != OutcomeApplied {
		t.Fatalf("first: %+v", r)
	}
	check := func(step string, status csbmsg.ServiceStatus, placeable int) {
		t.Helper()
		svcs := cat.Services("a")
		if len(svcs) != 1 {
			t.Fatalf("%s: %d services", step, len(svcs))
		}
		e := svcs[0]
		if e.Kind != catalog.KindIaaS || e.Service.IaaS == nil || e.Service.IaaS.Compute == nil ||
			e.Service.IaaS.Compute.Cores == nil || *e.Service.IaaS.Compute.Cores != 8 {
			t.Fatalf("%s: the description was lost: kind %q, %+v", step, e.Kind, e.Service)
		}
		if e.Service.Status != status || e.Service.URI != "http://a.example/x" {
			t.Fatalf("%s: status %s, URI %q", step, e.Service.Status, e.Service.URI)
		}
		if n := len(cat.Placeable(catalog.KindIaaS)); n != placeable {
			t.Fatalf("%s: %d placeable, want %d", step, n, placeable)
		}
	}
	check("published", csbmsg.ServiceActive, 1)
	for i, st := range []csbmsg.ServiceStatus{csbmsg.ServiceDeactivated, csbmsg.ServiceActive} {
		seq := string(rune('2' + i))
		if r := ing.IngestBody([]byte(statusOnly(seq, string(st))), "pub", csbmsg.Options{}); r.Outcome != OutcomeApplied {
			t.Fatalf("status %s: %+v", st, r)
		}
		want := 0
		if st == csbmsg.ServiceActive {
			want = 1
		}
		check("status "+string(st), st, want)
	}
}
