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

// TestPublic6to4: a 6to4 address (2002::/16, RFC 3056) carries the IPv4
// address its packets are sent to, encapsulated, by a host with a 6to4
// tunnel (a sit interface, as for the IPv4-compatible addresses above):
// 2002:7f00:1:: goes to 127.0.0.1, 2002:a9fe:a9fe:: to the metadata
// service. It is judged by that address, as NAT64 ones are. 100::/64 is
// discard-only (RFC 6666).
func TestPublic6to4(t *testing.T) {
	for _, s := range []string{"2002:7f00:1::1", "2002:a9fe:a9fe::", "2002:a00:1:1::5", "2002:c0a8:101::1", "100::1"} {
		if Public(netip.MustParseAddr(s)) {
			t.Errorf("%s is public", s)
		}
	}
	if !Public(netip.MustParseAddr("2002:808:808::1")) {
		t.Error("2002:808:808::1 (6to4 of 8.8.8.8) is not public")
	}
	p := mustPolicy(t, Config{AllowedHosts: []string{"[2002:7f00:1::1]"}})
	u, _ := url.Parse("http://[2002:7f00:1::1]/")
	if err := p.CheckResolved(context.Background(), u); !errors.Is(err, ErrAddress) {
		t.Errorf("6to4 of 127.0.0.1: %v, want it refused", err)
	}
}
