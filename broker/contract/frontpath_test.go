package contract

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCleanRoutePath: dot-segments in any spelling are resolved before a
// scope check sees the path, and what a provider could read otherwise is
// refused with the status the route answers.
func TestCleanRoutePath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		status   int // 0: cleaned to want
	}{
		{"", "/", 0},
		{"/", "/", 0},
		{"/a/b", "/a/b", 0},
		{"/a/b/", "/a/b/", 0},
		{"/a%20b/c", "/a%20b/c", 0},
		{"/a/./b", "/a/b", 0},
		{"/a/b/..", "/a/", 0},
		{"/a/b/../c", "/a/c", 0},
		{"/a/%2e%2e/c", "/c", 0},
		{"/a/%2E./c", "/c", 0},
		{"/a/.%2e/c", "/c", 0},
		{"/a/%2e/c", "/a/c", 0},
		{"/a//../c", "/a/c", 0},
		{"/a/...", "/a/...", 0},
		{"/a/..b", "/a/..b", 0},
		{"/..", "", 403},
		{"/%2e%2e", "", 403},
		{"/a/../..", "", 403},
		{"/a/%2E%2E/%2e%2e/b", "", 403},
		{"/a/..;x/b", "", 403},
		{"/a%2fb", "", 403},
		{"/a%2Fb", "", 403},
		{"/a/..%2f..%2fb", "", 403},
		{"/a\\b", "", 403},
		{"/a%5cb", "", 403},
		{"/a/%252e%252e/b", "", 403},
		{"/a%00b", "", 400},
		{"/a%0ab", "", 400},
		{"/a\x01b", "", 400},
		{"/a%zzb", "", 400},
		{"/a%2", "", 400},
		{"a/b", "", 400},
	} {
		got, err := CleanRoutePath(tc.in)
		if tc.status == 0 {
			if err != nil || got != tc.want {
				t.Errorf("CleanRoutePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		ae, ok := err.(*Error)
		if !ok || ae.Status != tc.status {
			t.Errorf("CleanRoutePath(%q) = %q, %v; want refusal %d", tc.in, got, err, tc.status)
		}
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		p, root string
		want    bool
	}{
		{"/c", "/c/", true},
		{"/c/", "/c/", true},
		{"/c/x", "/c/", true},
		{"/c/x/y", "/c", true},
		{"/cx", "/c/", false},
		{"/", "/c/", false},
		{"/d/c", "/c", false},
	} {
		if got := Within(tc.p, tc.root); got != tc.want {
			t.Errorf("Within(%q, %q) = %v", tc.p, tc.root, got)
		}
	}
}

// TestFrontBase: hrefs map to route paths only on the base's scheme, host
// and directory, and a route path maps back onto the base.
func TestFrontBase(t *testing.T) {
	b, err := NewFrontBase("http://Cloud.example:80/cimi/cep")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		href, want string
		ok         bool
	}{
		{"http://cloud.example/cimi/machines/3", "/machines/3", true},
		{"HTTP://CLOUD.EXAMPLE:80/cimi/machines/3", "/machines/3", true},
		{"http://cloud.example/cimi/", "", false},
		{"http://cloud.example/cimi//", "", false},
		{"https://cloud.example/cimi/machines/3", "", false},
		{"http://cloud.example:8080/cimi/machines/3", "", false},
		{"http://other.example/cimi/machines/3", "", false},
		{"http://cloud.example/cdmi/x", "", false},
		{"http://cloud.example/cimi/machines/../../admin", "", false},
		{"/cimi/machines/3", "", false},
		{"", "", false},
	} {
		got, ok := b.RoutePath(tc.href)
		if ok != tc.ok || got != tc.want {
			t.Errorf("RoutePath(%q) = %q, %v; want %q, %v", tc.href, got, ok, tc.want, tc.ok)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "http://consumer.invalid/machines/a%20b?x=1", nil)
	up := b.Rewrite(r)
	if up.String() != "http://Cloud.example:80" || r.URL.String() != "http://Cloud.example:80/cimi/machines/a%20b?x=1" || r.Host != "Cloud.example:80" {
		t.Fatalf("rewritten to %s (Host %s), upstream %s", r.URL, r.Host, up)
	}
	if _, err := NewFrontBase("ftp://x/"); err == nil {
		t.Fatal("an ftp endpoint was taken")
	}
}

func TestObjectKeys(t *testing.T) {
	for _, tc := range []struct {
		body string
		want string // keys joined by ","; "!" for an error
	}{
		{`{}`, ""},
		{`{"a":1,"b":{"a":2},"c":[1,2]}`, "a,b,c"},
		{` {"a":"x"} `, "a"},
		{`{"a":1,"a":2}`, "!"},
		{`{"a":1}{"b":2}`, "!"},
		{`[1]`, "!"},
		{`"x"`, "!"},
		{`{"a":`, "!"},
		{``, "!"},
	} {
		keys, err := ObjectKeys([]byte(tc.body))
		got := strings.Join(keys, ",")
		if err != nil {
			got = "!"
		}
		if got != tc.want {
			t.Errorf("ObjectKeys(%s) = %q, %v; want %q", tc.body, keys, err, tc.want)
		}
	}
}

func TestEncoded(t *testing.T) {
	for v, want := range map[string]bool{"": false, "identity": false, "gzip": true, "identity, br": true} {
		r := httptest.NewRequest(http.MethodPut, "http://x/", nil)
		if v != "" {
			r.Header.Set("Content-Encoding", v)
		}
		if Encoded(r) != want {
			t.Errorf("Content-Encoding %q: Encoded = %v", v, !want)
		}
	}
}
