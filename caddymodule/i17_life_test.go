package caddymodule

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// TestCheckIntervalCaddyfile checks that jobs { check_interval } reaches
// the engine's Config, and that the engine's default applies without it.
func TestCheckIntervalCaddyfile(t *testing.T) {
	a := new(App)
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("csb {\n jobs {\n check_interval 90s\n }\n}")); err != nil {
		t.Fatal(err)
	}
	if got := a.consumerConfig().tunables().CheckInterval; got != 90*time.Second {
		t.Fatalf("check_interval 90s gave %s", got)
	}
	if got := new(ConsumerConfig).tunables().WithDefaults().CheckInterval; got != jobs.DefaultCheckInterval {
		t.Fatalf("default %s, want %s", got, jobs.DefaultCheckInterval)
	}
}
