package adaptertest

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Fronted sends a consumer's native requests through an adapter's Front
// the way the transparent proxy (http.reverse_proxy.upstreams.csb) does:
// the request carries the consumer's own credential, Front rewrites it
// for the provider, and it goes to the upstream Front names.
type Fronted struct {
	T        testing.TB
	Fronter  contract.Fronter
	Resource *contract.Resource
	// CredentialHeader and Credential are the consumer's credential,
	// set on every request. Do fails the test when Front lets it
	// through to the provider.
	CredentialHeader, Credential string
	// Upstream is the upstream Front returned for the last request.
	Upstream *url.URL
}

// Do sends method target (the path and query below the job route) with
// the headers hdr and body. A request Front refuses comes back as Front's
// error, without a response; otherwise the answer and its body.
func (f *Fronted) Do(method, target string, hdr map[string]string, body string) (*http.Response, string, error) {
	f.T.Helper()
	r, err := http.NewRequest(method, "http://consumer.invalid"+target, strings.NewReader(body))
	if err != nil {
		f.T.Fatal(err)
	}
	if f.CredentialHeader != "" {
		r.Header.Set(f.CredentialHeader, f.Credential)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	up, err := f.Fronter.Front(context.Background(), r, f.Resource)
	if err != nil {
		return nil, "", err
	}
	f.Upstream = up
	if f.CredentialHeader != "" && r.Header.Get(f.CredentialHeader) == f.Credential {
		f.T.Fatalf("%s %s: the consumer's %s was forwarded to the provider", method, target, f.CredentialHeader)
	}
	// As the reverse proxy does: the request goes to the upstream.
	r.URL.Scheme, r.URL.Host, r.RequestURI = up.Scheme, up.Host, ""
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		f.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.T.Fatal(err)
	}
	return resp, string(b), nil
}

// Refusal is a request Front must refuse, and the kind of the refusal.
type Refusal struct {
	Method, Target string
	Header         map[string]string
	Body           string
	Kind           contract.ErrorKind
}

// Refuses checks that Front refuses each request with its kind.
func (f *Fronted) Refuses(rs []Refusal) {
	f.T.Helper()
	for _, r := range rs {
		if _, _, err := f.Do(r.Method, r.Target, r.Header, r.Body); contract.KindOf(err) != r.Kind {
			f.T.Errorf("%s %s %v: %v, want %s", r.Method, r.Target, r.Header, err, r.Kind)
		}
	}
}
