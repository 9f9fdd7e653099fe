package tests

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestAuditPublishAcceptExcludingMediaType: CONFORMANCE.md rows 4.1.1-c/-k
// say the publish endpoint checks Accept (406 when it excludes
// application/csb-publish+xml), as the consumer endpoint does.
func TestAuditPublishAcceptExcludingMediaType(t *testing.T) {
	b := startBroker(t, csp2Push)
	req, _ := http.NewRequest(http.MethodPost, b.publish, bytes.NewReader(notification(t, "csp2-push", 1, "csp2", "p")))
	req.Header.Set("Content-Type", csbmsg.PublishMediaType)
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth("csp2", "pw-csp2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("Accept: application/json on the publish endpoint: HTTP %d, want 406", resp.StatusCode)
	}
}
