package occi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/adapters/internal/nativeerr"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// maxResponse caps how much of a provider's answer is read.
const maxResponse = 4 << 20

// response is a provider's answer, parsed.
type response struct {
	status int
	header http.Header
	body   []byte
	msg    *Message
	url    *url.URL // the request URL, to resolve relative locations
}

// location returns the location a create answered with: the Location
// header (GFD.185, GFD.223), else an X-OCCI-Location (header or body),
// else a bare URI in the body. It is resolved against the request URL.
func (r *response) location() string {
	cands := []string{r.header.Get("Location")}
	if r.msg != nil {
		cands = append(cands, r.msg.Locations...)
	}
	for _, c := range cands {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		u, err := url.Parse(c)
		if err != nil {
			continue
		}
		return r.url.ResolveReference(u).String()
	}
	return ""
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// do sends one OCCI request and parses the answer. msg, if not nil, is
// rendered in the configured rendering. Idempotent methods are retried on
// transport errors and 502/503/504; POST (create, partial update, action)
// never is. A non-2xx answer is an *contract.Error.
func (a *Adapter) do(ctx context.Context, op, method, target string, msg *Message, accept string) (*response, error) {
	u, err := a.resolve(target)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindClient, Op: op, Err: err}
	}
	attempts := 1
	if idempotent(method) {
		attempts += a.cfg.MaxRetries
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if err := a.backoff(ctx, i); err != nil {
				break
			}
		}
		resp, err, retry := a.once(ctx, op, method, u, msg, accept)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !retry {
			return resp, err
		}
	}
	if ctx.Err() != nil && lastErr == nil {
		lastErr = transportError(op, ctx.Err())
	}
	return nil, lastErr
}

func (a *Adapter) backoff(ctx context.Context, attempt int) error {
	d := a.cfg.RetryBackoff * time.Duration(attempt)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (a *Adapter) once(ctx context.Context, op, method string, u *url.URL, msg *Message, accept string) (*response, error, bool) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindClient, Op: op, Err: err}, false
	}
	if msg != nil {
		switch a.cfg.Rendering {
		case MediaTextOCCI:
			msg.RenderHeaders(req.Header)
			req.Header.Set("Content-Type", MediaTextOCCI)
		default:
			b := msg.RenderPlain()
			req.Body = io.NopCloser(bytes.NewReader(b))
			req.ContentLength = int64(len(b))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			req.Header.Set("Content-Type", MediaTextPlain)
		}
	}
	if accept == "" {
		accept = a.cfg.Rendering
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "caddy-csb-occi/1 OCCI/1.1")
	// A redirect that would turn the request into a GET is the answer,
	// not followed (httpx.KeepMethod): a GET's 200 must not stand for a
	// DELETE, PUT or action.
	resp, err := httpx.KeepMethod(a.client).Do(req)
	if err != nil {
		return nil, transportError(op, err), ctx.Err() == nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	// Drain what is left (nothing, normally) so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, transportError(op, err), ctx.Err() == nil
	}
	if len(data) > maxResponse {
		return nil, &contract.Error{Kind: contract.KindServer, Op: op, Status: resp.StatusCode, Err: fmt.Errorf("answer larger than %d bytes", maxResponse)}, false
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: data, url: u}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &contract.Error{Kind: statusKind(resp.StatusCode), Op: op, Status: resp.StatusCode, Err: fmt.Errorf("%s %s: %s", method, u.Path, snippet(data, resp.Status))}
		return r, e, idempotent(method) && retryable(resp.StatusCode)
	}
	if method == http.MethodGet && accept != MediaJSON && !readable(resp.Header, data) {
		// An entity or collection in a rendering the adapter does not
		// read (OCCI's JSON, an HTML page) would read as one without
		// attributes or members: no title for Find, no state for Status.
		return r, &contract.Error{Kind: contract.KindServer, Op: op, Status: resp.StatusCode, Err: fmt.Errorf("GET %s answered %s, not the %s rendering asked for", u.Path, resp.Header.Get("Content-Type"), accept)}, false
	}
	if method != http.MethodHead {
		r.msg, err = parseResponse(resp.Header, data)
		if err != nil {
			return r, &contract.Error{Kind: contract.KindServer, Op: op, Status: resp.StatusCode, Err: fmt.Errorf("unreadable OCCI rendering: %w", err)}, false
		}
	}
	return r, nil, false
}

