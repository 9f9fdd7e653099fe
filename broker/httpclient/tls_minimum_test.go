package httpclient

import (
	"crypto/tls"
	"testing"
)

// TestTLSConfigSetsMinimumTLS12: the provider client's TLS configuration
// names TLS 1.2 as its minimum itself. Go's client would not offer less
// today either (TestTLSMinimumVersion shows the refusal on the wire, and
// fails if the minimum is ever lowered), but the broker's floor should not
// rest on a library default that a later Go or a GODEBUG setting may move.
func TestTLSConfigSetsMinimumTLS12(t *testing.T) {
	for name, cfg := range map[string]TLS{
		"system trust": {},
		"server name":  {ServerName: "provider.example"},
	} {
		c, err := cfg.config()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.MinVersion != tls.VersionTLS12 {
			t.Errorf("%s: MinVersion %#x, want TLS 1.2 (%#x)", name, c.MinVersion, tls.VersionTLS12)
		}
	}
}
