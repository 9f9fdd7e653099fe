package openstack

import (
	"context"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestFrontRefusedRenewsToken: after Keystone revoked the token a
// fronted request carried, FrontRefused authenticates again and puts the
// new token on the request; a second call for the same refused token (a
// concurrent request) reuses it instead of authenticating once more.
func TestFrontRefusedRenewsToken(t *testing.T) {
	d := newDouble(t)
	a := novaAdapter(t, d)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "rf", Want: adaptertest.IaaS(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	res = waitReady(t, a, res)
	r, _ := http.NewRequest(http.MethodGet, "http://broker/servers/"+res.Native[nativeServerID], nil)
	if _, err := a.Front(ctx, r, res); err != nil {
		t.Fatal(err)
	}
	refused := r.Header.Get("X-Auth-Token")
	calls := d.authCalls
	d.revokeAll()
	if err := a.FrontRefused(ctx, r, res); err != nil {
		t.Fatal(err)
	}
	renewed := r.Header.Get("X-Auth-Token")
	if renewed == "" || renewed == refused || d.authCalls != calls+1 {
		t.Fatalf("token %q → %q after %d authentications (want a new token after one)", refused, renewed, d.authCalls-calls)
	}
	r2, _ := http.NewRequest(http.MethodGet, "http://broker/servers/x", nil)
	r2.Header.Set("X-Auth-Token", refused)
	if err := a.FrontRefused(ctx, r2, res); err != nil {
		t.Fatal(err)
	}
	if r2.Header.Get("X-Auth-Token") != renewed || d.authCalls != calls+1 {
		t.Fatalf("second refusal of the same token: %q after %d authentications", r2.Header.Get("X-Auth-Token"), d.authCalls-calls)
	}
	if err := a.FrontRefused(ctx, r2, &contract.Resource{Native: map[string]string{"kind": "other"}}); err == nil {
		t.Fatal("FrontRefused accepted another adapter's resource")
	}
}
