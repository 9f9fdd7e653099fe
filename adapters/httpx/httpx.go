// Package httpx holds the small HTTP helpers the REST adapters share: one
// call = one JSON (or raw) request whose outcome is either the response or
// an *contract.Error with the right kind, retries with capped exponential
// backoff for idempotent methods only, and context deadlines honoured at
// every step (the request itself and every backoff wait).
//
// Status mapping (see Classify):
//
//	404, 410                 -> contract.KindNotFound
//	507                      -> contract.KindCapacity (Insufficient Storage: the peer has no room)
//	other 4xx                -> contract.KindClient
//	5xx                      -> contract.KindServer
//	context deadline, net timeouts            -> contract.KindTimeout
//	other transport errors (refused, TLS, DNS) -> contract.KindTransport
//
// This package does not import Caddy.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-csb/caddy-csb/adapters/internal/nativeerr"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// MaxBody is the largest response body a call reads (4 MiB). Larger bodies
// fail the call with KindServer rather than exhausting memory.
const MaxBody = 4 << 20

// sharedTransport is the transport of the default client: one pool of
// keep-alive connections for every adapter that is not handed its own
// client, so connections are reused across calls.
var sharedTransport = &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	ForceAttemptHTTP2:     true,
	MaxIdleConns:          100,
	MaxIdleConnsPerHost:   16,
	IdleConnTimeout:       90 * time.Second,
	TLSHandshakeTimeout:   10 * time.Second,
	ExpectContinueTimeout: time.Second,
}

// DefaultHTTPClient is the client a Client uses when HTTP is nil. It has no
// overall timeout: every call is bounded by its context.
var DefaultHTTPClient = &http.Client{Transport: sharedTransport}

// Client performs calls against one peer. The zero value is usable. A
// Client is safe for concurrent use; set its fields before first use.
type Client struct {
	// HTTP is the underlying client (TLS trust, authentication). Nil means
	// DefaultHTTPClient. Calls go through KeepMethod's copy of it, made
	// at its first call: to change the client, set another one (changing
	// it in place while calls use it would race with them anyway).
	HTTP *http.Client
	// Header is added to every request (for example a protocol version
	// header). Call headers override it.
	Header http.Header
	// Retries is how many times an idempotent call is retried after a
	// transport error or a 502/503/504 answer. Zero means 2; negative means
	// never.
	Retries int
	// Backoff is the first retry delay; each next one doubles, capped at
	// 2 s, with up to 50% jitter. Zero means 100 ms.
	Backoff time.Duration
	// Sleep waits between retries; nil means a timer that also returns when
	// ctx ends. Tests inject one that does not wait.
	Sleep func(ctx context.Context, d time.Duration) error

	// kept is KeepMethod's copy of the client the calls go through,
	// made once rather than for every call.
	kept atomic.Pointer[keptClient]
}

// keptClient is KeepMethod(from).
type keptClient struct{ from, hc *http.Client }

// httpClient returns KeepMethod of HTTP (or of DefaultHTTPClient): the
// copy an earlier call made, while HTTP is the same client.
func (c *Client) httpClient() *http.Client {
	hc := c.HTTP
	if hc == nil {
		hc = DefaultHTTPClient
	}
	if k := c.kept.Load(); k != nil && k.from == hc {
		return k.hc
	}
	k := &keptClient{from: hc, hc: KeepMethod(hc)}
	c.kept.Store(k)
	return k.hc
}

// Call describes one request.
type Call struct {
	// Op names the operation for errors ("provision", "cimi create machine").
	Op     string
	Method string
	URL    string
	// JSON, if non-nil, is marshalled as the request body.
	JSON any
	// Body, if non-nil and JSON is nil, is sent as is.
	Body []byte
	// ContentType of the body and Accept of the answer.
	ContentType string
	Accept      string
	// Header holds extra request headers.
	Header http.Header
	// Out, if non-nil, receives the JSON-decoded response body of a 2xx
	// answer that has one.
	Out any
}

