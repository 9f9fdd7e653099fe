// Package peerurl decides whether the broker may call, or proxy to, a URL
// that came from a peer: a publisher's Link href or Cloud-Service-URI, an
// href in a provider's answer (a CIMI CloudEntryPoint, an OCCI location),
// a redirect, an OVF descriptor link. Without such a check a peer can make
// the broker call hosts it should never reach (its own admin endpoint,
// the cloud metadata service, the internal network), with the provider's
// credentials attached (server-side request forgery).
//
// A Policy allows two kinds of destinations:
//
//   - Origins: the scheme, host and port of URLs the operator configured
//     for the provider (its adapter endpoints, subscribe URL, uri). These
//     are trusted whatever they resolve to: configuring a provider on
//     localhost is the operator's opt-in.
//   - AllowedHosts: host patterns ("api.example.org", "*.example.org",
//     optionally ":port"). A host matched this way must resolve to public
//     addresses only, unless AllowPrivate is set; the addresses are
//     checked when the connection is made (Policy.DialContext), after name
//     resolution, so a name cannot be re-pointed inside (DNS rebinding).
//
// The addresses of Caddy's admin endpoint (Admin) are refused always,
// even for a configured origin and with AllowPrivate: calling it for a
// peer is never legitimate. Only http and https URLs without user info are
// allowed.
//
// Policy.Check judges a URL; Policy.DialContext judges the addresses a
// connection goes to; Policy.CheckRedirect judges a redirect. An HTTP
// client needs all three (see broker/httpclient).
//
// This package does not import Caddy.
package peerurl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Refusals; test with errors.Is. Every refusal is an *Error wrapping one
// of these.
var (
	// ErrHostNotAllowed: the host is neither a configured origin nor
	// matched by an allowed host pattern, or the URL carries user info.
	ErrHostNotAllowed = errors.New("host not allowed")
	// ErrScheme: the scheme is not http or https.
	ErrScheme = errors.New("scheme not allowed")
	// ErrAddress: the host is, or resolves to, an address that is not
	// public (loopback, private, link-local, ...) without AllowPrivate.
	ErrAddress = errors.New("address refused")
	// ErrAdmin: the URL or address is Caddy's admin endpoint.
	ErrAdmin = errors.New("admin endpoint refused")
	// ErrRedirect: a redirect that is not followed.
	ErrRedirect = errors.New("redirect refused")
	// ErrURL: not an absolute URL.
	ErrURL = errors.New("not an absolute url")
)

// Error is a refusal: the URL (or address) refused and why.
type Error struct {
	// URL is the refused URL without its user info and query (Redact:
	// a refused presigned URL's signature is not logged), or the
	// address ("host:port") a connection was refused to.
	URL string
	// Err is one of the sentinel errors, possibly wrapped with details.
	Err error
}

func (e *Error) Error() string { return "peer url " + e.URL + " refused: " + e.Err.Error() }

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

// Reason is the reason alone, without the URL.
func (e *Error) Reason() string { return e.Err.Error() }

// Resolver is the part of net.Resolver the policy uses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Policy. The zero value refuses every URL.
type Config struct {
	// Origins are URLs whose scheme, host and port are trusted
	// ("https://cimi.example.org/cimi" contributes
	// https://cimi.example.org:443). Paths are ignored. Empty strings are
	// skipped; anything else must be an absolute http or https URL.
	Origins []string
	// AllowedHosts are host patterns: "api.example.org" (that host),
	// "*.example.org" (any host below it, not the domain itself), each
	// optionally with ":port" to pin the port. IP literals are written as
	// in URLs ("192.0.2.7", "[2001:db8::7]"). Case-insensitive.
	AllowedHosts []string
	// AllowPrivate lets hosts matched by AllowedHosts resolve to
	// addresses that are not public (loopback, private, link-local
	// including cloud metadata, shared, unspecified, reserved).
	AllowPrivate bool
	// Admin are the listen addresses of Caddy's admin endpoint
	// ("localhost:2019", "127.0.0.1:41234", ":2019"); connections to them
	// are refused. Unix socket addresses are ignored.
	Admin []string
	// Resolver resolves host names. Default net.DefaultResolver.
	Resolver Resolver
	// OnRefuse, when set, is called with every refusal of Check,
	// CheckResolved, DialContext, CheckRedirect and RoundTripper (to log
	// it). It must be safe for concurrent use.
	OnRefuse func(*Error)
}

