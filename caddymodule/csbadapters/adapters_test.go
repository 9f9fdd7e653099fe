package csbadapters

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/adapters/cdmi"
	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/caddymodule"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/parsetest"
)

func TestAdapterParseErrors(t *testing.T) {
	parsetest.CheckErrors(t, []parsetest.Case{
		{"no name", "provider p {\n adapter\n}", "wrong argument count"},
		{"unknown adapter", "provider p {\n adapter nosuch\n}", `unknown adapter "nosuch"`},
		{"cimi no endpoint", "provider p {\n adapter cimi\n}", "endpoint is required"},
		{"cimi unknown option", "provider p {\n adapter cimi http://x/ {\n colour red\n }\n}", `unrecognized option "colour"`},
		{"cimi extra arg", "provider p {\n adapter cimi http://x/ http://y/\n}", "wrong argument count"},
		{"cimi option without value", "provider p {\n adapter cimi {\n image\n }\n}", "wrong argument count"},
		{"cdmi no endpoint", "provider p {\n adapter cdmi {\n prefix x\n }\n}", "endpoint is required"},
		{"cdmi unknown option", "provider p {\n adapter cdmi http://x/ {\n image y\n }\n}", `unrecognized option "image"`},
	}, parsetest.Unmarshal[caddymodule.Provider]())
}

func TestAppLoadsAdapters(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	var app caddymodule.App
	if err := json.Unmarshal([]byte(`{"providers":[
		{"id":"a","adapter":{"name":"cimi","endpoint":"http://127.0.0.1:1/cimi/"}},
		{"id":"b","adapter":{"name":"cdmi","endpoint":"http://127.0.0.1:1/cdmi/"}},
		{"id":"c"}]}`), &app); err != nil {
		t.Fatal(err)
	}
	if err := app.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if a, ok := app.Adapter("a"); !ok {
		t.Error("no adapter for a")
	} else if _, ok := a.(*cimi.Adapter); !ok {
		t.Errorf("adapter of a is %T", a)
	}
	if a, ok := app.Adapter("b"); !ok {
		t.Error("no adapter for b")
	} else if _, ok := a.(*cdmi.Adapter); !ok {
		t.Errorf("adapter of b is %T", a)
	}
	if _, ok := app.Adapter("c"); ok {
		t.Error("c has no adapter")
	}
	var two caddymodule.App
	_ = json.Unmarshal([]byte(`{"providers":[{"id":"d","adapter":{"name":"cimi","endpoint":"http://127.0.0.1:1/cimi/"},
		"more_adapters":[{"name":"cdmi","endpoint":"http://127.0.0.1:1/cdmi/"}]}]}`), &two)
	if err := two.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if a, ok := two.AdapterFor("d", "DSaaS"); !ok {
		t.Error("no DSaaS adapter for d")
	} else if _, ok := a.(*cdmi.Adapter); !ok {
		t.Errorf("DSaaS adapter of d is %T", a)
	}
	if a, _ := two.AdapterFor("d", "IaaS"); a == nil {
		t.Error("no IaaS adapter for d")
	} else if _, ok := a.(*cimi.Adapter); !ok {
		t.Errorf("IaaS adapter of d is %T", a)
	}
	if _, ok := two.AdapterFor("d", "PaaS"); ok {
		t.Error("d has no PaaS adapter")
	}
	var bad caddymodule.App
	_ = json.Unmarshal([]byte(`{"providers":[{"id":"x","adapter":{"name":"cimi","endpoint":"ftp://x"}}]}`), &bad)
	if err := bad.Provision(ctx); err == nil || !strings.Contains(err.Error(), `provider "x"`) {
		t.Errorf("bad endpoint: %v", err)
	}
}
