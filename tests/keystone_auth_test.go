package tests

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/ospeer"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestKeystoneApplicationCredential: the adapter authenticates with an
// application credential of a real Keystone (no password, no project: the
// credential carries its scope), discovers the flavors and Swift through
// the token's catalogue and boots a server in the credential's project.
// A provider whose secret is wrong fails the create with the adapter's
// "refused the configured credentials", never the secret.
func TestKeystoneApplicationCredential(t *testing.T) {
	o := ospeer.Shared(t)
	b := os2Start(t,
		os2Provider{id: "appcred", auth: fmt.Sprintf("application_credential_id %s\n\t\t\t\tapplication_credential_secret %s", o.AppCredID, o.AppCredSecret)},
	)
	ids := b.catalogue("appcred", o.Services())
	if !slices.Contains(ids, "flavor-"+ospeer.Flavors[0].ID) || (o.SwiftURL != "" && !slices.Contains(ids, "object-store")) {
		t.Fatalf("catalogue discovered with the application credential: %v", ids)
	}
	a := b.createVM("alice", 1, 1)
	srv := os2ServerOf(t, o, a.jobID())
	var full struct {
		Server struct {
			TenantID string `json:"tenant_id"`
		} `json:"server"`
	}
	if _, err := o.Admin(context.Background(), http.MethodGet, o.ComputeURL+"/servers/"+srv.ID, nil, &full, nil); err != nil {
		t.Fatal(err)
	}
	if full.Server.TenantID != o.BrokerProjectID {
		t.Fatalf("server %s is in project %s, want the credential's %s", srv.ID, full.Server.TenantID, o.BrokerProjectID)
	}
	os2Remove(t, b, a.jobID())

	// A wrong secret: a static service so placement calls the adapter.
	bad := os2Start(t, os2Provider{id: "badcred", auth: fmt.Sprintf("application_credential_id %s\n\t\t\t\tapplication_credential_secret not-the-secret", o.AppCredID),
		block: "service vm {\n\t\t\t\tkind iaas\n\t\t\t\tcompute {\n\t\t\t\t\tcores 1\n\t\t\t\t\tmemory 1\n\t\t\t\t}\n\t\t\t}"})
	a = bad.create("alice", &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(1), Memory: u64(1)}}}, nil)
	if a.status() == csbmsg.StatusOK && a.jobStatus() != "failed" {
		a = bad.os2WaitJob("alice", a.jobID(), "failed")
	}
	if a.Resp == nil || !strings.Contains(a.Resp.Reason, "refused the configured credentials") || strings.Contains(string(a.Body), "not-the-secret") {
		t.Fatalf("create with a wrong application credential secret: %s", a.Body)
	}
}

// TestKeystoneReauth: Keystone revokes the adapter's token (as on a
// password change, a role removal or a logout) and Nova refuses it from
// then on, long before it expires. A tap in front of Nova (compute_url)
// records the tokens the adapter sends and Nova's answers.
//
//   - The job route: the consumer's request carrying the revoked token is
//     answered 401 by Nova; the adapter authenticates again
//     (contract.FrontReauthenticator) and the reverse proxy's retry
//     carries the new token, so the consumer gets 200. Before, every
//     request through the route got Nova's 401 until the token expired.
//   - The adapter's own calls: after a second revocation, the next create
//     meets the 401, gophercloud authenticates again and the create
//     succeeds.
func TestKeystoneReauth(t *testing.T) {
	o := ospeer.Shared(t)
	ctx := context.Background()
	tap := os2NewTap(t, strings.TrimSuffix(o.ComputeURL, "/v2.1"))
	b := os2Start(t, os2Provider{id: "nova", extra: "compute_url " + tap.URL + "/v2.1"})
	b.catalogue("nova", len(ospeer.Flavors))
	a := b.createVM("alice", 1, 1)
	srv := os2ServerOf(t, o, a.jobID())

	// The route.
	calls := tap.Calls()
	old := calls[len(calls)-1].Token
	if err := o.Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	n := len(calls)
	st, body := b.route("alice", http.MethodGet, "/csb/jobs/"+a.jobID()+"/servers/"+srv.ID, "")
	if st != http.StatusOK || !strings.Contains(body, srv.ID) {
		t.Fatalf("GET through the route after Keystone revoked the token: HTTP %d %s\ncalls: %v", st, body, os2Redact(tap.Calls()[n:], old))
	}
	os2RefusedThenRenewed(t, tap.Calls()[n:], old)

	// The adapter's own calls.
	calls = tap.Calls()
	old = calls[len(calls)-1].Token
	if err := o.Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	n = len(calls)
	a2 := b.createVM("alice", 1, 1)
	os2RefusedThenRenewed(t, tap.Calls()[n:], old)
	for _, id := range []string{a.jobID(), a2.jobID()} {
		os2Remove(t, b, id)
	}
}