// Policy judges peer URLs. It is immutable and safe for concurrent use.
type Policy struct {
	origins      map[string]bool // "scheme://host:port" (host lower case, IPv6 in brackets)
	originHosts  map[string]bool // "host:port" of the origins, for the dial check
	patterns     []HostPattern
	allowPrivate bool
	admin        []adminAddr
	resolver     Resolver
	onRefuse     func(*Error)
}

// New checks cfg and builds its policy.
func New(cfg Config) (*Policy, error) {
	p := &Policy{
		origins:      map[string]bool{},
		originHosts:  map[string]bool{},
		allowPrivate: cfg.AllowPrivate,
		resolver:     cfg.Resolver,
		onRefuse:     cfg.OnRefuse,
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	for _, o := range cfg.Origins {
		if strings.TrimSpace(o) == "" {
			continue
		}
		u, err := url.Parse(strings.TrimSpace(o))
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("origin %q is not an absolute url", o)
		}
		scheme := strings.ToLower(u.Scheme)
		if scheme != "http" && scheme != "https" {
			return nil, fmt.Errorf("origin %q: scheme %q (want http or https)", o, u.Scheme)
		}
		host, port := hostPort(u)
		p.origins[scheme+"://"+net.JoinHostPort(host, port)] = true
		p.originHosts[net.JoinHostPort(host, port)] = true
	}
	for _, s := range cfg.AllowedHosts {
		hp, err := ParsePattern(s)
		if err != nil {
			return nil, err
		}
		p.patterns = append(p.patterns, hp)
	}
	for _, a := range cfg.Admin {
		if ad, ok := parseAdmin(a); ok {
			p.admin = append(p.admin, ad)
		}
	}
	return p, nil
}

// hostPort returns a URL's host in lower case without a trailing dot (and
// without IPv6 brackets) and its port, the scheme's default when absent.
func hostPort(u *url.URL) (string, string) {
	port := u.Port()
	if port == "" {
		port = DefaultPort(u.Scheme)
	}
	return canonicalHost(u.Hostname()), port
}

// canonicalHost is host in lower case without a trailing dot, an IP
// literal in its canonical form (so "0:0::1" and "::1" compare equal).
func canonicalHost(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String()
	}
	return host
}

// DefaultPort is the port of http (80) and https (443); "" for others.
func DefaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// redact is Redact, for the refusals.
func redact(u *url.URL) string { return Redact(u) }

func refuse(u *url.URL, err error) error { return &Error{URL: redact(u), Err: err} }

// report passes a refusal to OnRefuse and returns it.
func (p *Policy) report(err error) error {
	var pe *Error
	if p.onRefuse != nil && errors.As(err, &pe) {
		p.onRefuse(pe)
	}
	return err
}

// Check reports whether u may be called: nil, or an *Error naming the
// reason. It judges the URL alone; host names are resolved and their
// addresses judged when connecting (DialContext), or by CheckResolved.
func (p *Policy) Check(u *url.URL) error {
	return p.report(p.check(u))
}

