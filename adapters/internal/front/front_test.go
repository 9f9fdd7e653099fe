package front

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadAction(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(`{"os-start":null}`))
	body, err := ReadAction(r, "server action")
	if err != nil || string(body) != `{"os-start":null}` {
		t.Fatalf("got %q, %v", body, err)
	}

	r = httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(strings.Repeat("a", MaxActionBody+1)))
	_, err = ReadAction(r, "server action")
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusForbidden || !strings.Contains(err.Error(), "server action body larger than 65536 bytes") {
		t.Fatalf("over the limit: %v", err)
	}

	// A body that cannot be read is the client's fault (400), not a
	// refusal (403).
	r = httptest.NewRequest(http.MethodPost, "/x", io.NopCloser(failingReader{}))
	_, err = ReadAction(r, "request")
	if !errors.As(err, &ce) || ce.Kind != contract.KindClient || ce.Status != http.StatusBadRequest {
		t.Fatalf("read failure: %v", err)
	}
}

func TestRebase(t *testing.T) {
	for _, c := range []struct{ base, path, rawPath, wantURL string }{
		{"https://swift.example/v1/AUTH_p", "/c/o", "", "https://swift.example/v1/AUTH_p/c/o"},
		{"https://swift.example/v1/AUTH_p/", "/c/a b", "", "https://swift.example/v1/AUTH_p/c/a%20b"},
		{"https://swift.example/v1/AUTH_p", "/c/a/b", "/c/a%2Fb", "https://swift.example/v1/AUTH_p/c/a%2Fb"},
		{"http://ec2.local:8080", "/", "", "http://ec2.local:8080/"},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://route.example/", nil)
		r.URL.Path, r.URL.RawPath = c.path, c.rawPath
		up, err := Rebase(r, c.base)
		if err != nil {
			t.Fatalf("%s: %v", c.base, err)
		}
		if got := r.URL.String(); got != c.wantURL {
			t.Errorf("%s + %s: got %s, want %s", c.base, c.path, got, c.wantURL)
		}
		if up.Scheme != r.URL.Scheme || up.Host != r.URL.Host || r.Host != r.URL.Host || up.Path != "" {
			t.Errorf("%s: upstream %v, host %q", c.base, up, r.Host)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/c", nil)
	if _, err := Rebase(r, "not a url"); contract.KindOf(err) != contract.KindServer {
		t.Errorf("bad base: %v", err)
	}
}

func TestScoped(t *testing.T) {
	const endpoint = "https://cimi.example/api/cep"
	r := httptest.NewRequest(http.MethodGet, "http://route.example/machines/3", nil)
	var sawPath string
	up, err := Scoped(endpoint, r, func(base *contract.FrontBase, p string) error {
		sawPath = p
		if _, ok := base.RoutePath("https://cimi.example/api/machines/3"); !ok {
			t.Error("RoutePath of the job's machine failed")
		}
		return nil
	})
	if err != nil || sawPath != "/machines/3" || up.String() != "https://cimi.example" || r.URL.String() != "https://cimi.example/api/machines/3" {
		t.Fatalf("got %v, %v, path %q, request %s", up, err, sawPath, r.URL)
	}

	r = httptest.NewRequest(http.MethodGet, "http://route.example/machines/4", nil)
	if _, err := Scoped(endpoint, r, func(*contract.FrontBase, string) error { return contract.NotInJob("/machines/4") }); contract.KindOf(err) != contract.KindNotFound {
		t.Fatalf("refused: %v", err)
	}
	if r.URL.Host != "route.example" {
		t.Errorf("a refused request was rewritten: %s", r.URL)
	}
}

func TestNoReuseAfterContainerHEAD(t *testing.T) {
	for _, c := range []struct {
		method, path string
		close        bool
	}{
		{http.MethodHead, "/bucket", true},
		{http.MethodHead, "/bucket/", true},
		{http.MethodHead, "/bucket/key", false},
		{http.MethodGet, "/bucket", false},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		NoReuseAfterContainerHEAD(r)
		if r.Close != c.close {
			t.Errorf("%s %s: Close %v", c.method, c.path, r.Close)
		}
	}
}
