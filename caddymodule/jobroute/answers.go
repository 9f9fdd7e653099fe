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
// consumer, whose own cookies the route never forwards. Location and
// Content-Location on the provider's origin are mapped onto the route
// when they are the route's root or below it, and dropped otherwise
// (above or beside the job, path-absolute ones included: "/csb/..."
// resolved by the consumer would land on the broker's own paths); those
// naming a loopback, private or other non-public address (the broker's
// admin endpoint, a provider's internal host) are dropped too. Other
// origins stay.
func (m *answerMap) fix(h http.Header) {
	h.Del("Set-Cookie")
	h.Del("Set-Cookie2")
	if m == nil { // nothing known to map onto: nothing kept
		h.Del("Location")
		h.Del("Content-Location")
		return
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
// reverse proxy writes.
type answerWriter struct {
	caddyhttp.ResponseWriterWrapper
	m     *answerMap
	fixed bool // the final answer's headers are fixed
}

func (w *answerWriter) WriteHeader(status int) {
	// Interim answers (103 Early Hints, 101) carry their own headers,
	// which the reverse proxy clears after each; the final answer's are
	// fixed once.
	if status < 200 {
		w.m.fix(w.Header())
	} else {
		w.fixFinal()
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *answerWriter) Write(b []byte) (int, error) {
	w.fixFinal()
	return w.ResponseWriterWrapper.Write(b)
}

func (w *answerWriter) ReadFrom(r io.Reader) (int64, error) {
	w.fixFinal()
	return w.ResponseWriterWrapper.ReadFrom(r)
}

func (w *answerWriter) fixFinal() {
	if !w.fixed {
		w.fixed = true
		w.m.fix(w.Header())
	}
}
