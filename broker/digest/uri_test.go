package digest

import (
	"errors"
	"testing"
)

// TestURIAbsoluteForm: RFC 7616 section 3.4.6 asks that the uri
// parameter designate the resource of the request-target, not that it be
// the same string. Clients such as Jetty's (before 9.4.9), okhttp-digest
// and Node's request send the absolute URI while the request line carries
// the origin form, and a request-target may be in absolute form itself;
// both are the same resource and must authenticate. Any other scheme,
// host, port, path or query is still refused.
func TestURIAbsoluteForm(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, target, param, scheme, host string
		ok                                bool
	}{
		{"absolute uri, origin-form target", "/csb/publish?x=1", "http://broker.example/csb/publish?x=1", "http", "broker.example", true},
		{"host case and default port", "/csb/publish?x=1", "HTTP://Broker.Example:80/csb/publish?x=1", "http", "broker.example", true},
		{"https default port", "/csb/publish?x=1", "https://broker.example/csb/publish?x=1", "https", "broker.example:443", true},
		{"explicit port", "/csb/publish?x=1", "http://broker.example:8080/csb/publish?x=1", "http", "broker.example:8080", true},
		{"empty path", "/", "http://broker.example", "http", "broker.example", true},
		{"absolute-form target, origin-form uri", "http://broker.example/csb/publish?x=1", "/csb/publish?x=1", "http", "broker.example", true},
		{"absolute-form target, absolute uri", "http://broker.example/csb/publish?x=1", "http://BROKER.example:80/csb/publish?x=1", "", "", true},

		{"other host", "/csb/publish?x=1", "http://evil.example/csb/publish?x=1", "http", "broker.example", false},
		{"other port", "/csb/publish?x=1", "http://broker.example:8080/csb/publish?x=1", "http", "broker.example", false},
		{"other scheme", "/csb/publish?x=1", "https://broker.example/csb/publish?x=1", "http", "broker.example", false},
		{"other query", "/csb/publish?x=1", "http://broker.example/csb/publish?x=2", "http", "broker.example", false},
		{"query dropped", "/csb/publish?x=1", "http://broker.example/csb/publish", "http", "broker.example", false},
		{"other path", "/csb/publish?x=1", "http://broker.example/csb/consumer?x=1", "http", "broker.example", false},
		{"user info", "/csb/publish?x=1", "http://a@broker.example/csb/publish?x=1", "http", "broker.example", false},
		{"fragment", "/csb/publish?x=1", "http://broker.example/csb/publish?x=1#f", "http", "broker.example", false},
		{"host unknown", "/csb/publish?x=1", "http://broker.example/csb/publish?x=1", "", "", false},
		{"absolute-form target, other origin-form uri", "http://broker.example/csb/publish?x=1", "/csb/publish?x=2", "http", "broker.example", false},
		{"absolute-form target, other host", "http://broker.example/csb/publish?x=1", "http://evil.example/csb/publish?x=1", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.base(t, SHA256)
			c.uri = tc.param
			res := f.srv.Authenticate(Request{Method: "POST", URI: tc.target, Scheme: tc.scheme, Host: tc.host, Authorization: c.header()})
			if tc.ok && !res.OK {
				t.Fatalf("refused: %v", res.Err)
			}
			if !tc.ok && (res.OK || !errors.Is(res.Err, ErrURI)) {
				t.Fatalf("got ok=%v err=%v, want ErrURI", res.OK, res.Err)
			}
		})
	}
}
