package cdmi

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
)

// TestReadmeHonouredFields keeps README.md's list of honoured request
// fields equal to the set the adapter declares.
func TestReadmeHonouredFields(t *testing.T) {
	adaptertest.CheckHonoured(t, "README.md", (&Adapter{}).HonouredFields())
}
