package csbplacement

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestCheapestPriceMustBeFinite: "price <provider> inf" was taken (it
// parses as +Inf and is not negative); the adapted JSON cannot hold it,
// so the cheapest policy was dropped from the config without a word and
// placement ran by configuration order. It is refused with the line.
func TestCheapestPriceMustBeFinite(t *testing.T) {
	for _, v := range []string{"inf", "+Inf", "infinity", "NaN", "-1"} {
		var p PlacementCheapest
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cheapest {\n price a " + v + "\n}"))
		if err == nil || !strings.Contains(err.Error(), "want a non-negative number") {
			t.Errorf("price %s: %v, want a refusal", v, err)
		}
	}
	var p PlacementCheapest
	if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cheapest {\n price a 0.25\n price b/vm 0\n}")); err != nil || p.Prices["a"] != 0.25 {
		t.Fatalf("finite prices: %v %v", p.Prices, err)
	}
}
