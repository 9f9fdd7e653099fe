package ovf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeResolver maps names to addresses, so tests can give the loopback
// test server the names an operator would allow.
type fakeResolver map[string][]string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// descriptorServer serves the DSP0243-shaped appliance, and some hostile
// variants, on loopback.
func descriptorServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	body := mustRead(t, "appliance.ovf")
	mux := http.NewServeMux()
	mux.HandleFunc("/appliance.ovf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/ovf+xml")
		w.Write(body)
	})
	mux.HandleFunc("/moved.ovf", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/appliance.ovf", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere.ovf", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://evil.example.test:"+r.URL.Query().Get("port")+"/appliance.ovf", http.StatusFound)
	})
	mux.HandleFunc("/loop.ovf", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop.ovf", http.StatusFound)
	})
	mux.HandleFunc("/big.ovf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4096")
		w.Write(make([]byte, 4096))
	})
	mux.HandleFunc("/streamed-big.ovf", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 8; i++ {
			w.Write(make([]byte, 1024))
			w.(http.Flusher).Flush() // chunked: no Content-Length up front
		}
	})
	mux.HandleFunc("/hang.ovf", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return srv, u.Port()
}

func testFetcher(t *testing.T, cfg FetchConfig) *Fetcher {
	t.Helper()
	if cfg.Resolver == nil {
		cfg.Resolver = fakeResolver{
			"ovf.example.test":     {"127.0.0.1"},
			"evil.example.test":    {"127.0.0.1"},
			"private.example.test": {"10.1.2.3"},
			"meta.example.test":    {"169.254.169.254"},
			"mixed.example.test":   {"192.168.1.1", "127.0.0.1"},
		}
	}
	f, err := NewFetcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFetchAllowed(t *testing.T) {
	_, port := descriptorServer(t)
	f := testFetcher(t, FetchConfig{AllowedHosts: []string{"ovf.example.test"}, AllowHTTP: true, AllowPrivate: true})
	data, err := f.Fetch(context.Background(), "http://ovf.example.test:"+port+"/appliance.ovf")
	if err != nil || !strings.Contains(string(data), "web-appliance") {
		t.Fatalf("fetch: %v", err)
	}
	// A redirect within the same origin is followed.
	if _, err := f.Fetch(context.Background(), "http://ovf.example.test:"+port+"/moved.ovf"); err != nil {
		t.Errorf("same-origin redirect: %v", err)
	}
}

func TestFetchRefusals(t *testing.T) {
	_, port := descriptorServer(t)
	base := "http://ovf.example.test:" + port
	open := FetchConfig{AllowedHosts: []string{"ovf.example.test", "*.example.test"}, AllowHTTP: true, AllowPrivate: true}
	for _, c := range []struct {
		name string
		cfg  FetchConfig
		href string
		want error
		text string
	}{
		{"deny by default", FetchConfig{AllowHTTP: true, AllowPrivate: true}, base + "/appliance.ovf", ErrHostNotAllowed, "no host is allowed"},
		{"host not allowed", FetchConfig{AllowedHosts: []string{"other.example.test"}, AllowHTTP: true, AllowPrivate: true}, base + "/appliance.ovf", ErrHostNotAllowed, "ovf.example.test"},
		{"wildcard does not cover the apex", FetchConfig{AllowedHosts: []string{"*.ovf.example.test"}, AllowHTTP: true, AllowPrivate: true}, base + "/appliance.ovf", ErrHostNotAllowed, ""},
		{"port pinned", FetchConfig{AllowedHosts: []string{"ovf.example.test:1"}, AllowHTTP: true, AllowPrivate: true}, base + "/appliance.ovf", ErrHostNotAllowed, ""},
		{"plain http", FetchConfig{AllowedHosts: []string{"ovf.example.test"}, AllowPrivate: true}, base + "/appliance.ovf", ErrScheme, "allowed: https"},
		{"file scheme", open, "file:///etc/passwd", ErrScheme, ""},
		{"gopher scheme", open, "gopher://ovf.example.test/", ErrScheme, ""},
		{"credentials in URL", open, "http://user:pw@ovf.example.test:" + port + "/appliance.ovf", ErrHostNotAllowed, "credentials"},
		{"loopback", FetchConfig{AllowedHosts: []string{"ovf.example.test"}, AllowHTTP: true}, base + "/appliance.ovf", ErrAddress, "127.0.0.1, which is not a public address"},
		{"loopback literal", FetchConfig{AllowedHosts: []string{"127.0.0.1"}, AllowHTTP: true}, "http://127.0.0.1:" + port + "/appliance.ovf", ErrAddress, ""},
		{"private", FetchConfig{AllowedHosts: []string{"private.example.test"}, AllowHTTP: true}, "http://private.example.test:" + port + "/", ErrAddress, "10.1.2.3"},
		{"cloud metadata", FetchConfig{AllowedHosts: []string{"meta.example.test"}, AllowHTTP: true}, "http://meta.example.test/latest/meta-data/", ErrAddress, "169.254.169.254"},
		{"all addresses private", FetchConfig{AllowedHosts: []string{"mixed.example.test"}, AllowHTTP: true}, "http://mixed.example.test:" + port + "/", ErrAddress, ""},
		{"redirect to another host", open, base + "/elsewhere.ovf?port=" + port, ErrRedirect, "another origin"},
		{"redirect loop", open, base + "/loop.ovf", ErrRedirect, "redirects"},
		{"oversized (announced)", FetchConfig{AllowedHosts: []string{"ovf.example.test"}, AllowHTTP: true, AllowPrivate: true, MaxBytes: 1024}, base + "/big.ovf", ErrTooLarge, "announced"},
		{"oversized (streamed)", FetchConfig{AllowedHosts: []string{"ovf.example.test"}, AllowHTTP: true, AllowPrivate: true, MaxBytes: 1024}, base + "/streamed-big.ovf", ErrTooLarge, ""},
		{"not found", open, base + "/nope.ovf", ErrFetch, "404"},
		{"timeout", FetchConfig{AllowedHosts: []string{"ovf.example.test"}, AllowHTTP: true, AllowPrivate: true, Timeout: 100 * time.Millisecond}, base + "/hang.ovf", context.DeadlineExceeded, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := testFetcher(t, c.cfg)
			_, err := f.Fetch(context.Background(), c.href)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.text != "" && !strings.Contains(err.Error(), c.text) {
				t.Errorf("err = %q, want it to mention %q", err, c.text)
			}
		})
	}
}

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700:4700::1111": true, "93.184.216.34": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.0.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"0.1.2.3": false, "224.0.0.1": false, "255.255.255.255": false, "::ffff:127.0.0.1": false,
		"::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "64:ff9b::808:808": true, "::": false, "192.0.2.1": false,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestHostPatterns(t *testing.T) {
	f := testFetcher(t, FetchConfig{AllowedHosts: []string{"OVF.Example.org", "*.images.example.net", "cdn.example.com:8443", "192.0.2.7", "[2001:db8::7]"}})
	for raw, want := range map[string]bool{
		"https://ovf.example.org/a.ovf":          true,
		"https://ovf.example.org./a.ovf":         true,
		"https://OVF.EXAMPLE.ORG:443/a.ovf":      true,
		"https://x.ovf.example.org/a.ovf":        false,
		"https://a.images.example.net/x":         true,
		"https://a.b.images.example.net/x":       true,
		"https://images.example.net/x":           false,
		"https://evilimages.example.net/x":       false,
		"https://cdn.example.com:8443/x":         true,
		"https://cdn.example.com/x":              false,
		"https://192.0.2.7/x":                    true,
		"https://[2001:db8::7]/x":                true,
		"https://ovf.example.org.evil.example/x": false,
	} {
		u, _ := url.Parse(raw)
		if got := f.Allowed(u); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", raw, got, want)
		}
	}
	for _, bad := range []string{"", "http://x/", "a*.example.org", "*.", "host:99999", "user@host"} {
		if _, err := NewFetcher(FetchConfig{AllowedHosts: []string{bad}}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

func ExampleFetcher_Fetch() {
	f, _ := NewFetcher(FetchConfig{AllowedHosts: []string{"images.example.org"}})
	_, err := f.Fetch(context.Background(), "https://metadata.internal/latest/")
	fmt.Println(err)
	// Output: host not allowed: metadata.internal
}
