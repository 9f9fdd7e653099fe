// Package httpclient builds the *http.Client the broker uses toward one
// provider: its TLS trust (a CA pool from a file, an optional client
// certificate for mTLS, an optional server-name override, TLS 1.2 at
// least), its authentication (HTTP Digest, Basic or a bearer token),
// timeouts, and connection reuse. Subscriptions (publish) and adapters
// make every provider call through such a client.
//
// Digest is answered by digest.Transport (RFC 7616: the strongest
// algorithm offered, nonce reuse with increasing counts, stale=true,
// userhash, auth-int). Basic and bearer credentials are sent with every
// request, but never in clear text over plain HTTP to a host that is not
// loopback, unless Auth.AllowCleartext says so.
//
// With Config.Peer set, the client calls only the URLs that peer URL
// policy allows (broker/peerurl): every request, redirects included, is
// checked before anything is sent, and every connection after name
// resolution; a refused URL gets no request, and so no credential.
//
// Request bodies must be replayable for Digest's challenge round trip:
// http.NewRequest makes in-memory bodies replayable (GetBody); other
// bodies are buffered up to 8 MiB.
package httpclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// Authentication schemes.
const (
	SchemeNone   = ""
	SchemeDigest = "digest"
	SchemeBasic  = "basic"
	SchemeBearer = "bearer"
)

// Config describes the client for one provider. The zero value is a
// plain client with system trust and default timeouts.
type Config struct {
	Auth     Auth
	TLS      TLS
	Timeouts Timeouts
	// Hosts, when set, lists the hosts (host or host:port) to which
	// credentials are sent; requests elsewhere (after a redirect, say)
	// go without them.
	Hosts []string
	// Peer, when set, restricts every request, redirect and connection to
	// what the policy allows (see package peerurl); the client then does
	// not use HTTP_PROXY, since a proxy would connect past the address
	// check. Nil: no restriction.
	Peer *peerurl.Policy
	// MaxRedirects is how many redirects are followed when Peer is set.
	// Default 10.
	MaxRedirects int
}

// Auth is how the broker authenticates to the provider.
type Auth struct {
	// Scheme is SchemeDigest, SchemeBasic, SchemeBearer or SchemeNone.
	Scheme string
	// Username and Password are the credentials of digest and basic.
	Username string
	Password string
	// Token is the bearer token.
	Token string
	// AllowCleartext lets basic and bearer credentials travel over plain
	// HTTP to hosts that are not loopback. Default false: such requests
	// fail instead of leaking the secret.
	AllowCleartext bool
}

// TLS is the TLS configuration toward the provider.
type TLS struct {
	// CAFile is a PEM file of CA certificates. When set, only these CAs
	// are trusted for the provider (not the system pool).
	CAFile string
	// RootCAs is a pool of CA certificates held in memory (Caddy's local
	// CA, say). When set, only these CAs are trusted; it cannot be
	// combined with CAFile.
	RootCAs *x509.CertPool
	// ClientCertFile and ClientKeyFile are a PEM certificate (chain) and
	// its key, presented for mutual TLS. Both or neither.
	ClientCertFile string
	ClientKeyFile  string
	// ServerName overrides the name the provider's certificate is
	// checked against (and sent in SNI), for providers reached by IP
	// address or through a tunnel.
	ServerName string
}

// Timeouts of the client; zero fields take the defaults.
type Timeouts struct {
	// Dial bounds establishing a TCP connection. Default 10 s.
	Dial time.Duration
	// TLSHandshake bounds the TLS handshake. Default 10 s.
	TLSHandshake time.Duration
	// ResponseHeader bounds the wait for response headers once the
	// request is written. Default 30 s.
	ResponseHeader time.Duration
	// IdleConn is how long an idle connection is kept for reuse.
	// Default 90 s.
	IdleConn time.Duration
	// Overall bounds a whole request, redirects and body included
	// (http.Client.Timeout). Default 60 s. Callers can set shorter
	// deadlines through the request context.
	Overall time.Duration
}

// Defaults.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultOverallTimeout        = 60 * time.Second
	// MaxIdleConnsPerHost is the number of idle connections kept per
	// provider host for reuse.
	MaxIdleConnsPerHost = 16
)

// New builds the client described by cfg. It reads the CA and client
// certificate files now; errors name the file, never a secret.
func New(cfg Config) (*http.Client, error) {
	rt, err := NewTransport(cfg)
	if err != nil {
		return nil, err
	}
	overall := cfg.Timeouts.Overall
	if overall <= 0 {
		overall = DefaultOverallTimeout
	}
	c := &http.Client{Transport: rt, Timeout: overall}
	if cfg.Peer != nil {
		c.CheckRedirect = cfg.Peer.CheckRedirect(cfg.MaxRedirects)
	}
	return c, nil
}

