package csbadapters

import (
	"context"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/parsetest"
)

func TestLinkAdapterCaddyfile(t *testing.T) {
	var l LinkAdapter
	if err := l.UnmarshalCaddyfile(caddyfile.NewTestDispenser("link {\n schemes https\n}")); err != nil {
		t.Fatal(err)
	}
	if len(l.Schemes) != 1 || l.Schemes[0] != "https" {
		t.Errorf("schemes = %v", l.Schemes)
	}
	parsetest.CheckErrors(t, []parsetest.Case{
		{"", "link extra", "wrong argument count"},
		{"", "link {\n schemes\n}", "wrong argument count"},
		{"", "link {\n probe\n}", `unrecognized option "probe"`},
	}, parsetest.Unmarshal[LinkAdapter]())
}

func TestLinkAdapterModule(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	l := &LinkAdapter{Schemes: []string{"https"}}
	if err := l.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	svc := csbmsg.Service{ID: "crm", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm", Href: "http://crm.example.org/"}}}
	_, err := l.Adapter().Provision(context.Background(), &contract.Request{Want: csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm"}}}, Service: svc})
	if contract.KindOf(err) != contract.KindUnsupported {
		t.Errorf("http href with schemes https: %v", err)
	}
}