// Response is a successful (2xx) answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Idempotent reports whether a method may be retried safely (RFC 9110
// section 9.2.2).
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// Do performs the call. Non-2xx answers and transport failures come back
// as *contract.Error; the error's Err carries a short excerpt of the
// peer's answer. Non-idempotent methods are sent once.
func (c *Client) Do(ctx context.Context, call Call) (*Response, error) {
	var body []byte
	if call.JSON != nil {
		b, err := json.Marshal(call.JSON)
		if err != nil {
			return nil, &contract.Error{Kind: contract.KindUnsupported, Op: call.Op, Err: fmt.Errorf("encoding request: %w", err)}
		}
		body = b
	} else {
		body = call.Body
	}
	retries := c.Retries
	if retries == 0 {
		retries = 2
	}
	if !Idempotent(call.Method) || retries < 0 {
		retries = 0
	}
	backoff := c.Backoff
	if backoff <= 0 {
		backoff = 100 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		resp, err, retryable := c.once(ctx, call, body)
		if err == nil || !retryable || attempt >= retries || ctx.Err() != nil {
			return resp, err
		}
		d := backoff << attempt
		if d > 2*time.Second {
			d = 2 * time.Second
		}
		d += time.Duration(rand.Int64N(int64(d)/2 + 1))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return resp, err // waiting would outlive the deadline
		}
		sleep := c.Sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if serr := sleep(ctx, d); serr != nil {
			return resp, err
		}
	}
}

func (c *Client) once(ctx context.Context, call Call, body []byte) (*Response, error, bool) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, call.URL, rd)
	if err != nil {
		// url.Parse's error quotes the URL whole.
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: call.Op, Err: nativeerr.Scrub(err)}, false
	}
	// The values of the Client's header are shared by the requests that
	// send them rather than copied for each (full slices: an append
	// copies them, and nothing changes a request's header values in
	// place; the broker's Digest and header transports copy the request
	// before they add to it); the call's own header is copied, its
	// caller may change it after the call.
	for k, vs := range c.Header {
		req.Header[k] = vs[:len(vs):len(vs)]
	}
	for k, vs := range call.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if body != nil && call.ContentType != "" {
		req.Header["Content-Type"] = []string{call.ContentType}
	}
	if call.Accept != "" {
		req.Header["Accept"] = []string{call.Accept}
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		e := Classify(call.Op, 0, err)
		return nil, e, e.Kind == contract.KindTransport
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		e := Classify(call.Op, 0, err)
		return nil, e, e.Kind == contract.KindTransport
	}
	if len(data) > MaxBody {
		return nil, &contract.Error{Kind: contract.KindServer, Op: call.Op, Status: resp.StatusCode, Err: errors.New("response body too large")}, false
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := Classify(call.Op, resp.StatusCode, fmt.Errorf("%s %s: %s", call.Method, redact(call.URL), excerpt(data)))
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return nil, e, true
		}
		return nil, e, false
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
	if call.Out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, call.Out); err != nil {
			return out, &contract.Error{Kind: contract.KindServer, Op: call.Op, Status: resp.StatusCode, Err: fmt.Errorf("decoding answer: %w", err)}, false
		}
	}
	return out, nil, false
}

// presizeMax bounds the buffer readBody sizes from a Content-Length
// before it has read anything: a peer that announces a large body and
// sends none does not make the broker hold more than this per call.
const presizeMax = 64 << 10

// readBody reads resp's body, at most MaxBody+1 bytes (so the caller
// sees a body over MaxBody). It is io.ReadAll with the first buffer sized
// from the Content-Length (one byte more, for the read that meets the
// end): a body of a few KiB then costs one allocation, not the five of
// io.ReadAll's growing from 512 bytes. The body is read to its end, as
// io.ReadAll reads it, so its connection is kept alive.
func readBody(resp *http.Response) ([]byte, error) {
	size := 512
	if cl := resp.ContentLength; cl >= 0 && cl < presizeMax {
		size = int(cl) + 1
	}
	b := make([]byte, 0, size)
	lr := io.LimitedReader{R: resp.Body, N: MaxBody + 1}
	for {
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow, as io.ReadAll does
		}
	}
}

