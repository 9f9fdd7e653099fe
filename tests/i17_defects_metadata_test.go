package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// i17DefectsHeadObject reads an object's headers through Swift's own API.
func i17DefectsHeadObject(t *testing.T, sw *swiftpeer.Swift, user, key, path string) http.Header {
	t.Helper()
	tok, storage, err := sw.Auth(context.Background(), user, key)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodHead, storage+path, nil)
	req.Header.Set("X-Auth-Token", tok)
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HEAD %s: %s", path, resp.Status)
	}
	return resp.Header
}

// TestI17DefectsPlainMetadataOnRealSwift: a DSaaS request whose
// <metadata> is plain text (the schema's xsd:string) is placed on the
// real Swift, natively (alice, openstack adapter) and through its S3 API
// (bob, aws adapter): the answer is 200 with the text granted back, and
// Swift holds it on the object under csb-metadata. Metadata no header can
// carry is refused (408, error kind unsupported, not provider_4xx) before
// Swift is called, and no failed job is left.
func TestI17DefectsPlainMetadataOnRealSwift(t *testing.T) {
	b := startCloudBroker(t, cloudOptions{proxy: "dynamic csb"})
	for _, c := range []struct{ user, swUser, swKey string }{
		{"alice", swiftpeer.User, swiftpeer.Key},
		{"bob", swiftpeer.User2, swiftpeer.Key2},
	} {
		job := b.createJob(c.user, &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{
			ObjectRefs: csbmsg.ObjectRefs{ObjectID: str("note.txt")}, Value: str("x"), Metadata: str("acceptance")}})
		if g := job.DSaaS.DataObject; g == nil || g.Metadata == nil || *g.Metadata != "acceptance" {
			t.Fatalf("%s: grant %+v", c.user, job.DSaaS)
		}
		h := i17DefectsHeadObject(t, b.sw, c.swUser, c.swKey, "/"+*job.DSaaS.ContainerObject.ObjectID+"/note.txt")
		if got := h.Get("X-Object-Meta-Csb-Metadata"); got != "acceptance" {
			t.Fatalf("%s: the object's metadata on Swift: %q (%v)", c.user, got, h)
		}
	}
	resp, data := b.consume("alice", http.MethodPost, "", &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{
		Value: str("x"), Metadata: str(strings.Repeat("m", 300))}}})
	if resp.Status != csbmsg.StatusUnableToFindResource || !strings.Contains(resp.Reason, "refused before any provider was called") ||
		!strings.Contains(resp.Reason, "unsupported") || !strings.Contains(resp.Reason, "longer than 256 bytes") || strings.Contains(resp.Reason, "provider_4xx") {
		t.Fatalf("metadata Swift cannot carry: %s", data)
	}
	status, _, list := adminDo(t, b.p.AdminAddr, http.MethodGet, "/csb/jobs?owner=alice", "", "", nil)
	var jobs struct {
		Count int `json:"count"`
	}
	if status != 200 || json.Unmarshal(list, &jobs) != nil || jobs.Count != 1 {
		t.Fatalf("alice's jobs after the refusal (want only the placed one): %d %s", status, list)
	}
}
