package peerurl

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestRedact: user info, query and fragment go; scheme, host, port and
// path stay. Strings that do not parse still lose what follows "?" and
// what precedes "@".
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://cloud.example.org/cimi":                                                 "https://cloud.example.org/cimi",
		"https://user:secret@cloud.example.org:8443/cimi/":                               "https://cloud.example.org:8443/cimi/",
		"https://s3.example.com/b/k?X-Amz-Signature=secret&X-Amz-Credential=AKIA":        "https://s3.example.com/b/k",
		"https://swift.example.com/v1/AUTH_a/c/o?temp_url_sig=secret&temp_url_expires=1": "https://swift.example.com/v1/AUTH_a/c/o",
		"https://hooks.example.com/in?token=secret#frag":                                 "https://hooks.example.com/in",
		"https://user:***@cloud.example.org/x?":                                          "https://cloud.example.org/x",
		"https://user:pa/ss@cloud.example.org/x?sig=secret":                              "https://cloud.example.org/x",
		"/relative/path?sig=secret":                                                      "/relative/path",
	} {
		if got := RedactString(in); got != want {
			t.Errorf("RedactString(%q) = %q, want %q", in, got, want)
		}
	}
	u, _ := url.Parse("https://cloud.example.org/p?sig=secret")
	if got := Redact(u); got != "https://cloud.example.org/p" || u.RawQuery != "sig=secret" {
		t.Errorf("Redact = %q and changed its argument to %v", got, u)
	}
	text := `Get "https://user:***@h.example/p?sig=secret": refused (see https://h.example/doc?k=secret).`
	want := `Get "https://h.example/p": refused (see https://h.example/doc).`
	if got := RedactText(text); got != want {
		t.Errorf("RedactText = %q, want %q", got, want)
	}
	if got := RedactText("GET https://h.example/p: 404"); got != "GET https://h.example/p: 404" {
		t.Errorf("RedactText changed a URL without secrets: %q", got)
	}
}

// TestRefusalHidesSecrets: a refused URL's query carries a presigned
// URL's signature (a provider redirecting to one, or an href naming
// one); neither the refusal's text nor what OnRefuse logs may hold it.
// The refusal kept the query before Redact dropped it.
func TestRefusalHidesSecrets(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer other.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/obj?temp_url_sig=s3cr3t-redirect&temp_url_expires=9", http.StatusFound)
	}))
	defer origin.Close()
	var mu sync.Mutex
	var logged []string
	p := mustPolicy(t, Config{Origins: []string{origin.URL}, OnRefuse: func(e *Error) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, e.Error(), e.URL)
	}})
	u, _ := url.Parse("https://evil.example.net/x?X-Amz-Signature=s3cr3t-check")
	errs := []error{p.Check(u)}
	tr := &http.Transport{DialContext: p.DialContext(nil)}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: p.RoundTripper(tr), CheckRedirect: p.CheckRedirect(0)}
	_, err := c.Get(origin.URL + "/start")
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("redirect: %v", err)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("no refusal in %v", err)
	}
	errs = append(errs, pe, RedactError(err))
	mu.Lock()
	defer mu.Unlock()
	for _, e := range errs {
		logged = append(logged, e.Error())
	}
	for _, s := range logged {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("a secret in %q", s)
		}
	}
	if !strings.Contains(pe.URL, "/obj") || !strings.Contains(pe.Error(), "/obj") {
		t.Errorf("the refusal lost the path: %v", pe)
	}
}

// TestRedactError: net/http's *url.Error prints the query and the user
// name of the URL it failed to call. RedactError hides them and keeps
// the host, the path and what the error is (errors.Is, errors.As, a
// net.Error's Timeout).
func TestRedactError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the call is refused
	req, _ := http.NewRequest(http.MethodGet, "http://csb:s3cr3t-pass@"+addr+"/v1/c/o?temp_url_sig=s3cr3t-sig", nil)
	_, err = (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err == nil {
		t.Fatal("the call succeeded")
	}
	if !strings.Contains(err.Error(), "s3cr3t-sig") {
		t.Fatalf("net/http no longer prints the query (%v): the test needs another secret", err)
	}
	red := RedactError(err)
	if s := red.Error(); strings.Contains(s, "s3cr3t") || strings.Contains(s, "csb") || !strings.Contains(s, addr+"/v1/c/o") {
		t.Errorf("redacted: %q", s)
	}
	var ue *url.Error
	var ne net.Error
	if !errors.As(red, &ue) || !errors.As(red, &ne) || ne.Timeout() {
		t.Errorf("the redacted error lost what it is: %#v", red)
	}
	if RedactError(red) != red {
		t.Error("redacting twice wraps twice")
	}
	plain := errors.New("no url here")
	if RedactError(plain) != plain || RedactError(nil) != nil {
		t.Error("an error without a URL to redact changed")
	}
	timeout := RedactError(&url.Error{Op: "Get", URL: "https://h.example/?sig=x", Err: context.DeadlineExceeded})
	if !errors.Is(timeout, context.DeadlineExceeded) || !errors.As(timeout, &ne) || !ne.Timeout() {
		t.Errorf("a timeout is no longer one: %v", timeout)
	}
}