// os2RefusedThenRenewed checks that Nova refused the revoked token old
// (401), that a new token was accepted after that, and that old was not
// sent again after the new one.
func os2RefusedThenRenewed(t *testing.T, calls []os2Call, old string) {
	t.Helper()
	refused, renewed := -1, -1
	for i, c := range calls {
		if c.Token == old && c.Status == http.StatusUnauthorized && refused < 0 {
			refused = i
		}
		if c.Token != old && c.Token != "" && c.Status/100 == 2 && refused >= 0 && renewed < 0 {
			renewed = i
		}
	}
	if refused < 0 || renewed < 0 {
		t.Fatalf("want Nova to refuse the revoked token (401) and then accept a new one; calls: %v", os2Redact(calls, old))
	}
	for _, c := range calls[renewed:] {
		if c.Token == old {
			t.Fatalf("the revoked token was sent again after the new one: %v", os2Redact(calls, old))
		}
	}
}

// os2Redact shows calls with tokens shortened to "old" or their first
// characters.
func os2Redact(calls []os2Call, old string) []string {
	var out []string
	for _, c := range calls {
		tok := "new:" + c.Token[:min(8, len(c.Token))]
		if c.Token == old {
			tok = "old"
		}
		out = append(out, fmt.Sprintf("%s %s %s → %d", c.Method, c.Path, tok, c.Status))
	}
	return out
}

// TestKeystoneSwift: Swift behind keystoneauth, found in the same
// Keystone's catalogue: a DSaaS job makes a container in the project's
// account (AUTH_<project id>), the swift CLI reaches it through the job
// route, and Swift itself, asked with a token of the project, holds what
// was uploaded.
func TestKeystoneSwift(t *testing.T) {
	o := ospeer.Shared(t)
	if o.SwiftURL == "" {
		t.Skipf("%s is set: no Swift behind Keystone", swiftpeer.Skip)
	}
	b := os2Start(t, os2Provider{id: "nova"})
	b.catalogue("nova", o.Services())
	a := b.create("alice", &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{
		ObjectRefs: csbmsg.ObjectRefs{ObjectID: str("hello.txt")}, Value: str("hello through keystone")}}}, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	a = b.os2WaitJob("alice", a.jobID(), "success")
	id := a.jobID()
	account := o.SwiftURL + "/v1/AUTH_" + o.BrokerProjectID
	if !strings.HasPrefix(a.Resp.JobInfo.CloudServiceURI, account+"/") {
		t.Fatalf("the job's URI %q is not in the project's account %s", a.Resp.JobInfo.CloudServiceURI, account)
	}
	container := *a.Resp.DSaaS.ContainerObject.ObjectID

	ctx := context.Background()
	storage := strings.Replace(b.base, "http://", "http://alice:"+testUsers["alice"]+"@", 1) + "/csb/jobs/" + id
	cli := func(args ...string) (string, error) {
		return swiftpeer.RunCLI(ctx, append([]string{"--os-storage-url", storage, "--os-auth-token", "consumer-token"}, args...)...)
	}
	if out, err := cli("download", container, "hello.txt", "-o", "-"); err != nil || out != "hello through keystone" {
		t.Fatalf("download through the job route: %q %v\n%s", out, err, b.p.Log())
	}
	if _, err := cli("upload", container, "--object-name", "second.txt", "keystone_auth_test.go"); err != nil {
		t.Fatalf("upload through the job route: %v", err)
	}
	tok, err := o.Token(ctx, ospeer.BrokerProject)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodHead, account+"/"+container+"/second.txt", nil)
	req.Header.Set("X-Auth-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Swift (keystoneauth) on the uploaded object: %s", resp.Status)
	}
	// A token of another project does not open this account.
	other, err := o.Token(ctx, ospeer.TinyProject)
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodHead, account+"/"+container+"/second.txt", nil)
	req.Header.Set("X-Auth-Token", other)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another project's token on the account: %s, want 403", resp.Status)
	}
	a = b.do("alice", http.MethodDelete, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
}
