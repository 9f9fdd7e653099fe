package caddymodule

import (
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// TestExplainNamesUnhealthyProvider: an explanation says why a
// configured provider was not considered. One the broker marked
// unhealthy, with active services, was said to have "none of its 1 IaaS
// service(s) placeable (0 expired, 0 deactivated or unavailable)".
func TestExplainNamesUnhealthyProvider(t *testing.T) {
	c, err := catalog.New(catalog.Options{SyncInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	if err := c.Configure([]catalog.ProviderConfig{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	cores := uint64(4)
	c.ApplyNotification(&csbmsg.Notification{ID: "sa", SeqNumber: 1, Provider: csbmsg.Provider{ID: "a", Status: csbmsg.ServiceActive},
		Services: []csbmsg.Service{{ID: "vm", Status: csbmsg.ServiceActive, IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: &cores}}}}}, true)
	c.SetHealthy("a", false)
	app := &App{live: new(atomic.Pointer[engine])}
	app.live.Store(&engine{catalog: c})
	if got := app.notConsidered("a", catalog.KindIaaS); got != placement.UnhealthyReason {
		t.Fatalf("unhealthy a: %q", got)
	}
}
