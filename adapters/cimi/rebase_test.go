package cimi

import "testing"

// FuzzRebase holds rebase's fast path (rebaseFast: no parsing) to the
// answers of parsing and resolving (rebaseURL) for every href it takes,
// on endpoints with and without a port, with a path, and with user
// information (where the fast path is off). The seeds run with every
// go test; go test -fuzz FuzzRebase searches further.
func FuzzRebase(f *testing.F) {
	endpoints := []string{
		"http://127.0.0.1:8080/cimi/cloudEntryPoint",
		"https://cloud.example/cep",
		"http://Cloud.Example:80",
		"http://[::1]:9000/cimi/",
		"http://user:secret@cloud.example/cep",
	}
	for _, href := range []string{
		"http://127.0.0.1:8080/cimi/machines",
		"http://127.0.0.1:8080/cimi/machines/m-1",
		"http://127.0.0.1:8080/cimi/machines?$first=3&$last=9",
		"http://127.0.0.1:8080/cimi/machines?",
		"http://127.0.0.1:8080/cimi/machines#top",
		"http://127.0.0.1:8080/cimi/./machines",
		"http://127.0.0.1:8080/cimi/../machines/",
		"http://127.0.0.1:8080/a/.b",
		"http://127.0.0.1:8080//cimi//machines",
		"http://127.0.0.1:8080",
		"http://127.0.0.1:8080/",
		"http://127.0.0.1:8080@evil.example/x",
		"http://127.0.0.1:80800/x",
		"http://127.0.0.1:8080/a%2Fb",
		"http://127.0.0.1:8080/a b",
		"http://127.0.0.1:8080/caf\u00e9",
		"https://127.0.0.1:8080/x",
		"HTTP://127.0.0.1:8080/x",
		"https://cloud.example/machines/1",
		"https://cloud.example:443/machines/1",
		"http://Cloud.Example:80/x",
		"http://cloud.example:80/x",
		"http://[::1]:9000/cimi/jobs/7",
		"http://user:secret@cloud.example/x",
		"/cimi/machines/m-1",
		"/cimi/machines/m-1?x=1&y=2",
		"//evil.example/x",
		"/",
		"machines/1",
		"./machines/1",
		"?q=1",
		"",
		" /cimi/x ",
		"ftp://127.0.0.1:8080/x",
		"http://internal-lb:8080/cimi/machines/9?a=(b)*!'",
	} {
		f.Add(href)
	}
	adapters := make([]*Adapter, len(endpoints))
	for i, ep := range endpoints {
		a, err := New(Config{Endpoint: ep})
		if err != nil {
			f.Fatalf("%s: %v", ep, err)
		}
		adapters[i] = a
	}
	f.Fuzz(func(t *testing.T, href string) {
		for _, a := range adapters {
			fast, ok := a.rebaseFast(href)
			if !ok {
				continue
			}
			slow, err := a.rebaseURL(href)
			if err != nil || fast != slow {
				t.Errorf("endpoint %s, href %q: fast path %q, parsed %q (%v)", a.cfg.Endpoint, href, fast, slow, err)
			}
		}
	})
}

// TestRebaseFastTakesProviderHrefs checks that the hrefs of a create
// (the collection, Location, CIMI-Job-URI, relative ones) take the fast
// path: a change that sends them back to parsing shows here, not only
// as a higher allocation count.
func TestRebaseFastTakesProviderHrefs(t *testing.T) {
	a, err := New(Config{Endpoint: "http://127.0.0.1:8080/cimi/cloudEntryPoint"})
	if err != nil {
		t.Fatal(err)
	}
	for _, href := range []string{"http://127.0.0.1:8080/cimi/machines", "http://127.0.0.1:8080/cimi/jobs/j-1", "/cimi/machines/m-1?$first=1&$last=5"} {
		if _, ok := a.rebaseFast(href); !ok {
			t.Errorf("%q does not take the fast path", href)
		}
	}
	for _, href := range []string{"http://internal-lb:8080/cimi/machines/1", "machines/1", "/cimi/../x", "//evil.example/x"} {
		if _, ok := a.rebaseFast(href); ok {
			t.Errorf("%q takes the fast path", href)
		}
	}
}
