package httpx

import "testing"

func TestCheckEndpoint(t *testing.T) {
	for _, c := range []struct{ endpoint, err string }{
		{"https://cloud.example/cimi/cep", ""},
		{"http://cloud.example/cdmi/", ""},
		{"", "cimi: endpoint is required"},
		{"ftp://cloud.example/", `cimi: endpoint "ftp://cloud.example/" must be an http or https URL`},
	} {
		err := CheckEndpoint("cimi", c.endpoint)
		if (err == nil) != (c.err == "") || err != nil && err.Error() != c.err {
			t.Errorf("%q: got %v, want %q", c.endpoint, err, c.err)
		}
	}
}

func TestParseHTTPURL(t *testing.T) {
	for s, want := range map[string]bool{
		"https://cloud.example/occi/": true,
		"http://10.0.0.1:8787":        true,
		"HTTPS://cloud.example":       true,
		"ftp://cloud.example/":        false,
		"https://":                    false,
		"/occi/":                      false,
		"http://[::1":                 false,
	} {
		if u, ok := ParseHTTPURL(s); ok != want || ok && u.Host == "" {
			t.Errorf("%q: got %v, %v", s, u, ok)
		}
	}
}

// TestCheckEndpointHidesCredentials: the refusal of an endpoint names
// it without its user info and query; the configuration error goes to
// Caddy's log and to the admin API's caller.
func TestCheckEndpointHidesCredentials(t *testing.T) {
	err := CheckEndpoint("cimi", "ftp://csb:s3cr3t@cloud.example/cimi?key=s3cr3t")
	if err == nil || err.Error() != `cimi: endpoint "ftp://cloud.example/cimi" must be an http or https URL` {
		t.Errorf("got %v", err)
	}
}