// KeepMethod returns a copy of hc that does not follow a redirect which
// would change the request's method. Go's client follows a 301, 302 or
// 303 answer to a PUT, DELETE or POST with a GET of the new location, and
// the GET's 200 would then stand for the call's outcome: a DELETE a
// provider (or a proxy adding a trailing slash) redirects would read as
// done while the resource stays. Such a redirect is instead the call's
// answer, a non-2xx status. A 303 to a POST is still followed: RFC 9110
// section 15.4.4 makes the new location the POST's answer. hc's own
// CheckRedirect (the peer URL policy) still judges every redirect.
func KeepMethod(hc *http.Client) *http.Client {
	cp := *hc
	next := hc.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		prev := via[len(via)-1].Method
		seeOther := prev == http.MethodPost && req.Response != nil && req.Response.StatusCode == http.StatusSeeOther
		if req.Method != prev && !seeOther {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}

// Classify turns an HTTP status (non-zero) or a transport error into an
// *contract.Error of the right kind. The error's text is scrubbed
// (nativeerr.Scrub): net/http's *url.Error prints the whole URL it
// failed to call, query and user name included (a presigned URL's
// signature, a token in the endpoint's query), and the text becomes a
// job's reason.
func Classify(op string, status int, err error) *contract.Error {
	err = nativeerr.Scrub(err)
	if status != 0 {
		kind := contract.KindClient
		switch {
		case status == http.StatusNotFound || status == http.StatusGone:
			kind = contract.KindNotFound
		case status == http.StatusInsufficientStorage:
			kind = contract.KindCapacity
		case status >= 500:
			kind = contract.KindServer
		}
		return &contract.Error{Kind: kind, Op: op, Status: status, Err: err}
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &contract.Error{Kind: contract.KindTimeout, Op: op, Err: err}
	case errors.As(err, &ne) && ne.Timeout():
		return &contract.Error{Kind: contract.KindTimeout, Op: op, Err: err}
	}
	return &contract.Error{Kind: contract.KindTransport, Op: op, Err: err}
}

// Resolve resolves ref (absolute, or relative as CIMI and CDMI allow)
// against base.
func Resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// excerpt is the provider's message in an error body (nativeerr.Message:
// the message field of a JSON or XML error document, else the text),
// bounded, never the raw document.
func excerpt(b []byte) string { return nativeerr.Message(b) }

// redact drops userinfo and query from a URL for error messages, so no
// credential or token leaks into logs (peerurl.RedactString, the
// broker's one URL redaction).
func redact(raw string) string { return peerurl.RedactString(raw) }

// Slot holds the Client an adapter calls through, which SetHTTPClient
// may replace while calls run (a configuration reload). The zero value
// holds none until Set.
type Slot struct {
	mu sync.Mutex
	c  *Client
}

// Set installs a Client over hc (nil: a shared default client) that sends
// header with every call.
func (s *Slot) Set(hc *http.Client, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c = &Client{HTTP: hc, Header: header}
}

// Get returns the installed Client.
func (s *Slot) Get() *Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// Tune calls fn with the installed Client under the slot's lock (tests
// set retry policies).
func (s *Slot) Tune(fn func(*Client)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.c)
}

// ParseHTTPURL parses s as an absolute http or https URL with a host;
// false when it is not one.
func ParseHTTPURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// CheckEndpoint checks the endpoint configured for the named adapter
// ("cdmi"): it is required and must be an http or https URL.
func CheckEndpoint(adapter, endpoint string) error {
	if endpoint == "" {
		return fmt.Errorf("%s: endpoint is required", adapter)
	}
	if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
		return fmt.Errorf("%s: endpoint %q must be an http or https URL", adapter, peerurl.RedactString(endpoint))
	}
	return nil
}
