package peerurl

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeResolver answers from a table; unknown names do not exist.
type fakeResolver map[string][]string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ips {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

var testResolver = fakeResolver{
	"cloud.example.org":     {"192.0.2.10"}, // documentation range: not public
	"api.example.com":       {"8.8.8.8"},
	"www.example.com":       {"8.8.4.4"},
	"rebind.example.com":    {"127.0.0.1"},
	"meta.example.com":      {"169.254.169.254"},
	"private.example.com":   {"10.1.2.3"},
	"mixed.example.com":     {"8.8.8.8", "192.168.1.1"},
	"v6.example.com":        {"2606:4700::1111"},
	"v6private.example.com": {"fd00::1"},
	"sandbox.localhost":     {"127.0.0.1"},
	"admin.example.com":     {"127.0.0.1"},
	"localhost":             {"127.0.0.1", "::1"},
}

func mustPolicy(t *testing.T, cfg Config) *Policy {
	t.Helper()
	if cfg.Resolver == nil {
		cfg.Resolver = testResolver
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheck is the policy's table: configured origins, patterns,
// wildcards, addresses with and without allow_private, the admin
// endpoint, IPv6 literals, user info and odd schemes. Each case goes
// through CheckResolved, which adds the address check DialContext makes.
func TestCheck(t *testing.T) {
	base := Config{
		Origins: []string{"https://cloud.example.org/cimi", "http://localhost:8081", "http://[::1]:9000/x", "http://127.0.0.1:7000"},
		Admin:   []string{"127.0.0.1:2019", "localhost:2999"},
	}
	withHosts := func(private bool, hosts ...string) Config {
		c := base
		c.AllowedHosts, c.AllowPrivate = hosts, private
		return c
	}
	cases := []struct {
		name string
		cfg  Config
		url  string
		want error // nil: allowed
		text string
	}{
		{"configured origin", base, "https://cloud.example.org/cimi/machines/1", nil, ""},
		{"configured origin, host in upper case and trailing dot", base, "https://CLOUD.example.org./x", nil, ""},
		{"configured origin on localhost (the operator's opt-in)", base, "http://localhost:8081/cimi", nil, ""},
		{"configured origin on a loopback literal", base, "http://127.0.0.1:7000/", nil, ""},
		{"configured IPv6 loopback origin", base, "http://[::1]:9000/", nil, ""},
		{"configured IPv6 origin written differently", base, "http://[0:0:0:0:0:0:0:1]:9000/", nil, ""},
		{"same host, another port", base, "https://cloud.example.org:8443/", ErrHostNotAllowed, "cloud.example.org:8443"},
		{"same host and port, another scheme", base, "http://cloud.example.org:443/", ErrHostNotAllowed, ""},
		{"loopback, another port", base, "http://127.0.0.1:7001/", ErrHostNotAllowed, ""},
		{"another host", base, "https://evil.example.net/", ErrHostNotAllowed, "evil.example.net"},
		{"nothing configured", Config{}, "https://api.example.com/", ErrHostNotAllowed, "no host is allowed"},
		{"allowed pattern", withHosts(false, "api.example.com"), "https://api.example.com/v1", nil, ""},
		{"allowed pattern, port pinned", withHosts(false, "api.example.com:8443"), "https://api.example.com:8443/", nil, ""},
		{"allowed pattern, other port", withHosts(false, "api.example.com:8443"), "https://api.example.com/", ErrHostNotAllowed, ""},
		{"wildcard", withHosts(false, "*.example.com"), "https://www.example.com/", nil, ""},
		{"wildcard does not cover the apex", withHosts(false, "*.example.com"), "https://example.com/", ErrHostNotAllowed, ""},
		{"wildcard is not a substring match", withHosts(false, "*.example.com"), "https://www.evilexample.com/", ErrHostNotAllowed, ""},
		{"allowed name resolving to loopback", withHosts(false, "*.example.com"), "https://rebind.example.com/", ErrAddress, "127.0.0.1, which is not a public address"},
		{"allowed name resolving to the metadata service", withHosts(false, "*.example.com"), "http://meta.example.com/latest/meta-data/", ErrAddress, "169.254.169.254"},
		{"allowed name resolving to a private address", withHosts(false, "*.example.com"), "http://private.example.com/", ErrAddress, "10.1.2.3"},
		{"allowed name with one private address", withHosts(false, "*.example.com"), "http://mixed.example.com/", ErrAddress, "192.168.1.1"},
		{"allowed name resolving to a private address, opted in", withHosts(true, "*.example.com"), "http://private.example.com/", nil, ""},
		{"allowed name resolving to the metadata service, opted in", withHosts(true, "*.example.com"), "http://meta.example.com/", nil, ""},
		{"allowed loopback literal", withHosts(false, "127.0.0.1"), "http://127.0.0.1:5000/", ErrAddress, "allow_private"},
		{"allowed loopback literal, opted in", withHosts(true, "127.0.0.1"), "http://127.0.0.1:5000/", nil, ""},
		{"allowed localhost", withHosts(false, "localhost"), "http://localhost:5000/", ErrAddress, "loopback"},
		{"allowed *.localhost", withHosts(false, "*.localhost"), "http://sandbox.localhost:5000/", ErrAddress, "loopback"},
		{"link-local literal", withHosts(false, "169.254.169.254"), "http://169.254.169.254/latest/", ErrAddress, ""},
		{"link-local literal, opted in", withHosts(true, "169.254.169.254"), "http://169.254.169.254/latest/", nil, ""},
		{"private literal", withHosts(false, "10.0.0.5"), "http://10.0.0.5/", ErrAddress, ""},
		{"IPv4-mapped loopback", withHosts(false, "[::ffff:127.0.0.1]"), "http://[::ffff:127.0.0.1]/", ErrAddress, ""},
		{"IPv6 literal pattern, public", withHosts(false, "[2606:4700::1111]"), "https://[2606:4700::1111]/", nil, ""},
		{"IPv6 literal pattern, written differently", withHosts(false, "[2606:4700:0::1111]"), "https://[2606:4700::1111]:443/", nil, ""},
		{"IPv6 unique local", withHosts(false, "[fd00::1]"), "http://[fd00::1]/", ErrAddress, ""},
		{"IPv6 link-local with zone", withHosts(false, "[fe80::1%eth0]"), "http://[fe80::1%25eth0]/", ErrAddress, ""},
		{"IPv6 name resolving to unique local", withHosts(false, "*.example.com"), "http://v6private.example.com/", ErrAddress, "fd00::1"},
		{"IPv6 name resolving to public", withHosts(false, "*.example.com"), "http://v6.example.com/", nil, ""},
		{"admin endpoint literal", withHosts(true, "127.0.0.1"), "http://127.0.0.1:2019/config/", ErrAdmin, "admin endpoint"},
		{"admin endpoint on localhost, IPv6 loopback", withHosts(true, "[::1]"), "http://[::1]:2999/load", ErrAdmin, ""},
		{"admin endpoint by localhost", withHosts(true, "localhost"), "http://localhost:2999/", ErrAdmin, ""},
		{"admin endpoint by another loopback address", withHosts(true, "127.0.0.2"), "http://127.0.0.2:2019/", ErrAdmin, ""},
		{"admin endpoint by the unspecified address", withHosts(true, "0.0.0.0"), "http://0.0.0.0:2019/", ErrAdmin, ""},
		{"admin endpoint by IPv6 loopback", withHosts(true, "[::1]"), "http://[::1]:2019/config/", ErrAdmin, ""},
		{"loopback on another port than the admin's, opted in", withHosts(true, "[::1]"), "http://[::1]:2020/", nil, ""},
		{"admin endpoint through a name", withHosts(true, "*.example.com"), "http://admin.example.com:2019/config/", ErrAdmin, ""},
		{"admin endpoint as a configured origin", Config{Origins: []string{"http://127.0.0.1:2019"}, Admin: []string{"127.0.0.1:2019"}}, "http://127.0.0.1:2019/", ErrAdmin, ""},
		{"admin endpoint on every interface", Config{AllowedHosts: []string{"127.0.0.1"}, AllowPrivate: true, Admin: []string{":2019"}}, "http://127.0.0.1:2019/", ErrAdmin, ""},
		{"user info", base, "https://user:pw@cloud.example.org/cimi", ErrHostNotAllowed, "credentials"},
		{"user name only", base, "https://user@cloud.example.org/cimi", ErrHostNotAllowed, "credentials"},
		{"file scheme", withHosts(true, "*.example.com"), "file:///etc/passwd", ErrScheme, ""},
		{"gopher scheme", withHosts(true, "127.0.0.1"), "gopher://127.0.0.1:2019/_POST", ErrScheme, ""},
		{"ftp scheme on a configured host", base, "ftp://cloud.example.org/", ErrScheme, ""},
		{"javascript scheme", base, "javascript:alert(1)", ErrScheme, ""},
		{"relative reference", base, "/cimi/machines", ErrURL, ""},
		{"scheme-relative reference", base, "//cloud.example.org/cimi", ErrURL, ""},
		{"no host", base, "http:///path", ErrHostNotAllowed, "no host"},
		{"name that does not resolve", withHosts(false, "*.example.com"), "https://nx.example.com/", ErrAddress, "does not resolve"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustPolicy(t, c.cfg)
			u, err := url.Parse(c.url)
			if err != nil {
				t.Fatal(err)
			}
			err = p.CheckResolved(context.Background(), u)
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("err = %v, want %v", err, c.want)
			case c.want != nil && !strings.Contains(err.Error(), c.text):
				t.Fatalf("err = %v, want it to mention %q", err, c.text)
			}
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) || strings.Contains(pe.URL, "pw") {
					t.Fatalf("a refusal is an *Error without the URL's password: %#v", err)
				}
			}
		})
	}
}

