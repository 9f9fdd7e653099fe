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
