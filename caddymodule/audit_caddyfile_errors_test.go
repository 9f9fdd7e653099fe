package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// TestAuditCaddyfileErrorsNameFileLineToken (issue 2: "A Caddyfile error
// names the file, the line and the offending token"): the parse-error
// tables check for "Testfile:" only. Here whole Caddyfiles go through the
// caddyfile adapter, as "caddy adapt --config Caddyfile" does, and each
// error must name the file, the exact line and the offending token, for
// the global option, the provider block, the handler, the sandbox,
// digest_auth and the reverse proxy's dynamic upstreams.
func TestAuditCaddyfileErrorsNameFileLineToken(t *testing.T) {
	for _, c := range []struct {
		name, caddyfile, where, token string
	}{
		{"xml option", "{\n\tcsb {\n\t\txml {\n\t\t\tmax_depth deep\n\t\t}\n\t}\n}\n", "Caddyfile:4", `"deep"`},
		{"jobs option", "{\n\tcsb {\n\t\tjobs {\n\t\t\tanonymous maybe\n\t\t}\n\t}\n}\n", "Caddyfile:4", "maybe"},
		{"provider weight", "{\n\tcsb {\n\t\tprovider p1 {\n\t\t\tweight heavy\n\t\t}\n\t}\n}\n", "Caddyfile:4", `"heavy"`},
		{"provider unknown", "{\n\tcsb {\n\t\tprovider p1 {\n\t\t\tcolour blue\n\t\t}\n\t}\n}\n", "Caddyfile:4", "colour"},
		{"placement", "{\n\tcsb {\n\t\tplacement cheapest {\n\t\t\tdiscount 5\n\t\t}\n\t}\n}\n", "Caddyfile:4", `"discount"`},
		{"handler", ":8080 {\n\tcsb {\n\t\tpublish_paths /x\n\t}\n}\n", "Caddyfile:3", "publish_paths"},
		{"digest_auth", ":8080 {\n\tdigest_auth {\n\t\tnonce_lifetime soon\n\t}\n}\n", "Caddyfile:3", "soon"},
		{"csb_sandbox", ":8080 {\n\tcsb_sandbox cloud-a {\n\t\tprice 0.05\n\t\tcapacity many 128 1000\n\t}\n}\n", "Caddyfile:4", "many"},
		// ParseFloat takes "inf", which JSON cannot hold: a price or a
		// spend limit of inf would vanish from the adapted config.
		{"provider price inf", "{\n\tcsb {\n\t\tprovider p1 {\n\t\t\tprice inf\n\t\t}\n\t}\n}\n", "Caddyfile:4", `"inf"`},
		{"csb_sandbox price inf", ":8080 {\n\tcsb_sandbox cloud-a {\n\t\tprice +Inf\n\t}\n}\n", "Caddyfile:3", "+Inf"},
		{"dynamic csb", ":8080 {\n\treverse_proxy {\n\t\tdynamic csb {\n\t\t\tunhealthy_after never\n\t\t}\n\t}\n}\n", "Caddyfile:4", "never"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(c.caddyfile), map[string]any{"filename": "Caddyfile"})
			if err == nil {
				t.Fatalf("adapted without an error:\n%s", c.caddyfile)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, c.where+" ") && !strings.HasSuffix(msg, c.where) {
				t.Errorf("error %q does not name %s", msg, c.where)
			}
			if !strings.Contains(msg, c.token) {
				t.Errorf("error %q does not name the token %s", msg, c.token)
			}
		})
	}
}