func TestPatterns(t *testing.T) {
	for _, bad := range []string{"", "http://x", "a/b", "user@host", "*", "*.", "a.*.com", "x:99999", "x:port", "a b"} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
		if _, err := New(Config{AllowedHosts: []string{bad}}); err == nil {
			t.Errorf("New accepted pattern %q", bad)
		}
	}
	for _, bad := range []string{"ftp://x", "not a url", "/relative"} {
		if _, err := New(Config{Origins: []string{bad}}); err == nil {
			t.Errorf("origin %q accepted", bad)
		}
	}
}

func TestPublic(t *testing.T) {
	for s, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.0.1": false, "192.168.0.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "64:ff9b::a9fe:a9fe": false, "192.0.2.1": false,
	} {
		if got := Public(netip.MustParseAddr(s)); got != want {
			t.Errorf("Public(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestDialContext checks the connection-time guard: a name that Check
// lets through (an allowed pattern) is refused once it resolves inside,
// and a host:port that is neither an origin nor allowed is not dialled.
func TestDialContext(t *testing.T) {
	p := mustPolicy(t, Config{
		Origins:      []string{"http://localhost:8081"},
		AllowedHosts: []string{"*.example.com"},
		Admin:        []string{"localhost:2999"},
	})
	dialed := 0
	dial := p.DialContext(func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed++
		return nil, errors.New("dialled " + addr)
	})
	for addr, want := range map[string]error{
		"rebind.example.com:80": ErrAddress,
		"evil.example.net:80":   ErrHostNotAllowed,
		"localhost:2999":        ErrHostNotAllowed,
		"127.0.0.1:8081":        ErrHostNotAllowed, // the origin is localhost, not this literal
	} {
		if _, err := dial(context.Background(), "tcp", addr); !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", addr, err, want)
		}
	}
	if dialed != 0 {
		t.Fatalf("%d refused addresses were dialled", dialed)
	}
	if _, err := dial(context.Background(), "tcp", "api.example.com:443"); err == nil || !strings.Contains(err.Error(), "dialled 8.8.8.8:443") {
		t.Errorf("allowed public name: %v", err)
	}
	if _, err := dial(context.Background(), "tcp", "localhost:8081"); err == nil || !strings.Contains(err.Error(), "dialled") {
		t.Errorf("configured origin on loopback: %v", err)
	}
}

// TestClientRefusesBeforeSending checks RoundTripper and CheckRedirect
// with real servers: a URL on another origin gets no request, and a
// redirect from the allowed origin to another one is not followed.
func TestClientRefusesBeforeSending(t *testing.T) {
	var mu sync.Mutex
	var hits []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.URL.Path)
		mu.Unlock()
	}))
	defer other.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
		case "/home":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer origin.Close()

	var refused []string
	p, err := New(Config{Origins: []string{origin.URL}, OnRefuse: func(e *Error) {
		mu.Lock()
		refused = append(refused, e.Error())
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: p.DialContext(nil)}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: p.RoundTripper(tr), CheckRedirect: p.CheckRedirect(0)}

	resp, err := c.Get(origin.URL + "/home")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("same-origin redirect: %v", err)
	}
	resp.Body.Close()
	if _, err := c.Get(origin.URL + "/away"); !errors.Is(err, ErrRedirect) || !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("redirect to another origin: %v", err)
	}
	if _, err := c.Get(other.URL + "/direct"); !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("another origin: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 0 {
		t.Fatalf("the other origin was called: %v", hits)
	}
	if len(refused) != 2 {
		t.Fatalf("OnRefuse saw %d refusals, want 2: %v", len(refused), refused)
	}
}
