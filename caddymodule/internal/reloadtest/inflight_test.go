package reloadtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// pushA is provider a's notification of one service, x, under its push
// id push-a.
const pushA = `<?xml version="1.0" encoding="UTF-8"?>
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
  </csbnotification>
</csbpublish>`

// pushProviders configures provider a, which publishes under push-a,
// and the providers more adds.
func pushProviders(more string) string {
	return `{"providers": [{"id": "a", "publishers": ["*"], "push": {"ids": ["push-a"]}}` + more + `]}`
}

// TestPublishInFlightAcrossReload: a provider's notification whose body
// is still arriving when a reload runs is applied once it has arrived,
// by the engine the new configuration took over. The old
// configuration's csb handler read its app's engine field at that
// point, and the old app's Cleanup had set it to nil (a data race with
// the request besides): the handler dereferenced nil and panicked, and
// the provider's connection was dropped with its notification lost. The
// other front-ends (csb_cimi, csb_osb and its background operations,
// csb_console, csb_job_route) read the engine through the same app, by
// JobManager and Catalogue: they answered 503, or failed an OSB
// operation, where the old app was cleaned up under them.
func TestPublishInFlightAcrossReload(t *testing.T) {
	b := newBroker(t)
	b.mustLoad(pushProviders(""), "")
	old := b.app()
	h := b.handler("http.handlers.csb", `{}`)
	body := newHeldBody(pushA)
	r := httptest.NewRequest(http.MethodPost, "/csb/publish", body)
	r.ContentLength = int64(len(pushA))
	r.Header.Set("Content-Type", "application/csb-publish+xml")
	done := serve(h, r)
	<-body.reading

	b.mustLoad(pushProviders(`, {"id": "b"}`), "")
	close(body.release)
	s := <-done
	if s.panic != nil {
		t.Fatalf("the notification in flight across the reload panicked: %v", s.panic)
	}
	if s.err != nil || !strings.Contains(s.rec.Body.String(), `status="200"`) {
		t.Fatalf("the notification was not applied: %v %d %s", s.err, s.rec.Code, s.rec.Body)
	}
	app := b.app()
	if svcs := app.Catalogue().Services("a"); len(svcs) != 1 || svcs[0].Service.ID != "x" {
		t.Fatalf("the new configuration's catalogue holds %+v, want a's service x", svcs)
	}
	if old.JobManager() != app.JobManager() || old.Catalogue() != app.Catalogue() {
		t.Fatalf("after the reload, the old app's job manager %p and catalogue %p are not the engine's %p %p",
			old.JobManager(), old.Catalogue(), app.JobManager(), app.Catalogue())
	}
}
