package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/adapters/ovf"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

func TestOVFOptionErrors(t *testing.T) {
	checkParseErrors(t, []parseCase{
		{"", "ovf extra {\n}", "wrong argument count"},
		{"", "ovf {\n allow_host\n}", "wrong argument count"},
		{"", "ovf {\n allow_http yes\n}", "wrong argument count"},
		{"", "ovf {\n max_size lots\n}", "not a size"},
		{"", "ovf {\n max_size 2GiB\n}", "not a size"},
		{"", "ovf {\n max_depth 0\n}", "not a positive whole number"},
		{"", "ovf {\n max_elements -1\n}", "not a positive whole number"},
		{"", "ovf {\n timeout never\n}", "not a positive duration"},
		{"", "ovf {\n rel\n}", "wrong argument count"},
		{"", "ovf {\n fetch_anything\n}", `unrecognized option "fetch_anything"`},
	}, func(d *caddyfile.Dispenser) error { d.Next(); return parseOVFOption(d, &App{}) })
	// The csb block refuses a second ovf block, as any option given twice.
	err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb {\n ovf {\n }\n ovf {\n }\n}"))
	if err == nil || !strings.Contains(err.Error(), "ovf given twice") {
		t.Errorf("a second ovf block: error %v, want one saying ovf given twice", err)
	}
}

// The app provisions the expander from the ovf block, refuses bad host
// patterns, and the expander refuses what it is not allowed to fetch.
func TestOVFExpanderFromApp(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &App{}
	if err := a.Provision(ctx); err != nil || a.OVFExpander() != nil {
		t.Fatalf("without ovf: %v, %v", err, a.OVFExpander())
	}
	a = &App{OVF: &OVFConfig{AllowedHosts: []string{"a*.example.org"}}}
	if err := a.Provision(ctx); err == nil {
		t.Error("bad host pattern accepted")
	}
	a = &App{OVF: &OVFConfig{AllowedHosts: []string{"images.example.org"}}}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := a.OVFExpander().Expand(context.Background(), csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Link: &csbmsg.Link{Rel: "ovf", Href: "https://169.254.169.254/latest/"}}})
	if !errors.Is(err, ovf.ErrHostNotAllowed) {
		t.Errorf("err = %v", err)
	}
}

// TestOVFUnsupportedIs420: a descriptor the draft's request cannot
// express (two virtual systems) is refused with the draft's 420, as the
// OVF adapter's README says; a malformed one stays 400 (the engine's
// answer to any other expansion error). Create answered every expansion
// error with 400.
func TestOVFUnsupportedIs420(t *testing.T) {
	unsupported := &ovf.Error{Href: "http://x/a.ovf", Err: fmt.Errorf("%w: two virtual systems", ovf.ErrUnsupported)}
	var re *placement.RequestError
	if err := ovfRefusal(unsupported); !errors.As(err, &re) || re.Status != csbmsg.StatusUnsupported || !strings.Contains(re.Reason, "two virtual systems") {
		t.Fatalf("unsupported descriptor: %v, want a 420 naming it", err)
	}
	malformed := &ovf.Error{Href: "http://x/a.ovf", Err: ovf.ErrMalformed}
	if err := ovfRefusal(malformed); errors.As(err, &re) || !errors.Is(err, ovf.ErrMalformed) {
		t.Fatalf("malformed descriptor: %v, want the error as it is", err)
	}
}
