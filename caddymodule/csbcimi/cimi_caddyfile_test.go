package csbcimi

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestCIMICaddyfileErrors: each malformed option names itself.
func TestCIMICaddyfileErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"csb_cimi /x", "wrong argument count"},
		{"csb_cimi {\n prefix cimi\n}", "must begin with /"},
		{"csb_cimi {\n max_body_size lots\n}", "max_body_size"},
		{"csb_cimi {\n machine_config small 1\n}", "machine_config <name>"},
		{"csb_cimi {\n machine_config small one 1\n}", "positive integers"},
		{"csb_cimi {\n machine_config small 1 1 {\n colour red\n }\n}", "unrecognized option"},
		{"csb_cimi {\n machine_image\n}", "machine_image <name>"},
		{"csb_cimi {\n volumes on\n}", "unrecognized option"},
		{"csb_cimi {\n policies\n}", "wrong argument count"},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
	h := Handler{Prefix: "/cimi/", MachineConfigs: []MachineConfig{{Name: "a", CPU: 1, MemoryGB: 1}, {Name: "a", CPU: 2, MemoryGB: 2}}}
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), `machine_config "a"`) {
		t.Errorf("duplicate config: %v", err)
	}
	h = Handler{Prefix: "/cimi/", MachineImages: []MachineImage{{Name: "default"}}}
	if err := h.Validate(); err == nil {
		t.Error("an image named default was accepted")
	}
}
