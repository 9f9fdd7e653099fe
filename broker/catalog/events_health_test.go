package catalog

import (
	"fmt"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/clock"
)

// TestEventsOnHealth: OnHealth hears each change of a health mark once,
// and nothing for a mark set again or an unknown provider.
func TestEventsOnHealth(t *testing.T) {
	var heard []string
	c := newCat(t, Options{Clock: clock.NewFake(t0), OnHealth: func(id string, healthy bool) {
		heard = append(heard, fmt.Sprintf("%s=%v", id, healthy))
	}})
	if err := c.Configure([]ProviderConfig{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	c.SetHealthy("a", false)
	c.SetHealthy("a", false)
	c.SetHealthy("nope", false)
	c.SetHealthy("a", true)
	if fmt.Sprint(heard) != "[a=false a=true]" {
		t.Fatalf("heard %v", heard)
	}
}
