package csbadapters

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/parsetest"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

func TestOCCIAdapterCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`occi https://occi.example.org/ {
		rendering text/occi
		os_tpl http://example.org/os_tpl#debian
		network /network/public
		no_start
		service_id cloud-a
		offer cores 16 memory 64 speed 3 storage 500 architecture x64
		retries 0
		retry_backoff 50ms
		model_ttl 1m
	}`)
	var o OCCIAdapter
	if err := o.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(o)
	want := `{"endpoint":"https://occi.example.org/","rendering":"text/occi","os_tpl":"http://example.org/os_tpl#debian","network":"/network/public","no_start":true,"service_id":"cloud-a","offer":{"architecture":"x64","cores":16,"memory":64,"speed":3,"storage":500},"retries":-1,"retry_backoff":50000000,"model_ttl":60000000000}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// The endpoint may also be a subdirective.
	d = caddyfile.NewTestDispenser("occi {\n endpoint {env.OCCI_URL}\n}")
	o = OCCIAdapter{}
	if err := o.UnmarshalCaddyfile(d); err != nil || o.Endpoint != "{env.OCCI_URL}" {
		t.Errorf("endpoint subdirective: %v %q", err, o.Endpoint)
	}
}

func TestOCCIAdapterCaddyfileErrors(t *testing.T) {
	parsetest.CheckErrors(t, []parsetest.Case{
		{"", `occi`, "an endpoint is required"},
		{"", `occi http://a/ http://b/`, "wrong argument count"},
		{"", "occi http://a/ {\n rendering application/json\n}", "must be text/plain or text/occi"},
		{"", "occi http://a/ {\n rendering\n}", "wrong argument count"},
		{"", "occi http://a/ {\n no_start yes\n}", "wrong argument count"},
		{"", "occi http://a/ {\n offer cores\n}", "offer takes pairs"},
		{"", "occi http://a/ {\n offer cores many\n}", "not a whole number"},
		{"", "occi http://a/ {\n offer disks 4\n}", "unknown offer"},
		{"", "occi http://a/ {\n offer architecture arm\n}", "must be x86 or x64"},
		{"", "occi http://a/ {\n retries -2\n}", "not a whole number"},
		{"", "occi http://a/ {\n retry_backoff soon\n}", "not a duration"},
		{"", "occi http://a/ {\n bogus 1\n}", `unrecognized option "bogus"`},
	}, parsetest.Unmarshal[OCCIAdapter]())
}

// The module provisions (placeholders expanded), takes the provider's
// client, and its adapter works against the fixture.
func TestOCCIAdapterModule(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	t.Setenv("CSB_TEST_OCCI", srv.URL)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	o := &OCCIAdapter{Endpoint: "{env.CSB_TEST_OCCI}", RetryBackoff: caddy.Duration(time.Millisecond)}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	calls := 0
	o.SetHTTPClient(&http.Client{Transport: occiRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		return http.DefaultTransport.RoundTrip(r)
	})})
	a := o.Adapter()
	res, err := a.Provision(context.Background(), &contract.Request{JobID: "j", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: new(uint64)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.URI, srv.URL) || calls == 0 {
		t.Errorf("URI %s, %d calls through the provider client", res.URI, calls)
	}
	if _, ok := a.(contract.Discoverer); !ok {
		t.Error("the occi adapter should discover")
	}
	bad := &OCCIAdapter{Endpoint: "ftp://x/"}
	if err := bad.Provision(ctx); err == nil {
		t.Error("an ftp endpoint provisioned")
	}
}

type occiRoundTripFunc func(*http.Request) (*http.Response, error)

func (f occiRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
