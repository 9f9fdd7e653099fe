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
