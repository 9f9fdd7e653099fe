package tests

import (
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/tests/ospeer"
)

// TestNovaPeerStarts: the shared OpenStack starts, and says how long it
// took.
func TestNovaPeerStarts(t *testing.T) {
	o := ospeer.Shared(t)
	t.Logf("OpenStack started in %s (Keystone %s, Nova %s)", o.Started.Round(100*time.Millisecond), o.AuthURL, o.ComputeURL)
}
