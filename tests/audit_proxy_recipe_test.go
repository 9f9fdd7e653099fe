package tests

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAuditProxyHeaderCopyRecipe follows README.md (Fronting an existing OpenStack or AWS account)'s recipe for
// S3 clients: the broker credentials travel in X-Csb-Authorization, which
// request_header copies into Authorization before basic_auth, and the
// recipe drops it afterwards: the job route drops the credential headers
// it knows, not one a site chose, so without that line the consumer's
// broker password would reach the provider.
func TestAuditProxyHeaderCopyRecipe(t *testing.T) {
	rec := &auditRecorder{}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)
	base, p := auditLinkBroker(t, up.URL, "\t\t@csbauth header X-Csb-Authorization *\n\t\trequest_header @csbauth Authorization {header.X-Csb-Authorization}\n\t\trequest_header -X-Csb-Authorization")
	id := auditCreateSaaSJob(t, base)
	req, _ := http.NewRequest(http.MethodGet, base+"/csb/jobs/"+id+"/page", nil)
	req.Header.Set("X-Csb-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:"+testUsers["alice"])))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("through the job route: %d\n%s", resp.StatusCode, p.Log())
	}
	if v := rec.last(t).Get("X-Csb-Authorization"); v != "" {
		t.Fatalf("the consumer's broker credentials reached the provider in X-Csb-Authorization: %q", v)
	}
}
