package contract

// What every front of a job route shares: the cleaning of the consumer's
// path before any scope check, the refusals, and the mapping of route
// paths onto a provider's native endpoint.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Refused is the error for a job-route request the job's owner may not
// make (HTTP 403): a native feature that reaches beyond the job, or a
// change that goes through the broker.
func Refused(format string, args ...any) error {
	return &Error{Kind: KindClient, Op: "front", Status: http.StatusForbidden, Err: fmt.Errorf(format, args...)}
}

// NotInJob is the error for a job-route path outside the job's resource
// (HTTP 404): for the job, nothing else exists.
func NotInJob(path string) error {
	return &Error{Kind: KindNotFound, Op: "front", Status: http.StatusNotFound, Err: fmt.Errorf("%s is not part of this job", path)}
}

func badPath(format string, args ...any) error {
	return &Error{Kind: KindClient, Op: "front", Status: http.StatusBadRequest, Err: fmt.Errorf(format, args...)}
}

// CleanRoutePath resolves the dot-segments of an escaped job-route path
// (RFC 3986 section 5.2.4), whether written "..", "%2e%2e" or "%2E.", and
// refuses what a provider could read differently from the broker: a path
// that climbs above the route (403), an encoded slash or backslash, a
// backslash, a dot-segment with parameters ("..;x"), a double-encoded
// escape ("%252e", 403), a malformed escape or a control byte (400). It
// returns the cleaned escaped path, each kept segment as the consumer
// escaped it. Scope checks compare cleaned paths only.
func CleanRoutePath(escaped string) (string, error) {
	if escaped == "" {
		escaped = "/"
	}
	if escaped[0] != '/' {
		return "", badPath("path %q does not begin with /", escaped)
	}
	if plainPath(escaped) {
		return escaped, nil // the common case: nothing to resolve or refuse
	}
	segs := strings.Split(escaped[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, seg := range segs {
		dec, err := routeSegment(seg)
		if err != nil {
			return "", err
		}
		last := i == len(segs)-1
		name, _, params := strings.Cut(dec, ";")
		switch name {
		case ".", "..":
			if params {
				return "", Refused("dot-segment with parameters %q in the path", dec)
			}
			if name == ".." {
				if len(out) == 0 {
					return "", Refused("the path climbs above the job's route")
				}
				out = out[:len(out)-1]
			}
			trailing = last
		default:
			out = append(out, seg)
			trailing = false
		}
	}
	clean := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		clean += "/"
	}
	return clean, nil
}

// plainPath reports whether an escaped path holds no escape, backslash,
// control byte or segment starting with a dot: it is then clean as it is.
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '%', c == '\\', c < 0x20, c == 0x7f:
			return false
		case c == '.' && i > 0 && p[i-1] == '/':
			return false
		}
	}
	return true
}

// routeSegment decodes one escaped path segment, refusing what
// CleanRoutePath refuses.
func routeSegment(seg string) (string, error) {
	if !strings.ContainsAny(seg, "%\\") && !hasControl(seg) {
		return seg, nil
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '\\':
			return "", Refused("backslash in the path")
		case c < 0x20 || c == 0x7f:
			return "", badPath("control byte in the path")
		case c == '%':
			if i+2 >= len(seg) {
				return "", badPath("malformed escape in the path")
			}
			hi, lo := unhex(seg[i+1]), unhex(seg[i+2])
			if hi < 0 || lo < 0 {
				return "", badPath("malformed escape in the path")
			}
			c = byte(hi<<4 | lo)
			i += 2
			switch {
			case c == '/':
				return "", Refused("encoded slash (%%2F) in the path")
			case c == '\\':
				return "", Refused("encoded backslash (%%5C) in the path")
			case c < 0x20 || c == 0x7f:
				return "", badPath("encoded control byte in the path")
			}
		}
		b.WriteByte(c)
	}
	dec := b.String()
	for i := 0; i+2 < len(dec); i++ {
		if dec[i] == '%' && unhex(dec[i+1]) >= 0 && unhex(dec[i+2]) >= 0 {
			return "", Refused("double-encoded escape in the path")
		}
	}
	return dec, nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Within reports whether the cleaned route path p is root or below it.
// root is a route path; a trailing slash on either is ignored for the
// comparison of root itself ("/c" and "/c/" are both the container c).
func Within(p, root string) bool {
	root = strings.TrimSuffix(root, "/")
	if root == "" {
		return true
	}
	return strings.TrimSuffix(p, "/") == root || strings.HasPrefix(p, root+"/")
}

