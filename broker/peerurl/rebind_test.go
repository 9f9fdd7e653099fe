package peerurl

import (
	"context"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
)

// rebinding answers a public address to its first lookup of a name and a
// private one to every later lookup: a DNS server an attacker runs.
type rebinding struct{ calls atomic.Int32 }

func (r *rebinding) LookupNetIP(_ context.Context, _, _ string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{netip.MustParseAddr("8.8.8.8")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
}

// TestResolveDialPinsTheCheckedAddress: the address ResolveDial returns
// for a host matched by allowed_hosts is the one it judged, so a client
// that dials it cannot be sent to the address a later lookup gives (DNS
// rebinding); a configured origin keeps its name; a refused one is an
// error, as CheckResolved's.
func TestResolveDialPinsTheCheckedAddress(t *testing.T) {
	res := &rebinding{}
	p := mustPolicy(t, Config{AllowedHosts: []string{"*.example.net"}, Origins: []string{"http://origin.example.net:8080"}, Resolver: res})
	u, _ := url.Parse("http://svc.example.net/a")
	dial, err := p.ResolveDial(context.Background(), u)
	if err != nil || dial != "8.8.8.8:80" {
		t.Fatalf("ResolveDial: %q %v, want the checked address 8.8.8.8:80", dial, err)
	}
	// The name now resolves to the metadata address: refused.
	if _, err := p.ResolveDial(context.Background(), u); err == nil {
		t.Fatal("a name resolving to 169.254.169.254 was accepted")
	}
	o, _ := url.Parse("http://origin.example.net:8080/x")
	if dial, err := p.ResolveDial(context.Background(), o); err != nil || dial != "origin.example.net:8080" {
		t.Fatalf("configured origin: %q %v", dial, err)
	}
	v6 := mustPolicy(t, Config{AllowedHosts: []string{"v6.example.com"}})
	u6, _ := url.Parse("http://v6.example.com:8080/")
	if dial, err := v6.ResolveDial(context.Background(), u6); err != nil || dial != "[2606:4700::1111]:8080" {
		t.Fatalf("IPv6: %q %v", dial, err)
	}
}

// TestResolveDialPrefersIPv4: of a dual-stack name's addresses, the one
// dialled is an IPv4 address, whatever order the resolver gives.
func TestResolveDialPrefersIPv4(t *testing.T) {
	p := mustPolicy(t, Config{AllowedHosts: []string{"dual.example.net"}, Resolver: fakeResolver{"dual.example.net": {"2606:4700::1111", "8.8.8.8"}}})
	u, _ := url.Parse("http://dual.example.net:81/")
	if dial, err := p.ResolveDial(context.Background(), u); err != nil || dial != "8.8.8.8:81" {
		t.Fatalf("ResolveDial: %q %v, want 8.8.8.8:81", dial, err)
	}
}
