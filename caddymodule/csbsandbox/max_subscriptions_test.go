package csbsandbox

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/parsetest"
)

// TestSandboxMaxSubscriptionsRange: max_subscriptions 0 was accepted and
// then meant the default, 16, and a number beyond an int wrapped to a
// negative one, the default too.
func TestSandboxMaxSubscriptionsRange(t *testing.T) {
	parsetest.CheckErrors(t, []parsetest.Case{
		{"zero", "csb_sandbox {\n max_subscriptions 0\n}", "positive integer"},
		{"wraps", "csb_sandbox {\n max_subscriptions 18446744073709551615\n}", "positive integer"},
	}, parsetest.Unmarshal[Sandbox]())
}
