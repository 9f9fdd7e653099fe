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
