package csbcimi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Accept is read as RFC 9110 says: the most specific range that matches
// a format gives its quality, so "application/json;q=0, */*" refuses
// JSON and gets XML (it got JSON, the one type it ruled out), and every
// Accept field counts.
func TestCIMINegotiate(t *testing.T) {
	for _, c := range []struct {
		accept []string
		want   format
		status int
	}{
		{[]string{"application/json;q=0, */*"}, formatXML, 0},
		{[]string{"*/*, application/xml;q=0"}, formatJSON, 0},
		{[]string{"application/*;q=0.9, application/json;q=0.1"}, formatXML, 0},
		{[]string{"application/json;q=0, application/xml;q=0"}, 0, http.StatusNotAcceptable},
		{[]string{"application/json;q=0, application/*;q=0.5, application/xml;q=0"}, 0, http.StatusNotAcceptable},
		{[]string{"text/html", "application/xml"}, formatXML, 0},
		// What was served before stays so.
		{nil, formatJSON, 0},
		{[]string{"*/*"}, formatJSON, 0},
		{[]string{"application/xml"}, formatXML, 0},
		{[]string{"text/xml"}, formatXML, 0},
		{[]string{"application/xml, application/json"}, formatJSON, 0},
		{[]string{"application/xml;q=0.5, application/json;q=0.4"}, formatXML, 0},
		{[]string{"application/xml, */*;q=0.1"}, formatXML, 0},
		{[]string{"text/html"}, 0, http.StatusNotAcceptable},
	} {
		r := httptest.NewRequest("GET", "/cimi/", nil)
		for _, a := range c.accept {
			r.Header.Add("Accept", a)
		}
		f, err := negotiate(r)
		if c.status != 0 {
			ce, ok := err.(*cimiError)
			if !ok || ce.status != c.status {
				t.Errorf("%q: %v, want %d", c.accept, err, c.status)
			}
			continue
		}
		if err != nil || f != c.want {
			t.Errorf("%q: %v %v, want %v", c.accept, f, err, c.want)
		}
	}
}

// A q that accept.Ranges reads as a float but is no qvalue (RFC 9110
// 12.4.2: 0 to 1) is taken as the nearest qvalue, and NaN as 1 (as a q
// that does not parse): "application/xml;q=NaN" got JSON, a type it does
// not list, because NaN compares false with every weight.
func TestCIMINegotiateBadQ(t *testing.T) {
	for _, c := range []struct {
		accept string
		want   format
		status int
	}{
		{"application/xml;q=NaN", formatXML, 0},
		{"application/xml;q=nan, application/json;q=0.5", formatXML, 0},
		{"application/json;q=NaN, application/xml;q=0.5", formatJSON, 0},
		{"application/xml;q=-1", 0, http.StatusNotAcceptable},
		{"application/xml;q=-1, application/json;q=0.1", formatJSON, 0},
		{"application/xml;q=2, application/json", formatJSON, 0},
		{"application/xml;q=+Inf, application/json;q=0.5", formatXML, 0},
	} {
		r := httptest.NewRequest("GET", "/cimi/", nil)
		r.Header.Set("Accept", c.accept)
		f, err := negotiate(r)
		if c.status != 0 {
			if ce, ok := err.(*cimiError); !ok || ce.status != c.status {
				t.Errorf("%q: %v %v, want %d", c.accept, f, err, c.status)
			}
			continue
		}
		if err != nil || f != c.want {
			t.Errorf("%q: %v %v, want %v", c.accept, f, err, c.want)
		}
	}
}

// The answers of the handler follow negotiate (no path picks its own
// binding): a JSON ruled out by q=0 with */* accepted is XML, q-values
// order the two, and nothing acceptable is a 406 CIMI error.
func TestCIMINegotiateAnswers(t *testing.T) {
	b := startEngineBrokerWith(t, engineOptions{buildTime: "0"})
	id := b.create("alice", plainMachine)
	for _, c := range []struct {
		accept, ct string
		status     int
	}{
		{"application/json;q=0, */*", "application/xml", http.StatusOK},
		{"application/xml;q=0.9, application/json;q=0.5", "application/xml", http.StatusOK},
		{"application/json;q=0.9, application/xml;q=0.5", "application/json", http.StatusOK},
		{"application/json;q=0", "application/json", http.StatusNotAcceptable},
		{"text/html", "application/json", http.StatusNotAcceptable},
	} {
		for _, p := range []string{"/cimi/", "/cimi/machines/" + id, "/cimi/machines/nope"} {
			a := b.do("alice", "GET", p, "", "Accept", c.accept)
			want := c.status
			if p == "/cimi/machines/nope" && want == http.StatusOK {
				want = http.StatusNotFound
			}
			if a.status != want || a.header.Get("Content-Type") != c.ct {
				t.Errorf("GET %s Accept %q: %d %s, want %d %s", p, c.accept, a.status, a.header.Get("Content-Type"), want, c.ct)
			}
		}
	}
}

// text/xml stands for the XML binding, which is answered as
// application/xml: not where a range refuses application/xml. Before,
// "application/xml;q=0, text/xml" got application/xml, the one type it
// ruled out (q=0 is "not acceptable", RFC 9110 12.4.2).
func TestCIMINegotiateTextXML(t *testing.T) {
	for _, c := range []struct {
		accept string
		want   format
		status int
	}{
		{"application/xml;q=0, text/xml", 0, http.StatusNotAcceptable},
		{"application/*;q=0, text/xml", 0, http.StatusNotAcceptable},
		{"*/*;q=0, text/xml", 0, http.StatusNotAcceptable},
		{"application/xml;q=0, text/xml, application/json;q=0.5", formatJSON, 0},
		// Not refused: text/xml stands for it, as before.
		{"text/xml", formatXML, 0},
		{"text/xml, application/json;q=0.5", formatXML, 0},
		{"*/*;q=0.1, text/xml", formatXML, 0},
		{"application/xml;q=0.1, text/xml, application/json;q=0.5", formatXML, 0},
	} {
		r := httptest.NewRequest("GET", "/cimi/", nil)
		r.Header.Set("Accept", c.accept)
		f, err := negotiate(r)
		if c.status != 0 {
			if ce, ok := err.(*cimiError); !ok || ce.status != c.status {
				t.Errorf("%q: %v %v, want %d", c.accept, f, err, c.status)
			}
			continue
		}
		if err != nil || f != c.want {
			t.Errorf("%q: %v %v, want %v", c.accept, f, err, c.want)
		}
	}
}
