package tests

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestAuditTLSDeviationTable backs the TLS deviation table of
// CONFORMANCE.md (section 8) on the broker's side: both interfaces are
// served over TLS by Caddy (draft section 8, RFC 2818), with TLS 1.2 and
// 1.3 only; the CIMI suite list's TLS 1.0 and TLS_RSA_WITH_AES_128_CBC_SHA
// are refused at the handshake, and Go has no implementation at all of
// TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA and TLS_RSA_WITH_NULL_SHA.
func TestAuditTLSDeviationTable(t *testing.T) {
	// What Go offers: CONFORMANCE.md's table quotes these lists.
	names := func(cs []*tls.CipherSuite) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	secure, insecure := names(tls.CipherSuites()), names(tls.InsecureCipherSuites())
	if slices.Contains(secure, "TLS_RSA_WITH_AES_128_CBC_SHA") || !slices.Contains(insecure, "TLS_RSA_WITH_AES_128_CBC_SHA") {
		t.Errorf("TLS_RSA_WITH_AES_128_CBC_SHA: in tls.CipherSuites() %v, in tls.InsecureCipherSuites() %v",
			slices.Contains(secure, "TLS_RSA_WITH_AES_128_CBC_SHA"), slices.Contains(insecure, "TLS_RSA_WITH_AES_128_CBC_SHA"))
	}
	for _, absent := range []string{"TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_NULL_SHA"} {
		if slices.Contains(secure, absent) || slices.Contains(insecure, absent) {
			t.Errorf("%s is implemented by this Go: update the table", absent)
		}
	}

	port := harness.FreePort(t)
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	skip_install_trust
	auto_https disable_redirects
	csb
}
https://localhost:%d {
	tls internal
	csb
}
`, port))
	waitTLS(t, p, fmt.Sprintf("https://localhost:%d/", port))
	roots := p.RootCAs()
	handshake := func(cfg *tls.Config) (*tls.ConnectionState, error) {
		cfg.RootCAs, cfg.ServerName = roots, "localhost"
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		st := c.ConnectionState()
		return &st, nil
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		st, err := handshake(&tls.Config{MinVersion: v, MaxVersion: v})
		if err != nil || st.Version != v {
			t.Errorf("%s: %v", tls.VersionName(v), err)
		}
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		_, err := handshake(&tls.Config{MinVersion: v, MaxVersion: v})
		if err == nil {
			t.Errorf("%s accepted: the broker must offer TLS 1.2 and 1.3 only", tls.VersionName(v))
		}
		t.Logf("%s: %v", tls.VersionName(v), err)
	}
	// TLS 1.2 with only the CIMI list's RSA key-exchange suite: refused
	// (Caddy offers only tls.CipherSuites()).
	_, err := handshake(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}})
	if err == nil {
		t.Error("TLS_RSA_WITH_AES_128_CBC_SHA accepted")
	}
	t.Logf("TLS_RSA_WITH_AES_128_CBC_SHA: %v", err)
}
