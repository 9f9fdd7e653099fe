package jobroute

// The provider's answers as the consumer gets them: nothing in their
// headers hands the consumer a session of the broker's account at the
// provider, or sends it to the provider's own URLs.

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// answerMap maps URLs in a provider's answer onto the job route.
type answerMap struct {
	// provider is the URL the request went to at the provider: scheme,
	// host and escaped path. References in the answer are resolved
	// against it.
	provider *url.URL
	// base is the escaped path at the provider that the route's root
	// stands for ("" for the provider's root); known is false when the
	// front rewrote the path in a way that does not say it.
	base  string
	known bool
	// route is the escaped path of the route's root as the consumer
	// reaches it ("/csb/jobs/<job-id>"; "" with the header form, whose
	// paths are the route paths).
	route string
}

// newAnswerMap is the map for a request the front rewrote from the
// cleaned route path routePath (escaped) to r's path at upstream.
func newAnswerMap(r *http.Request, upstream *url.URL, routePath, route string) *answerMap {
	p := r.URL.EscapedPath()
	m := &answerMap{provider: &url.URL{Scheme: strings.ToLower(upstream.Scheme), Host: upstream.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}, route: route}
	if routePath == "/" {
		m.base, m.known = strings.TrimSuffix(p, "/"), true
	} else if strings.HasSuffix(p, routePath) {
		m.base, m.known = p[:len(p)-len(routePath)], true
	}
	return m
}

// fix rewrites the answer's headers h for the consumer. Set-Cookie goes:
// a provider's session belongs to the broker's account there, not to the
// consumer, whose own cookies the route never forwards. So do
// WWW-Authenticate and Proxy-Authenticate: a challenge is the provider's
// to the broker, and would have the consumer's client send credentials
// (its own, or ones meant for the provider) to the broker's route, which
// never forwards them. Location and Content-Location on the provider's
// origin are mapped onto the route when they are the route's root or
// below it, and dropped otherwise (above or beside the job, path-absolute
// ones included: "/csb/..." resolved by the consumer would land on the
// broker's own paths); those naming a loopback, private or other
// non-public address (the broker's admin endpoint, a provider's internal
// host) are dropped too. Other origins stay. The targets (and anchors)
// of Link header values are mapped the same way (mapLinks).
func (m *answerMap) fix(h http.Header) {
	h.Del("Set-Cookie")
	h.Del("Set-Cookie2")
	h.Del("Www-Authenticate")
	h.Del("Proxy-Authenticate")
	if m == nil { // nothing known to map onto: nothing kept
		h.Del("Location")
		h.Del("Content-Location")
		h.Del("Link")
		return
	}
	if vs, ok := h["Link"]; ok {
		var out []string
		for _, v := range vs {
			if nv := m.mapLinks(v); nv != "" {
				out = append(out, nv)
			}
		}
		if len(out) == 0 {
			delete(h, "Link")
		} else {
			h["Link"] = out
		}
	}
	for _, name := range []string{"Location", "Content-Location"} {
		vs, ok := h[name]
		if !ok {
			continue
		}
		var out []string
		for _, v := range vs {
			if nv, keep := m.mapURL(v); keep {
				out = append(out, nv)
			}
		}
		if len(out) == 0 {
			delete(h, name)
		} else {
			h[name] = out
		}
	}
}

// mapURL returns what the consumer gets for the URL reference v in an
// answer, and false when it gets nothing.
func (m *answerMap) mapURL(v string) (string, bool) {
	ref, err := url.Parse(strings.TrimSpace(v))
	if err != nil || ref.Opaque != "" {
		return "", false
	}
	abs := m.provider.ResolveReference(ref)
	if abs.User != nil {
		return "", false
	}
	if !strings.EqualFold(abs.Scheme, m.provider.Scheme) || originOf(abs) != originOf(m.provider) {
		// The provider's host on another scheme or port is no less
		// the provider's.
		if sameHostname(abs, m.provider) || internalHost(abs.Hostname()) {
			return "", false
		}
		return v, true
	}
	p := abs.EscapedPath()
	if !m.known || (m.base != "" && p != m.base && !strings.HasPrefix(p, m.base+"/")) {
		return "", false
	}
	out := m.route + p[len(m.base):]
	if out == "" {
		out = "/"
	}
	if abs.RawQuery != "" || abs.ForceQuery {
		out += "?" + abs.RawQuery
	}
	if abs.Fragment != "" {
		out += "#" + abs.EscapedFragment()
	}
	return out, true
}

