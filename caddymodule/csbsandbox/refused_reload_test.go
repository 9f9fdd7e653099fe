package csbsandbox

import (
	"context"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestSandboxRefusedReloadKeepsRunningConfig provisions a sandbox, then a
// replacement with the same id whose configuration Validate refuses, in
// the order Caddy's LoadModule uses (Provision, Validate, then Cleanup on
// the refusal). The running sandbox shares its cloud with the refused one
// through the usage pool, so the refused configuration must not have
// reconfigured it: its capacity stays the running one.
func TestSandboxRefusedReloadKeepsRunningConfig(t *testing.T) {
	ctx1, cancel1 := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel1()
	old := &Sandbox{ID: "refused-reload", Cores: 4, MemoryGB: 4, StorageGB: 20}
	if err := old.Provision(ctx1); err != nil {
		t.Fatal(err)
	}
	if err := old.Validate(); err != nil {
		t.Fatal(err)
	}
	defer cleanupWithin(t, old)

	ctx2, cancel2 := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel2()
	bad := &Sandbox{ID: "refused-reload", Cores: 8, MemoryGB: 4, StorageGB: 20,
		Faults: &SandboxFaults{ErrorRate: 1, ErrorRateStatus: 200}}
	err := bad.Provision(ctx2)
	if err == nil {
		err = bad.Validate()
	}
	if err == nil {
		t.Fatal("a fault status of 200 was accepted")
	}
	cleanupWithin(t, bad)

	if got := old.cloud.Config().Capacity.Cores; got != 4 {
		t.Errorf("the refused configuration changed the running sandbox's capacity to %d cores", got)
	}
}