func (p *Policy) check(u *url.URL) error {
	if u == nil || !u.IsAbs() {
		return refuse(u, ErrURL)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return refuse(u, fmt.Errorf("%w: %q (allowed: http, https)", ErrScheme, u.Scheme))
	}
	if u.User != nil {
		return refuse(u, fmt.Errorf("%w: credentials in the url", ErrHostNotAllowed))
	}
	host, port := hostPort(u)
	if host == "" {
		return refuse(u, fmt.Errorf("%w: no host", ErrHostNotAllowed))
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return refuse(u, fmt.Errorf("%w: bad port %q", ErrHostNotAllowed, port))
	}
	if ip, err := netip.ParseAddr(host); err == nil && p.isAdmin(ip, port) {
		return refuse(u, fmt.Errorf("%w: %s is caddy's admin endpoint", ErrAdmin, net.JoinHostPort(host, port)))
	}
	if host == "localhost" && p.isAdmin(netip.MustParseAddr("127.0.0.1"), port) {
		return refuse(u, fmt.Errorf("%w: %s is caddy's admin endpoint", ErrAdmin, net.JoinHostPort(host, port)))
	}
	if p.origins[scheme+"://"+net.JoinHostPort(host, port)] {
		return nil
	}
	if !p.matches(host, port) {
		if len(p.origins) == 0 && len(p.patterns) == 0 {
			return refuse(u, fmt.Errorf("%w: %s (no host is allowed: configure the allowed hosts)", ErrHostNotAllowed, u.Host))
		}
		return refuse(u, fmt.Errorf("%w: %s", ErrHostNotAllowed, u.Host))
	}
	if p.allowPrivate {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && !Public(ip) {
		return refuse(u, fmt.Errorf("%w: %s is not a public address (allow_private is off)", ErrAddress, ip))
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return refuse(u, fmt.Errorf("%w: %s is loopback (allow_private is off)", ErrAddress, host))
	}
	return nil
}

// CheckResolved is Check followed by the address check DialContext makes:
// a host name matched by an allowed pattern is resolved and every address
// judged. It serves callers whose connections do not go through
// DialContext; a name resolved here may resolve differently later, so
// DialContext remains the stronger guard.
func (p *Policy) CheckResolved(ctx context.Context, u *url.URL) error {
	_, err := p.ResolveDial(ctx, u)
	return err
}

// ResolveDial checks u as CheckResolved does and returns the address to
// connect to for it, host:port. For a host that is not a configured
// origin, that is one of the addresses the check judged (ip:port), so
// that a connection made later by a client that resolves names itself
// (Caddy's reverse proxy does, without DialContext) cannot reach another
// address the name resolves to by then: DNS rebinding. A configured
// origin keeps its name, as CheckResolved trusts it.
func (p *Policy) ResolveDial(ctx context.Context, u *url.URL) (string, error) {
	if err := p.check(u); err != nil {
		return "", p.report(err)
	}
	host, port := hostPort(u)
	if p.origins[strings.ToLower(u.Scheme)+"://"+net.JoinHostPort(host, port)] {
		return net.JoinHostPort(host, port), nil
	}
	addrs, err := p.lookup(ctx, host)
	if err != nil {
		return "", p.report(refuse(u, fmt.Errorf("%w: %s does not resolve: %v", ErrAddress, host, err)))
	}
	if len(addrs) == 0 {
		return "", p.report(refuse(u, fmt.Errorf("%w: %s has no address", ErrAddress, host)))
	}
	pick := netip.Addr{}
	for _, ip := range addrs {
		if err := p.checkAddr(host, port, ip); err != nil {
			return "", p.report(refuse(u, err))
		}
		// One address is dialled: an IPv4 one when the name has both
		// (a dual-stack name's service may listen on IPv4 only, as
		// "localhost" ones often do; Go's dialer would have tried both).
		if !pick.IsValid() || !pick.Unmap().Is4() && ip.Unmap().Is4() {
			pick = ip
		}
	}
	return net.JoinHostPort(pick.Unmap().String(), port), nil
}

func (p *Policy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	return p.resolver.LookupNetIP(ctx, "ip", host)
}

// Allowed reports whether u's scheme, host and port are a configured
// origin or its host and port are matched by an allowed pattern, without
// judging scheme, user info or addresses (Check does).
func (p *Policy) Allowed(u *url.URL) bool {
	host, port := hostPort(u)
	return p.isOrigin(u.Scheme, host, port) || p.matches(host, port)
}

// Origin reports whether u's scheme, host and port are one of the
// configured origins: the URLs the operator wrote for the provider, as
// opposed to hosts an allowed pattern matches.
func (p *Policy) Origin(u *url.URL) bool {
	host, port := hostPort(u)
	return p.isOrigin(u.Scheme, host, port)
}

func (p *Policy) isOrigin(scheme, host, port string) bool {
	return p.origins[strings.ToLower(scheme)+"://"+net.JoinHostPort(host, port)]
}

func (p *Policy) matches(host, port string) bool {
	for _, hp := range p.patterns {
		if hp.Match(host, port) {
			return true
		}
	}
	return false
}

// checkAddr judges one resolved address of host:port.
func (p *Policy) checkAddr(host, port string, ip netip.Addr) error {
	if p.isAdmin(ip, port) {
		return fmt.Errorf("%w: %s resolves to %s, caddy's admin endpoint", ErrAdmin, host, net.JoinHostPort(ip.String(), port))
	}
	if p.originHosts[net.JoinHostPort(host, port)] || p.allowPrivate {
		return nil
	}
	if !Public(ip) {
		return fmt.Errorf("%w: %s resolves to %s, which is not a public address", ErrAddress, host, ip)
	}
	return nil
}

// Dialer is what DialContext wraps: a net.Dialer's DialContext.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// DialContext returns a dial function that resolves the host, refuses a
// host:port that is neither a configured origin's nor allowed, refuses
// addresses Check's rules forbid (admin endpoint always; non-public ones
// for allowed hosts without AllowPrivate), and dials the first acceptable
// address with dial (a net.Dialer's when nil). Use it with a transport
// without a proxy: a proxy would connect on the client's behalf, past
// this check.
func (p *Policy) DialContext(dial Dialer) Dialer {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		host = canonicalHost(host)
		if !p.originHosts[net.JoinHostPort(host, port)] && !p.matches(host, port) {
			return nil, p.report(&Error{URL: addr, Err: fmt.Errorf("%w: %s", ErrHostNotAllowed, addr)})
		}
		addrs, err := p.lookup(ctx, host)
		if err != nil {
			return nil, err
		}
		var lastErr, refused error
		for _, ip := range addrs {
			if err := p.checkAddr(host, port, ip); err != nil {
				lastErr = &Error{URL: addr, Err: err}
				refused = lastErr
				continue
			}
			c, err := dial(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			lastErr = err
		}
		if lastErr == nil {
			lastErr = &Error{URL: addr, Err: fmt.Errorf("%w: %s has no address", ErrAddress, host)}
			refused = lastErr
		}
		if refused != nil {
			p.report(refused)
		}
		return nil, lastErr
	}
}

// CheckRedirect is an http.Client CheckRedirect: it stops after max
// redirects (10 when max <= 0) and refuses a redirect whose target Check
// refuses. The refused redirect is not followed: no request, and so no
// credential, goes to its target.
func (p *Policy) CheckRedirect(max int) func(req *http.Request, via []*http.Request) error {
	if max <= 0 {
		max = 10
	}
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > max {
			return p.report(&Error{URL: redact(req.URL), Err: fmt.Errorf("%w: more than %d redirects", ErrRedirect, max)})
		}
		if err := p.check(req.URL); err != nil {
			var pe *Error
			reason := err
			if errors.As(err, &pe) {
				reason = pe.Err
			}
			return p.report(&Error{URL: redact(req.URL), Err: fmt.Errorf("%w: %s redirects to %s: %w", ErrRedirect, via[len(via)-1].URL.Host, redact(req.URL), reason)})
		}
		return nil
	}
}

