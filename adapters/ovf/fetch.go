package ovf

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Fetch refusals; test with errors.Is.
var (
	ErrHostNotAllowed = errors.New("host not allowed")
	ErrScheme         = errors.New("scheme not allowed")
	ErrAddress        = errors.New("address refused")
	ErrRedirect       = errors.New("redirect refused")
	ErrFetch          = errors.New("fetch failed")
)

// FetchConfig configures a Fetcher. The zero value refuses everything:
// hosts must be allowed explicitly.
type FetchConfig struct {
	// AllowedHosts are the host patterns descriptors may be fetched from:
	// "ovf.example.org" (that host), "*.example.org" (any host below it,
	// not the domain itself), optionally with ":port" to pin the port. IP
	// literals are written as they appear in URLs ("192.0.2.7",
	// "[2001:db8::7]"). Matching is case-insensitive. Default: none.
	AllowedHosts []string
	// AllowPrivate allows addresses that are loopback, private (RFC 1918,
	// RFC 4193), link-local (which includes cloud metadata services),
	// shared (RFC 6598) or unspecified. Default false.
	AllowPrivate bool
	// AllowHTTP allows plain http URLs. Default: https only.
	AllowHTTP bool
	// MaxBytes is the largest descriptor fetched. Default 1 MiB.
	MaxBytes int64
	// Timeout bounds one fetch, redirects included. Default 10 s.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed, each to the same
	// scheme, host and port only. Default 3; negative means none.
	MaxRedirects int
	// TLS is the TLS configuration (trusted roots). Default: the system's.
	TLS *tls.Config
	// Resolver resolves host names. Default net.DefaultResolver.
	Resolver Resolver
}

// Resolver is the part of net.Resolver the fetcher uses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Fetcher fetches descriptors without becoming an open proxy: only from
// allowed hosts, only to public addresses (checked at connection time,
// after name resolution, so DNS rebinding cannot reach inside), without
// proxies, following redirects only within the same origin, and reading
// at most MaxBytes.
type Fetcher struct {
	cfg      FetchConfig
	patterns []hostPattern
	client   *http.Client
}

type hostPattern struct {
	host     string // lower case; leading "*." for a suffix pattern
	port     string // "" = any
	wildcard bool
}

// NewFetcher checks cfg and returns a fetcher.
func NewFetcher(cfg FetchConfig) (*Fetcher, error) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	switch {
	case cfg.MaxRedirects == 0:
		cfg.MaxRedirects = 3
	case cfg.MaxRedirects < 0:
		cfg.MaxRedirects = 0
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	f := &Fetcher{cfg: cfg}
	for _, p := range cfg.AllowedHosts {
		hp, err := parsePattern(p)
		if err != nil {
			return nil, err
		}
		f.patterns = append(f.patterns, hp)
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           f.dial,
		TLSClientConfig:       cfg.TLS,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	f.client = &http.Client{Transport: tr, CheckRedirect: f.checkRedirect}
	return f, nil
}

func parsePattern(p string) (hostPattern, error) {
	s := strings.ToLower(strings.TrimSpace(p))
	if s == "" || strings.Contains(s, "/") || strings.Contains(s, "@") {
		return hostPattern{}, fmt.Errorf("ovf: allowed host %q is not a host pattern", p)
	}
	hp := hostPattern{}
	host, port, err := net.SplitHostPort(s)
	if err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return hostPattern{}, fmt.Errorf("ovf: allowed host %q: bad port", p)
		}
		hp.host, hp.port = host, port
	} else {
		hp.host = strings.Trim(s, "[]")
	}
	if strings.HasPrefix(hp.host, "*.") {
		hp.wildcard = true
		hp.host = hp.host[1:] // ".example.org"
		if len(hp.host) < 2 || strings.Contains(hp.host[1:], "*") {
			return hostPattern{}, fmt.Errorf("ovf: allowed host %q: bad wildcard", p)
		}
	} else if strings.Contains(hp.host, "*") {
		return hostPattern{}, fmt.Errorf("ovf: allowed host %q: a wildcard may only lead (*.example.org)", p)
	}
	hp.host = strings.TrimSuffix(hp.host, ".")
	return hp, nil
}

// Allowed reports whether a URL's host is allowed.
func (f *Fetcher) Allowed(u *url.URL) bool {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, p := range f.patterns {
		if p.port != "" && p.port != port {
			continue
		}
		if p.wildcard {
			if strings.HasSuffix(host, p.host) && len(host) > len(p.host) {
				return true
			}
			continue
		}
		if host == p.host {
			return true
		}
	}
	return false
}

// check refuses URLs the fetcher must not touch.
func (f *Fetcher) check(u *url.URL) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.cfg.AllowHTTP:
	default:
		return fmt.Errorf("%w: %q (allowed: https%s)", ErrScheme, u.Scheme, map[bool]string{true: ", http"}[f.cfg.AllowHTTP])
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL", ErrHostNotAllowed)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: no host", ErrHostNotAllowed)
	}
	if len(f.patterns) == 0 {
		return fmt.Errorf("%w: %s (no host is allowed: configure the allowed hosts)", ErrHostNotAllowed, u.Host)
	}
	if !f.Allowed(u) {
		return fmt.Errorf("%w: %s", ErrHostNotAllowed, u.Host)
	}
	return nil
}

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.cfg.MaxRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrRedirect, f.cfg.MaxRedirects)
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		return fmt.Errorf("%w: %s redirects to another origin (%s://%s)", ErrRedirect, first.Host, req.URL.Scheme, req.URL.Host)
	}
	return f.check(req.URL)
}

// dial resolves the host, refuses addresses that are not public (unless
// allowed), and connects to the first acceptable one.
func (f *Fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if addrs, err = f.cfg.Resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	var d net.Dialer
	var lastErr error
	for _, ip := range addrs {
		if !f.cfg.AllowPrivate && !Public(ip) {
			lastErr = fmt.Errorf("%w: %s resolves to %s, which is not a public address", ErrAddress, host, ip)
			continue
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: %s has no address", ErrAddress, host)
	}
	return nil, lastErr
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
}

// Public reports whether an address is a public unicast address: not
// loopback, private, link-local, multicast, unspecified, shared,
// documentation or reserved. IPv4-mapped and NAT64 (64:ff9b::/96) IPv6
// addresses are judged by the IPv4 address they carry.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() && netip.MustParsePrefix("64:ff9b::/96").Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
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

// Fetch retrieves a descriptor. Every refusal names its reason.
func (f *Fetcher) Fetch(ctx context.Context, href string) ([]byte, error) {
	u, err := url.Parse(href)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a URL", ErrFetch, href)
	}
	if err := f.check(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	req.Header.Set("Accept", "application/ovf+xml, application/xml;q=0.9, text/xml;q=0.8")
	resp, err := f.client.Do(req)
	if err != nil {
		// Surface the refusal itself, not the url.Error around it.
		for _, e := range []error{ErrAddress, ErrRedirect, ErrHostNotAllowed, ErrScheme} {
			if errors.Is(err, e) {
				return nil, unwrapURL(err)
			}
		}
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered %s", ErrFetch, u.Host, resp.Status)
	}
	if resp.ContentLength > f.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrTooLarge, resp.ContentLength, f.cfg.MaxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	if int64(len(data)) > f.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, f.cfg.MaxBytes)
	}
	return data, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
