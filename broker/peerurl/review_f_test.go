package peerurl

import (
	"context"
	"errors"
	"net"
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