// RoundTripper returns a transport that refuses, before anything is
// sent, every request whose URL Check refuses, and passes the others to
// next. Put it outermost, above any layer that adds credentials.
func (p *Policy) RoundTripper(next http.RoundTripper) http.RoundTripper {
	return &checkedTransport{p: p, next: next}
}

type checkedTransport struct {
	p    *Policy
	next http.RoundTripper
}

func (t *checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.p.Check(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// CloseIdleConnections closes the next transport's idle connections.
func (t *checkedTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// HostPattern is one allowed host pattern (see Config.AllowedHosts).
type HostPattern struct {
	host     string // lower case; for a wildcard the suffix with its dot (".example.org")
	port     string // "" = any
	wildcard bool
}

// ParsePattern parses a host pattern: "host", "*.domain", optionally
// followed by ":port"; IPv6 literals in brackets.
func ParsePattern(s string) (HostPattern, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "" || strings.ContainsAny(v, "/@?# ") {
		return HostPattern{}, fmt.Errorf("allowed host %q is not a host pattern", s)
	}
	hp := HostPattern{}
	if host, port, err := net.SplitHostPort(v); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return HostPattern{}, fmt.Errorf("allowed host %q: bad port", s)
		}
		hp.host, hp.port = host, port
	} else {
		hp.host = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	}
	if strings.HasPrefix(hp.host, "*.") {
		hp.wildcard = true
		hp.host = hp.host[1:]
		if len(hp.host) < 2 || strings.Contains(hp.host[1:], "*") {
			return HostPattern{}, fmt.Errorf("allowed host %q: bad wildcard", s)
		}
	} else if strings.Contains(hp.host, "*") {
		return HostPattern{}, fmt.Errorf("allowed host %q: a wildcard may only lead (*.example.org)", s)
	}
	hp.host = strings.TrimSuffix(hp.host, ".")
	if hp.host == "" {
		return HostPattern{}, fmt.Errorf("allowed host %q is not a host pattern", s)
	}
	if ip, err := netip.ParseAddr(hp.host); err == nil {
		hp.host = ip.String() // canonical form, as hostPort compares
	}
	return hp, nil
}

// Match reports whether host (lower case, no brackets) and port match.
func (hp HostPattern) Match(host, port string) bool {
	if hp.port != "" && hp.port != port {
		return false
	}
	host = canonicalHost(host)
	if hp.wildcard {
		return strings.HasSuffix(host, hp.host) && len(host) > len(hp.host)
	}
	return host == hp.host
}

// adminAddr is one listen address of Caddy's admin endpoint.
type adminAddr struct {
	ip       netip.Addr // invalid: any local address (or a name, below)
	name     string     // a host name other than localhost
	loopback bool       // "localhost"
	port     string
}

func parseAdmin(s string) (adminAddr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "unix/") || strings.HasPrefix(s, "unixgram/") || strings.HasPrefix(s, "fd/") || strings.HasPrefix(s, "/") {
		return adminAddr{}, false
	}
	if i := strings.Index(s, "/"); i >= 0 { // "tcp/host:port"
		s = s[i+1:]
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return adminAddr{}, false
	}
	host = strings.ToLower(host)
	a := adminAddr{port: numericPort(port)}
	switch ip, err := netip.ParseAddr(host); {
	case err == nil && !ip.IsUnspecified():
		a.ip = ip.Unmap().WithZone("") // see isAdmin
	case err == nil, host == "":
		// every interface: any address of this machine
	case host == "localhost":
		a.loopback = true
	default:
		a.name = host
	}
	return a, true
}