// NewTransport builds the round tripper of New: TLS and connection
// handling with the authentication layered on top. With Config.Peer, the
// peer URL check sits between the two: the authentication layer stays
// the outermost (a *digest.Transport for Digest, which the job route
// reuses), and a refused request is dropped after credentials were added
// to it but before anything is sent.
func NewTransport(cfg Config) (http.RoundTripper, error) {
	tlsCfg, err := cfg.TLS.config()
	if err != nil {
		return nil, err
	}
	to := cfg.Timeouts
	dialer := &net.Dialer{Timeout: orDefault(to.Dial, DefaultDialTimeout), KeepAlive: 30 * time.Second}
	proxy, dial := http.ProxyFromEnvironment, dialer.DialContext
	if cfg.Peer != nil {
		proxy, dial = nil, cfg.Peer.DialContext(dialer.DialContext)
	}
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           dial,
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   MaxIdleConnsPerHost,
		IdleConnTimeout:       orDefault(to.IdleConn, DefaultIdleConnTimeout),
		TLSHandshakeTimeout:   orDefault(to.TLSHandshake, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout: orDefault(to.ResponseHeader, DefaultResponseHeaderTimeout),
		ExpectContinueTimeout: time.Second,
	}
	var base http.RoundTripper = tr
	if cfg.Peer != nil {
		base = cfg.Peer.RoundTripper(tr)
	}
	a := cfg.Auth
	switch strings.ToLower(a.Scheme) {
	case SchemeNone:
		return base, nil
	case SchemeDigest:
		if a.Username == "" {
			return nil, errors.New("digest auth needs a user name")
		}
		return &digest.Transport{Username: a.Username, Password: a.Password, Base: base, Hosts: cfg.Hosts}, nil
	case SchemeBasic:
		if a.Username == "" || strings.Contains(a.Username, ":") {
			return nil, errors.New("basic auth needs a user name without a colon")
		}
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(a.Username, a.Password)
		return &headerAuth{base: base, value: req.Header.Get("Authorization"), hosts: cfg.Hosts, allowCleartext: a.AllowCleartext}, nil
	case SchemeBearer:
		if a.Token == "" || strings.ContainsAny(a.Token, " \t\r\n") {
			return nil, errors.New("bearer auth needs a token without white space")
		}
		return &headerAuth{base: base, value: "Bearer " + a.Token, hosts: cfg.Hosts, allowCleartext: a.AllowCleartext}, nil
	}
	return nil, fmt.Errorf("unknown auth scheme %q (want digest, basic or bearer)", a.Scheme)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (t TLS) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, RootCAs: t.RootCAs}
	if t.CAFile != "" && t.RootCAs != nil {
		return nil, errors.New("tls: a CA file and an in-memory CA pool cannot both be given")
	}
	if t.CAFile != "" {
		pemBytes, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate found", t.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case t.ClientCertFile != "" && t.ClientKeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.ClientCertFile, t.ClientKeyFile)
		if err != nil {
			// The error of LoadX509KeyPair names files and PEM problems,
			// never key material.
			return nil, fmt.Errorf("tls client_cert: %v", err)
		}
		c.Certificates = []tls.Certificate{cert}
	case t.ClientCertFile != "" || t.ClientKeyFile != "":
		return nil, errors.New("tls client_cert: both a certificate and a key file are needed")
	}
	return c, nil
}

// headerAuth sends a fixed Authorization value (Basic or Bearer).
type headerAuth struct {
	base           http.RoundTripper
	value          string
	hosts          []string
	allowCleartext bool
}

// ErrCleartext is returned for a request that would send Basic or bearer
// credentials unencrypted to a host that is not loopback.
var ErrCleartext = errors.New("httpclient: refusing to send basic or bearer credentials over plain http to a non-loopback host (use https, digest, or allow_cleartext)")

func (h *headerAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if !hostAllowed(h.hosts, req) || req.Header.Get("Authorization") != "" {
		return h.base.RoundTrip(req)
	}
	if req.URL.Scheme == "http" && !h.allowCleartext && !isLoopback(req.URL.Hostname()) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, ErrCleartext
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", h.value)
	return h.base.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the base transport.
func (h *headerAuth) CloseIdleConnections() {
	if c, ok := h.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func hostAllowed(hosts []string, r *http.Request) bool {
	if len(hosts) == 0 {
		return true
	}
	for _, h := range hosts {
		if strings.EqualFold(h, r.URL.Host) || strings.EqualFold(h, r.URL.Hostname()) {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
