package csbcli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/term"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// connection is what the global flags say about reaching the broker.
type connection struct {
	Broker  string // URL of the broker or of its Consumer interface
	User    string
	CA      string // PEM file of the roots to trust ("" = Caddy's local CA when present, and the system's)
	Netrc   string // netrc file ("" = $NETRC or ~/.netrc)
	Timeout time.Duration
}

// client talks to one broker's Consumer interface.
type client struct {
	base  *url.URL // the Consumer collection, no trailing slash
	http  *http.Client
	user  string
	stdin *os.File
}

// consumerURL turns --broker into the Consumer collection's URL: a bare
// origin (https://localhost:8443) gets the default consumer path, and a
// bare host:port is taken as https.
func consumerURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = "https://localhost:8443"
	}
	if !strings.Contains(raw, "://") {
		// host:port, as Caddyfile.example's CSB_BROKER is spelled.
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		scheme, rest, _ := strings.Cut(raw, "://")
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			// Userinfo, perhaps with a password: say neither the URL
			// as typed nor the parser's error, which quotes it (and a
			// password with a '/' or '?' ends the host early, so even
			// the "invalid port" it names may be part of it).
			return nil, fmt.Errorf("--broker %q: not a valid URL; put the user in --user and the password in CSB_PASSWORD or a netrc file, not in the URL", scheme+"://xxxxx"+rest[at:])
		}
		return nil, fmt.Errorf("--broker %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--broker %q: want an http or https URL such as https://localhost:8443", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("--broker %q: put the user in --user and the password in CSB_PASSWORD or a netrc file, not in the URL", u.Redacted())
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	if u.Path == "" {
		u.Path = "/csb/consumer"
	}
	u.RawPath = ""
	return u, nil
}

// localCARoot is the root certificate of Caddy's local CA ("tls
// internal") in this user's Caddy data directory.
func localCARoot() string {
	return filepath.Join(caddy.AppDataDir(), "pki", "authorities", "local", "root.crt")
}

// rootCAs returns the roots to trust: the --ca file's, or else the
// system's plus Caddy's local CA root when that file exists.
func rootCAs(caFile string) (*x509.CertPool, error) {
	if caFile != "" {
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in the file", caFile)
		}
		return pool, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if pemBytes, err := os.ReadFile(localCARoot()); err == nil {
		pool.AppendCertsFromPEM(pemBytes)
	}
	return pool, nil
}

// credentials finds the user and the password: --user (else the netrc
// login), and the password from CSB_PASSWORD, else the netrc file, else a
// prompt when stdin is a terminal. Never from a flag: a command line is
// visible to every user of the machine.
func (c *connection) credentials(host string, stdin *os.File, stderr io.Writer) (string, string, error) {
	user := c.User
	if user == "" {
		user = os.Getenv("CSB_USER")
	}
	if pw, ok := os.LookupEnv("CSB_PASSWORD"); ok && pw != "" {
		if user == "" {
			return "", "", errors.New("CSB_PASSWORD is set but no user: give --user (or CSB_USER)")
		}
		return user, pw, nil
	}
	path := c.Netrc
	if path == "" {
		path = netrcPath()
	}
	if path != "" {
		login, pw, found, err := netrcLookup(path, host, user)
		if err != nil {
			return "", "", fmt.Errorf("netrc %s: %v", path, err)
		}
		if found && pw != "" && (user == "" || login == "" || login == user) {
			if user == "" {
				user = login
			}
			if user != "" {
				return user, pw, nil
			}
		}
	}
	if user == "" {
		return "", "", errors.New("no user: give --user (or CSB_USER), or a netrc entry for " + host)
	}
	if stdin == nil || !term.IsTerminal(int(stdin.Fd())) {
		return "", "", fmt.Errorf("no password for %s: set CSB_PASSWORD, add a netrc entry for %s, or run in a terminal to be asked", user, host)
	}
	fmt.Fprintf(stderr, "Password for %s at %s: ", user, host)
	pw, err := term.ReadPassword(int(stdin.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", "", err
	}
	return user, string(pw), nil
}

// newClient sets up the connection: TLS roots, HTTP Digest (every
// algorithm of broker/digest: SHA-512-256, SHA-256 and MD5 with their
// -sess variants, qop auth and auth-int, userhash), and Basic only over
// HTTPS when the broker asks for it.
func newClient(c *connection, stdin *os.File, stderr io.Writer) (*client, error) {
	base, err := consumerURL(c.Broker)
	if err != nil {
		return nil, err
	}
	pool, err := rootCAs(c.CA)
	if err != nil {
		return nil, err
	}
	user, password, err := c.credentials(base.Hostname(), stdin, stderr)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	dt := &digest.Transport{Username: user, Password: password, Base: tr, Hosts: []string{base.Host}}
	rt := &basicOverTLS{next: dt, user: user, password: password, host: base.Host}
	return &client{base: base, http: &http.Client{Transport: rt, Timeout: c.Timeout}, user: user, stdin: stdin}, nil
}

// basicOverTLS answers a Basic challenge of the broker (basic_auth in
// front of csb) with the password, but only over HTTPS: the digest
// transport never downgrades, and a password must not cross the network
// in clear.
type basicOverTLS struct {
	next           http.RoundTripper
	user, password string
	host           string
}

func (b *basicOverTLS) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || req.URL.Scheme != "https" || !strings.EqualFold(req.URL.Host, b.host) {
		return resp, err
	}
	basic := false
	for _, v := range resp.Header.Values("Www-Authenticate") {
		basic = basic || strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "basic")
	}
	if !basic || req.GetBody == nil && req.Body != nil && req.Body != http.NoBody {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		if r.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	r.SetBasicAuth(b.user, b.password)
	return b.next.RoundTrip(r)
}

