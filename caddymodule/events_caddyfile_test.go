package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestEventsCaddyfileErrors: bad events blocks are refused with a message
// naming the problem.
func TestEventsCaddyfileErrors(t *testing.T) {
	for in, want := range map[string]string{
		"events {\n lease_warning soon\n}":                         "lease_warning",
		"events {\n max_wait -1s\n}":                               "max_wait",
		"events {\n retry 5m 1s\n}":                                "retry",
		"events {\n max_attempts 0\n}":                             "max_attempts",
		"events {\n webhook https://x.example/h\n}":                "a secret is required",
		"events {\n webhook https://x.example/h {\n nope 1\n }\n}": "unrecognized option",
		"events {\n bogus\n}":                                      "unrecognized option",
		"events {\n}\n events {\n}":                                "events given twice",
	} {
		a := new(App)
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb {\n" + in + "\n}"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	// Validate: an unknown event name, a bad URL, a bad host pattern.
	for _, c := range []struct {
		cfg  EventsConfig
		want string
	}{
		{EventsConfig{Webhooks: []*OperatorWebhook{{URL: "https://x.example/h", Secret: "s", Events: []string{"csb.job.nope"}}}}, "unknown event"},
		{EventsConfig{Webhooks: []*OperatorWebhook{{URL: "x.example/h", Secret: "s"}}}, "not an absolute"},
		{EventsConfig{AllowedHosts: []string{"a/b"}}, "not a host pattern"},
	} {
		if err := c.cfg.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestEventsLeaseWarningReachesTheEngine: events { lease_warning } is the
// job manager's LeaseWarning; off is negative (never).
func TestEventsLeaseWarningReachesTheEngine(t *testing.T) {
	for in, want := range map[string]int64{"10m": 600e9, "off": -1} {
		a := new(App)
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb {\n events {\n lease_warning " + in + "\n }\n}")); err != nil {
			t.Fatal(err)
		}
		if got := int64(a.Events.leaseWarning()); got != want {
			t.Errorf("lease_warning %s: %d", in, got)
		}
	}
}
