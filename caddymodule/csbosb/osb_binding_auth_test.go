package csbosb

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/certmagic"
)

// TestOSBBindingAuth: the provider accepts a binding's credential as the
// instance's owner with the job it may reach, and refuses a wrong
// password, an unknown or revoked username and a username that is not a
// binding's (a path into storage), each with a Basic challenge.
func TestOSBBindingAuth(t *testing.T) {
	rec := records{s: &certmagic.FileStorage{Path: t.TempDir()}}
	b := &BindingAuth{Realm: "apps", rec: rec}
	ctx := context.Background()
	user, pass := "osb-"+randomToken(12), randomToken(24)
	if !validUsername(user) {
		t.Fatalf("generated username %q is not valid", user)
	}
	if err := rec.storeCredential(ctx, &credentialRecord{Username: user, PasswordHash: hashHex(pass), Owner: "platform/cloudfoundry:alice", JobID: "J1", BindingID: "b1"}); err != nil {
		t.Fatal(err)
	}
	// A record outside the credentials, reachable by a crafted name.
	if err := rec.s.Store(ctx, "csb/osb/other", []byte(`{"password_sha256":"`+hashHex(pass)+`","owner":"x"}`)); err != nil {
		t.Fatal(err)
	}
	try := func(u, p string) (string, map[string]string, bool, string) {
		r := httptest.NewRequest(http.MethodGet, "http://broker.invalid/csb/jobs/J1/", nil)
		r.SetBasicAuth(u, p)
		w := httptest.NewRecorder()
		got, ok, err := b.Authenticate(w, r)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		return got.ID, got.Metadata, ok, w.Header().Get("WWW-Authenticate")
	}
	if id, md, ok, _ := try(user, pass); !ok || id != "platform/cloudfoundry:alice" || md["csb_job"] != "J1" || md["csb_binding"] != "b1" {
		t.Errorf("the binding's credential: %q %v %v", id, md, ok)
	}
	for _, tc := range [][2]string{{user, pass + "x"}, {"osb-AAAAAAAAAAAAAAAA", pass}, {"../other", pass}, {"osb-../../other/xx", pass}} {
		if _, _, ok, chal := try(tc[0], tc[1]); ok || chal != `Basic realm="apps"` {
			t.Errorf("%q: accepted %v, challenge %q", tc[0], ok, chal)
		}
	}
	if err := rec.deleteCredential(ctx, user); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := try(user, pass); ok {
		t.Errorf("a revoked credential was accepted")
	}
}
