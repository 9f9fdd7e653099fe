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
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// Fetch refusals; test with errors.Is. The address, host, scheme and
// redirect refusals are those of the broker's peer URL policy
// (broker/peerurl), which the fetcher applies.
var (
	ErrHostNotAllowed = peerurl.ErrHostNotAllowed
	ErrScheme         = peerurl.ErrScheme
	ErrAddress        = peerurl.ErrAddress
	ErrRedirect       = peerurl.ErrRedirect
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
	// Admin are the listen addresses of Caddy's admin endpoint, which is
	// never fetched from. Default none.
	Admin []string
}

// Resolver is the part of net.Resolver the fetcher uses.
type Resolver = peerurl.Resolver

// Fetcher fetches descriptors without becoming an open proxy: only from
// allowed hosts, only to public addresses (checked at connection time,
// after name resolution, so DNS rebinding cannot reach inside), without
// proxies, following redirects only within the same origin, and reading
// at most MaxBytes.
type Fetcher struct {
	cfg    FetchConfig
	policy *peerurl.Policy
	client *http.Client
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
	policy, err := peerurl.New(peerurl.Config{
		AllowedHosts: cfg.AllowedHosts,
		AllowPrivate: cfg.AllowPrivate,
		Admin:        cfg.Admin,
		Resolver:     cfg.Resolver,
	})
	if err != nil {
		return nil, fmt.Errorf("ovf: %w", err)
	}
	f := &Fetcher{cfg: cfg, policy: policy}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           policy.DialContext(nil),
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

// Allowed reports whether a URL's host is allowed.
func (f *Fetcher) Allowed(u *url.URL) bool { return f.policy.Allowed(u) }

// check refuses URLs the fetcher must not touch.
func (f *Fetcher) check(u *url.URL) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.cfg.AllowHTTP:
	default:
		return fmt.Errorf("%w: %q (allowed: https%s)", ErrScheme, u.Scheme, map[bool]string{true: ", http"}[f.cfg.AllowHTTP])
	}
	if err := f.policy.Check(u); err != nil {
		var pe *peerurl.Error
		if errors.As(err, &pe) {
			return pe.Err // the fetcher's messages name the URL themselves
		}
		return err
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

// Public reports whether an address is a public unicast address (see
// peerurl.Public).
func Public(ip netip.Addr) bool { return peerurl.Public(ip) }

// Fetch retrieves a descriptor. Every refusal names its reason.
func (f *Fetcher) Fetch(ctx context.Context, href string) ([]byte, error) {
	u, err := url.Parse(href)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a URL", ErrFetch, peerurl.RedactString(href))
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
		// net/http's *url.Error prints the URL whole: a presigned
		// descriptor URL's signature would go into the job's reason.
		return nil, fmt.Errorf("%w: %w", ErrFetch, peerurl.RedactError(err))
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