// parseResponse reads the rendering from the body (text/plain,
// text/uri-list) and from the headers (text/occi, and the X-OCCI-Location
// and Location headers any rendering may carry).
func parseResponse(h http.Header, body []byte) (*Message, error) {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	hm, err := ParseHeaders(h)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 || mt == MediaTextOCCI || mt == "text/html" || mt == MediaJSON {
		return hm, nil
	}
	bm, err := ParsePlain(body)
	if err != nil {
		return nil, err
	}
	bm.Categories = append(bm.Categories, hm.Categories...)
	bm.Links = append(bm.Links, hm.Links...)
	bm.Locations = append(bm.Locations, hm.Locations...)
	for _, n := range hm.Attributes.Names() {
		if _, ok := bm.Attributes.Get(n); !ok {
			v, _ := hm.Attributes.Get(n)
			bm.Attributes.Set(n, v)
		}
	}
	return bm, nil
}

// readable reports whether an answer's body is in a rendering the
// adapter reads: none at all, the text renderings (text/plain, text/occi)
// or a location list (text/uri-list); a body without a Content-Type is
// read as text/plain.
func readable(h http.Header, body []byte) bool {
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case MediaTextPlain, MediaTextOCCI, MediaURIList:
		return true
	}
	return false
}

// snippet is an error's status and the provider's message in body
// (nativeerr.Message), never the raw document.
func snippet(b []byte, status string) string {
	if len(bytes.TrimSpace(b)) == 0 {
		return status
	}
	return status + ": " + nativeerr.Message(b)
}

// transportError classifies a request that got no answer. Its text is
// scrubbed (nativeerr.Scrub): net/http's *url.Error prints the URL it
// could not call, user name and query included (the endpoint's user
// info, a redirect's presigned signature), and the text becomes a job's
// reason.
func transportError(op string, err error) *contract.Error {
	err = nativeerr.Scrub(err)
	kind := contract.KindTransport
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		kind = contract.KindTimeout
	}
	return &contract.Error{Kind: kind, Op: op, Err: err}
}

// resolve resolves a location against the endpoint. A server may name
// itself differently from how the broker reaches it (a proxy in front, or
// rOCCI's configured server URL); an absolute location on another host is
// therefore rebased onto the endpoint, so that requests, and the provider
// credentials they carry, only ever go to the configured endpoint.
func (a *Adapter) resolve(target string) (*url.URL, error) {
	t, err := url.Parse(strings.TrimSpace(target))
	if err != nil {
		return nil, fmt.Errorf("location %q: %w", target, err)
	}
	if t.Scheme != "" && t.Scheme != "http" && t.Scheme != "https" {
		return nil, fmt.Errorf("location %q: unsupported scheme", target)
	}
	if t.IsAbs() || t.Host != "" {
		t = &url.URL{Path: t.Path, RawPath: t.RawPath, RawQuery: t.RawQuery}
		if t.Path == "" {
			t.Path = "/"
		}
	}
	return a.base.ResolveReference(t), nil
}

// located returns the URL the adapter reaches a location at: resolved
// against the endpoint and rebased onto it (resolve), or "" when loc is
// empty or not a location.
func (a *Adapter) located(loc string) string {
	if loc == "" {
		return ""
	}
	u, err := a.resolve(loc)
	if err != nil {
		return ""
	}
	return u.String()
}

// ref returns how a location is written in occi.core.source/target: its
// path on the endpoint's server (as GFD.185's examples and rOCCI do).
func (a *Adapter) ref(loc string) string {
	u, err := a.resolve(loc)
	if err != nil {
		return loc
	}
	return u.RequestURI()
}