// mapLinks returns the Link header value v (RFC 8288: link-values
// "<target>; param=value; ...", separated by commas) with each target,
// and each anchor parameter, mapped by mapURL; a link-value whose target
// or anchor mapURL drops is dropped, and so is everything from the first
// link-value that does not parse. It returns "" when nothing is kept.
func (m *answerMap) mapLinks(v string) string {
	var out []string
	for rest := v; ; {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			break
		}
		end := strings.IndexByte(rest, '>')
		if rest[0] != '<' || end < 0 {
			break // not a link-value: nothing after it is trusted
		}
		target, tail := rest[1:end], rest[end+1:]
		params, next := splitUnquoted(tail, ',')
		rest = next
		mapped, keep := m.mapURL(target)
		if !keep {
			continue
		}
		lv := "<" + mapped + ">"
		for _, p := range splitParams(params) {
			name, val, hasVal := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(name), "anchor") && hasVal {
				a, ok := m.mapURL(unquote(strings.TrimSpace(val)))
				if !ok {
					keep = false
					break
				}
				p = "anchor=" + strconv.Quote(a)
			}
			lv += "; " + p
		}
		if keep {
			out = append(out, lv)
		}
	}
	return strings.Join(out, ", ")
}

// splitUnquoted splits s at the first sep outside a quoted-string.
func splitUnquoted(s string, sep byte) (before, after string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// splitParams returns the link-params of a link-value's tail (";
// name=value; ..."), each trimmed, without empty ones.
func splitParams(s string) []string {
	var out []string
	for s != "" {
		var p string
		p, s = splitUnquoted(s, ';')
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// unquote returns the content of a quoted-string, or s itself when it is
// a token.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// originOf is u's host and port, lower case, the scheme's default port
// made explicit.
func originOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = peerurl.DefaultPort(u.Scheme)
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), port)
}

func sameHostname(a, b *url.URL) bool {
	return strings.EqualFold(strings.TrimSuffix(a.Hostname(), "."), strings.TrimSuffix(b.Hostname(), "."))
}

// internalHost reports whether host names a loopback, private or other
// non-public address, or localhost.
func internalHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && !peerurl.Public(ip)
}

// answerWriter applies an answerMap to the headers of the answers the
// reverse proxy writes, and withholds a final 401 or 407 (refused).
type answerWriter struct {
	caddyhttp.ResponseWriterWrapper
	m     *answerMap
	fixed bool // the final answer's headers are fixed
	// before is the response's header as it was before the reverse
	// proxy ran, put back when the answer is withheld.
	before http.Header
	// refused is the status of a final answer withheld: the provider
	// asked for authentication (401, 407). The consumer cannot give it
	// any (the route forwards no consumer credential): the provider
	// refused the broker's, and the handler answers 502 instead.
	refused int
}

func newAnswerWriter(w http.ResponseWriter, m *answerMap) *answerWriter {
	return &answerWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, m: m, before: w.Header().Clone()}
}

func (w *answerWriter) WriteHeader(status int) {
	if w.refused != 0 {
		return
	}
	if status == http.StatusUnauthorized || status == http.StatusProxyAuthRequired {
		// Nothing of the provider's answer is sent; the headers it
		// brought go, those set before the proxy ran come back.
		w.refused = status
		h := w.Header()
		clear(h)
		for k, v := range w.before {
			h[k] = v
		}
		return
	}
	// Interim answers (103 Early Hints, 101) carry their own headers,
	// which the reverse proxy clears after each; the final answer's are
	// fixed once.
	if status < 200 {
		w.m.fix(w.Header())
		w.keepOwnInfo()
	} else {
		w.fixFinal()
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *answerWriter) Write(b []byte) (int, error) {
	if w.refused != 0 {
		return len(b), nil
	}
	w.fixFinal()
	return w.ResponseWriterWrapper.Write(b)
}

func (w *answerWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.refused != 0 {
		return io.Copy(io.Discard, r)
	}
	w.fixFinal()
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError flushes the consumer's response, unless the answer is
// withheld: http.ResponseController would otherwise reach the response
// through Unwrap and send it with status 200.
func (w *answerWriter) FlushError() error {
	if w.refused != 0 {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *answerWriter) fixFinal() {
	if !w.fixed {
		w.fixed = true
		w.m.fix(w.Header())
		w.keepOwnInfo()
	}
}

// keepOwnInfo leaves the answer's Authentication-Info (and
// Proxy-Authentication-Info) as the broker's own Digest auth set it
// before the proxy ran: the reverse proxy adds the provider's values to
// them, and a provider's rspauth and nextnonce belong to its exchange
// with the broker. A consumer's Digest client would read the provider's
// nextnonce as the broker's and send it back, to be refused.
func (w *answerWriter) keepOwnInfo() {
	h := w.Header()
	for _, k := range [...]string{"Authentication-Info", "Proxy-Authentication-Info"} {
		if v, ok := w.before[k]; ok {
			h[k] = slices.Clone(v)
		} else {
			delete(h, k)
		}
	}
}
