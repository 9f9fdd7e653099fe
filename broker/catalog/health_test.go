package catalog

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/clock"
)

// TestSetHealthy: an unhealthy provider leaves placement and comes back
// once healthy; every change bumps the version.
func TestSetHealthy(t *testing.T) {
	c := newCat(t, Options{Clock: clock.NewFake(t0)})
	if err := c.Configure([]ProviderConfig{{ID: "a"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	c.ApplyNotification(notif("s1", 1, "a", iaas("x", 4)), true)
	c.ApplyNotification(notif("s2", 1, "b", iaas("y", 4)), true)
	v := c.Version()
	if !c.SetHealthy("a", false) || c.Healthy("a") {
		t.Fatal("mark unhealthy")
	}
	eq(t, ids(c.Placeable(KindIaaS)), []string{"b/y"})
	if c.Version() == v {
		t.Fatal("version not bumped")
	}
	if c.SetHealthy("a", false) {
		t.Fatal("marking twice reports a change")
	}
	if !c.SetHealthy("a", true) || !c.Healthy("a") {
		t.Fatal("mark healthy")
	}
	eq(t, ids(c.Placeable(KindIaaS)), []string{"a/x", "b/y"})
	if c.SetHealthy("nosuch", false) || !c.Healthy("nosuch") {
		t.Fatal("unknown provider")
	}
}
