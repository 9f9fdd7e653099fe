package peerurl

import (
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
)

// TestAdminByZonedLinkLocal: an admin endpoint listening on every
// interface (":2019", "[::]:2019") is reached through any address of the
// machine, its IPv6 link-local one included. Such an address is only
// dialled with a zone ("fe80::fc:ff:fe00:1%eth0", in a URL
// "[fe80::fc:ff:fe00:1%25eth0]"), which the interface list does not
// carry: the zone must not make the address look foreign, or a provider
// allowed with allow_private could name the admin endpoint that way (the
// connection, tried on a Linux host, reaches a listener on [::]). The
// interface list is this test's, so the result does not depend on the
// machine.
func TestAdminByZonedLinkLocal(t *testing.T) {
	saved := interfaceAddrs
	defer func() { interfaceAddrs = saved }()
	interfaceAddrs = func() ([]net.Addr, error) {
		_, v4, _ := net.ParseCIDR("192.0.2.50/24")
		v4.IP = net.ParseIP("192.0.2.50")
		ll := &net.IPNet{IP: net.ParseIP("fe80::fc:ff:fe00:1"), Mask: net.CIDRMask(64, 128)}
		return []net.Addr{v4, ll}, nil
	}
	p := mustPolicy(t, Config{
		AllowedHosts: []string{"[fe80::fc:ff:fe00:1%eth0]", "[fe80::fc:ff:fe00:1%2]", "192.0.2.50"},
		AllowPrivate: true,
		Admin:        []string{":2019", "[fe80::fc:ff:fe00:1%eth0]:2999"},
	})
	for _, raw := range []string{
		"http://[fe80::fc:ff:fe00:1%25eth0]:2019/config/",
		"http://[fe80::fc:ff:fe00:1%252]:2019/config/",
		"http://192.0.2.50:2019/config/",
		"http://[fe80::fc:ff:fe00:1%252]:2999/config/", // the admin address in another zone spelling
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.CheckResolved(context.Background(), u); !errors.Is(err, ErrAdmin) {
			t.Errorf("%s: %v, want the admin endpoint refused", raw, err)
		}
	}
	dialled := false
	dial := p.DialContext(func(context.Context, string, string) (net.Conn, error) {
		dialled = true
		return nil, errors.New("dialled")
	})
	if _, err := dial(context.Background(), "tcp", "[fe80::fc:ff:fe00:1%eth0]:2019"); !errors.Is(err, ErrAdmin) || dialled {
		t.Errorf("dial: %v (dialled %v), want the admin endpoint refused", err, dialled)
	}
	// Another port of the same address is an ordinary private address.
	u, _ := url.Parse("http://[fe80::fc:ff:fe00:1%25eth0]:8080/")
	if err := p.CheckResolved(context.Background(), u); err != nil {
		t.Errorf("another port: %v", err)
	}
}