// answer is one HTTP exchange with the broker.
type answer struct {
	HTTP   int
	Header http.Header
	Body   []byte
	// Resp is the <CloudServiceResponse> of a csb-consumer answer.
	Resp *csbmsg.ServiceResponse
}

// call is one request to the Consumer interface.
type call struct {
	method string
	path   string // below the collection: "" or "/<job-id>"
	query  url.Values
	body   []byte
	accept string // default: the csb-consumer media type
	header map[string]string
	// response: the answer is one <CloudServiceResponse> (parsed into
	// answer.Resp); otherwise the caller reads the body.
	response bool
}

// do sends a call and reads the answer. A csb-consumer body is parsed
// into Resp. Errors are the ones a user can act on: the broker cannot be
// reached, the TLS certificate is not trusted, authentication failed, an
// HTTP-level refusal (with the broker's text).
func (c *client) do(ctx context.Context, k call) (*answer, error) {
	u := *c.base
	u.Path += k.path
	u.RawQuery = k.query.Encode()
	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if k.body != nil {
		req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	}
	accept := k.accept
	if accept == "" {
		accept = csbmsg.ConsumerMediaType
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "caddy-csb-cli")
	for name, v := range k.header {
		if v != "" {
			req.Header.Set(name, v)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, connectError(c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %v", c.base.Host, err)
	}
	a := &answer{HTTP: resp.StatusCode, Header: resp.Header, Body: data}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		if after := resp.Header.Get("Retry-After"); after != "" {
			return a, fmt.Errorf("authentication refused for user %q at %s: too many failures, the broker throttles this user or address; retry after %s s (HTTP 401)", c.user, c.base.Host, after)
		}
		return a, fmt.Errorf("authentication failed for user %q at %s: wrong password or unknown user (HTTP 401)", c.user, c.base.Host)
	default:
		return a, fmt.Errorf("%s %s: HTTP %d %s%s", k.method, u.Path, resp.StatusCode, http.StatusText(resp.StatusCode), brokerText(data))
	}
	if k.response {
		msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
		if err != nil {
			return a, fmt.Errorf("the broker's answer is not a csb-consumer message: %v", err)
		}
		if msg.Response == nil {
			return a, errors.New("the broker's answer holds no <CloudServiceResponse>")
		}
		a.Resp = msg.Response
	}
	return a, nil
}

// brokerText is the first line of an HTTP error body (Caddy's
// handle_errors text), to show after the status.
func brokerText(data []byte) string {
	s := strings.TrimSpace(string(data))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// connectError says why the broker could not be reached.
func connectError(base *url.URL, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &certErr):
		return fmt.Errorf("the broker at %s has a certificate this machine does not trust: %v (give its CA with --ca; Caddy's local CA is %s)", base.Host, certErr.Err, localCARoot())
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the broker at %s did not answer in time (--timeout sets the limit of each request)", base.Host)
	}
	// Say where the address came from: the default, CSB_BROKER or
	// --broker, which is what a user who moved the broker has to change.
	return fmt.Errorf("cannot reach the broker at %s: %v (is it running there? --broker or CSB_BROKER names it)", base.Host, err)
}
