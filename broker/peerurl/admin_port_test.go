package peerurl

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"testing"
)

// TestAdminPortWithLeadingZeros: a port written with leading zeros
// ("02019") is the same port to the dialer (Go's and the kernel's read it
// as 2019), so it must be the same port to the policy: the admin
// endpoint is refused in every spelling, even for a host allowed with
// allow_private, in Check, CheckResolved and DialContext alike.
func TestAdminPortWithLeadingZeros(t *testing.T) {
	p := mustPolicy(t, Config{
		AllowedHosts: []string{"127.0.0.1", "admin.example.com"},
		AllowPrivate: true,
		Admin:        []string{"localhost:2019"},
	})
	for _, raw := range []string{"http://127.0.0.1:02019/load", "http://127.0.0.1:0002019/load", "http://admin.example.com:02019/load"} {
		u, _ := url.Parse(raw)
		if err := p.CheckResolved(context.Background(), u); !errors.Is(err, ErrAdmin) {
			t.Errorf("%s: %v, want the admin endpoint refused", raw, err)
		}
	}
	dialled := false
	dial := p.DialContext(func(context.Context, string, string) (net.Conn, error) {
		dialled = true
		return nil, errors.New("dialled")
	})
	if _, err := dial(context.Background(), "tcp", "127.0.0.1:02019"); !errors.Is(err, ErrAdmin) || dialled {
		t.Errorf("dial 127.0.0.1:02019: %v (dialled %v), want the admin endpoint refused", err, dialled)
	}
	// The same spelling of an ordinary port is that port: allowed.
	u, _ := url.Parse("http://127.0.0.1:08080/x")
	if err := p.CheckResolved(context.Background(), u); err != nil {
		t.Errorf("127.0.0.1:08080: %v", err)
	}
}

// TestPublicDeprecatedIPv6Ranges: IPv4-compatible IPv6 addresses
// (::a.b.c.d, deprecated by RFC 4291) and site-local ones (fec0::/10,
// deprecated by RFC 3879) are not public: a host where they still route
// (a sit tunnel, an old site-local network) would reach inside.
func TestPublicDeprecatedIPv6Ranges(t *testing.T) {
	for _, s := range []string{"::169.254.169.254", "::127.0.0.1", "::10.0.0.1", "fec0::1", "feff::1"} {
		if Public(netip.MustParseAddr(s)) {
			t.Errorf("%s is public", s)
		}
	}
	for _, s := range []string{"::ffff:8.8.8.8", "2606:4700::1111"} {
		if !Public(netip.MustParseAddr(s)) {
			t.Errorf("%s is not public", s)
		}
	}
}