// FrontBase is where the paths of a job route land at a provider: the
// directory of a native endpoint. Route path "/machines/3" on base
// http://cloud/cimi/ is http://cloud/cimi/machines/3.
type FrontBase struct {
	scheme, host string
	dir, rawDir  string // the directory's path, decoded and escaped, ending in "/"
}

// NewFrontBase returns the base of the native endpoint URL: its scheme,
// host and the directory of its path (the path up to its last "/").
func NewFrontBase(endpoint string) (*FrontBase, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &Error{Kind: KindServer, Op: "front", Err: fmt.Errorf("bad native endpoint %q", endpoint)}
	}
	dir, raw := u.Path, u.EscapedPath()
	dir = dir[:strings.LastIndex(dir, "/")+1]
	raw = raw[:strings.LastIndex(raw, "/")+1]
	if dir == "" {
		dir, raw = "/", "/"
	}
	return &FrontBase{scheme: strings.ToLower(u.Scheme), host: u.Host, dir: dir, rawDir: raw}, nil
}

// RoutePath returns the route path of an absolute href at the provider
// ("http://cloud/cimi/machines/3" on base http://cloud/cimi/ is
// "/machines/3"), and false when href is not on the base's scheme and
// host, not below its directory (the directory itself is the whole API,
// never one job's), or not a clean path. Only resources whose
// RoutePath is known can be reached through the route, so the broker's
// credentials only ever go to the base's host.
func (b *FrontBase) RoutePath(href string) (string, bool) {
	if href == "" {
		return "", false
	}
	u, err := url.Parse(href)
	if err != nil || !strings.EqualFold(u.Scheme, b.scheme) || !sameHost(u.Host, b.host, b.scheme) {
		return "", false
	}
	if !strings.HasPrefix(u.Path, b.dir) || strings.Trim(u.Path[len(b.dir):], "/") == "" {
		return "", false
	}
	if clean, err := CleanRoutePath(u.EscapedPath()); err != nil || clean != u.EscapedPath() {
		return "", false
	}
	return "/" + strings.TrimPrefix(u.Path, b.dir), true
}

// sameHost compares two URL hosts, case-insensitively and with the
// scheme's default port made explicit.
func sameHost(a, b, scheme string) bool {
	norm := func(h string) string {
		h = strings.ToLower(h)
		if !strings.Contains(strings.TrimPrefix(h, "["), "]:") && strings.Count(h, ":") != 1 {
			if scheme == "https" {
				return h + ":443"
			}
			return h + ":80"
		}
		return h
	}
	return norm(a) == norm(b)
}

// Rewrite points r, whose path is a cleaned route path, at the base
// (scheme, host, directory + path) and returns the upstream to dial. It
// adds no credential.
func (b *FrontBase) Rewrite(r *http.Request) *url.URL {
	raw := strings.TrimSuffix(b.rawDir, "/") + r.URL.EscapedPath()
	r.URL.Path = strings.TrimSuffix(b.dir, "/") + r.URL.Path
	r.URL.RawPath = raw
	if r.URL.EscapedPath() != raw {
		r.URL.RawPath = ""
	}
	r.URL.Scheme, r.URL.Host, r.Host = b.scheme, b.host, b.host
	return &url.URL{Scheme: b.scheme, Host: b.host}
}

// ObjectKeys returns the member names of the JSON object body, in order.
// It fails when body is not one JSON object, or names a member twice:
// parsers disagree on which of two equal names wins, so a front that
// checks a body must not let the provider read another member than the
// one it checked.
func ObjectKeys(body []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var keys []string
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		if seen[k] {
			return nil, fmt.Errorf("member %q given twice", k)
		}
		seen[k] = true
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return keys, nil
}

// Encoded reports whether r's body is content-encoded (gzip and the
// like): a front cannot check such a body and must refuse it.
func Encoded(r *http.Request) bool {
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "identity") {
				return true
			}
		}
	}
	return false
}

// ReadBody reads a fronted request's body, at most limit bytes, for Front
// to check. over reports a body longer than limit, which Front must
// refuse (body then holds only its first limit+1 bytes). A failed read is
// a client error (400).
func ReadBody(r *http.Request, limit int64) (body []byte, over bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, &Error{Kind: KindClient, Op: "front", Status: http.StatusBadRequest, Err: err}
	}
	return body, int64(len(body)) > limit, nil
}

// ResetBody makes a body ReadBody took r's body again, replayable on a
// retry (GetBody).
func ResetBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

// BrokerAuth implements BrokerAuthenticated for the adapter that embeds
// it: the adapter's calls carry the credentials of the HTTP client the
// broker gives it, so the broker adds them to fronted requests.
type BrokerAuth struct{}

// BrokerAuthenticates implements BrokerAuthenticated.
func (BrokerAuth) BrokerAuthenticates() bool { return true }
