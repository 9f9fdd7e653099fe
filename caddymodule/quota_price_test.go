package caddymodule_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/caddymodule"
)

// TestQuotaNegativePriceRefused: a provider's price in the JSON config
// is held to what the Caddyfile's price option takes, a non-negative
// number. The JSON config took any number: at a negative price a job's
// cost ran backwards, and what it "earned" was taken off the spend its
// owner's limits are checked against, so a consumer could spend past
// them.
func TestQuotaNegativePriceRefused(t *testing.T) {
	for _, c := range []struct {
		config, want string
	}{
		{`{"providers": [{"id": "a", "price": -0.5}]}`, `provider "a": price -0.5: want a non-negative number`},
		{`{"providers": [{"id": "a", "price": -1}], "consumer": {}}`, `provider "a": price -1: want a non-negative number`},
		{`{"providers": [{"id": "a", "price": 0}, {"id": "b", "price": 0.25}]}`, ""},
	} {
		var a caddymodule.App
		if err := json.Unmarshal([]byte(c.config), &a); err != nil {
			t.Fatal(err)
		}
		err := a.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.config, err, c.want)
		}
	}
}