// numericPort is port as the dialer reads it: "02019" is 2019. Ports
// that are not numbers come back as they are.
func numericPort(port string) string {
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		return strconv.FormatUint(n, 10)
	}
	return port
}

// isAdmin reports whether ip:port is an address of the admin endpoint.
// An admin endpoint on a loopback address is matched by every loopback
// address and the unspecified one (which connect to it); one on every
// interface by loopback,
// unspecified and this machine's interface addresses; one on a host name
// other than localhost by that name's addresses at the time of the check.
func (p *Policy) isAdmin(ip netip.Addr, port string) bool {
	// A link-local address is dialled with a zone ("fe80::1%eth0", or
	// "%2"), which the interface list and the admin's own address may
	// spell otherwise or not carry: compare addresses without it, or a
	// machine's own link-local address would not be this machine's.
	ip = ip.Unmap().WithZone("")
	// The port of a URL or dial address may carry leading zeros, which
	// the dialer ignores: compare numbers, not spellings.
	port = numericPort(port)
	for _, a := range p.admin {
		if a.port != port {
			continue
		}
		switch {
		case a.ip.IsValid():
			// Connecting to any loopback address, or to the unspecified
			// one, reaches a listener on a loopback address.
			if a.ip == ip || (a.ip.IsLoopback() && (ip.IsLoopback() || ip.IsUnspecified())) {
				return true
			}
		case a.loopback:
			if ip.IsLoopback() || ip.IsUnspecified() {
				return true
			}
		case a.name != "":
			addrs, err := p.resolver.LookupNetIP(context.Background(), "ip", a.name)
			if err == nil {
				for _, x := range addrs {
					if x.Unmap().WithZone("") == ip {
						return true
					}
				}
			}
		default:
			if ip.IsLoopback() || ip.IsUnspecified() || isLocal(ip) {
				return true
			}
		}
	}
	return false
}

// interfaceAddrs lists this machine's interface addresses (a variable
// so that tests can give a machine of their own).
var interfaceAddrs = net.InterfaceAddrs

// isLocal reports whether ip (without a zone) is an address of one of
// this machine's interfaces.
func isLocal(ip netip.Addr) bool {
	addrs, err := interfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated, RFC 4291): ::10.0.0.1 over a sit tunnel
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated, RFC 3879)
	netip.MustParsePrefix("100::/64"),        // discard-only (RFC 6666)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// Public reports whether an address is a public unicast address: not
// loopback, private, link-local (which includes the 169.254.169.254
// metadata service), multicast, unspecified, shared, documentation or
// reserved. IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) IPv6
// addresses are judged by the IPv4 address they carry: a host with a
// 6to4 tunnel sends 2002:7f00:1::'s packets, encapsulated, to 127.0.0.1.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	} else if ip.Is6() && sixTo4.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
