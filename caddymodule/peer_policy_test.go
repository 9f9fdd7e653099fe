package caddymodule

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

func TestPeerPolicyCaddyfileErrors(t *testing.T) {
	for _, c := range []struct{ name, block, want string }{
		{"allowed_hosts without a pattern", "allowed_hosts", "wrong argument count"},
		{"allowed_hosts with a URL", "allowed_hosts https://evil.example/", "not a host pattern"},
		{"allowed_hosts with a bad wildcard", "allowed_hosts api.*.example.org", "wildcard"},
		{"allowed_hosts with a bad port", "allowed_hosts api.example.org:http", "bad port"},
		{"allow_private with an argument", "allow_private yes", "wrong argument count"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser("provider p {\n\t" + c.block + "\n}")
			d.Next()
			err := parseProviderBlock(d, new(App))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// TestPeerPolicyOriginsAndCheck builds a provider's policy the way the
// app's Provision does and judges URLs through checkPeerURL: the
// configured origins (adapter endpoint, subscribe URL, uri, static
// service href) are allowed, another origin is not, and an unknown
// provider is refused.
func TestPeerPolicyOriginsAndCheck(t *testing.T) {
	d := caddyfile.NewTestDispenser(`provider p {
	uri http://localhost:7000/
	subscribe https://csp.example.org/csb/subscribe
	service crm {
		kind saas
		link crm http://127.0.0.1:7100/app
	}
	allowed_hosts *.apps.example.org
}`)
	d.Next()
	app := new(App)
	if err := parseProviderBlock(d, app); err != nil {
		t.Fatal(err)
	}
	p := app.Providers[0]
	p.modules = []any{peerOrigins{"https://cimi.example.org:8443/cimi"}}
	if err := p.ProvisionPeerPolicy([]string{"127.0.0.1:2019"}, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]error{
		"https://cimi.example.org:8443/cimi/machines/1": nil,
		"https://csp.example.org/other":                 nil,
		"http://localhost:7000/x":                       nil,
		"http://127.0.0.1:7100/app/page":                nil,
		"https://cimi.example.org/cimi":                 peerurl.ErrHostNotAllowed, // another port
		"http://127.0.0.1:7101/":                        peerurl.ErrHostNotAllowed,
		"http://127.0.0.1:2019/config/":                 peerurl.ErrAdmin,
		"http://10.0.0.1.apps.example.org.invalid/":     peerurl.ErrHostNotAllowed,
	} {
		u, _ := url.Parse(raw)
		if err := app.CheckPeerURL("p", u); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("%s: err = %v, want %v", raw, err, want)
		}
	}
	u, _ := url.Parse("https://csp.example.org/")
	if err := app.CheckPeerURL("nobody", u); !errors.Is(err, errUnknownProvider) {
		t.Errorf("unknown provider: %v", err)
	}
}

// TestPeerPolicyDiscoveredServices: a discovered service naming a URL the
// provider's policy refuses is dropped; the others are kept.
func TestPeerPolicyDiscoveredServices(t *testing.T) {
	pol, err := peerurl.New(peerurl.Config{Origins: []string{"https://cloud.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	in := []csbmsg.Service{
		{ID: "ok", URI: "https://cloud.example.org/vm"},
		{ID: "meta", URI: "http://169.254.169.254/latest/"},
		{ID: "rel", URI: "machines/1"},
		{ID: "saas", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm", Href: "http://127.0.0.1:2019/"}}},
	}
	var ids []string
	for _, s := range allowedServices(in, pol, zap.NewNop()) {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, ",") != "ok,rel" {
		t.Fatalf("kept %v, want ok and rel", ids)
	}
	if len(in) != 4 || in[1].ID != "meta" {
		t.Fatalf("the input was changed: %v", in)
	}
}

// peerOrigins stands for an adapter module reporting its endpoint.
type peerOrigins []string

func (o peerOrigins) PeerOrigins() []string { return o }
