package digest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// DefaultMaxBufferedBody is Transport.MaxBufferedBody's default.
const DefaultMaxBufferedBody = 8 << 20

// ErrRspauth is returned when a server's Authentication-Info carries an
// rspauth that does not prove knowledge of the password: the response did
// not come from the server the credentials were meant for.
var ErrRspauth = errors.New("digest: server's rspauth does not match")

// Transport is an http.RoundTripper that answers HTTP Digest challenges
// (RFC 7616): every algorithm of this package, qop auth and auth-int,
// userhash, charset=UTF-8 (username* for non-ASCII names) and stale=true.
//
// From the challenges a server sends it picks the strongest algorithm it
// supports (SHA-512-256, then SHA-256, then MD5; a "-sess" variant just
// below its base). After the first challenge from an origin it reuses the
// nonce for later requests with an increasing nonce count, so that a
// steady stream of requests costs no extra round trips; it follows the
// server's nextnonce, and retries once when told stale=true, when a
// reused nonce is refused, or when a refusal of auth-int offers auth
// alone (the body was too large for the server to check). It checks the rspauth of Authentication-Info
// (mutual authentication) unless SkipRspauthCheck is set.
//
// It never answers a Basic challenge with the password: a server that
// asks for Basic gets its 401 back to the caller (no downgrade).
//
// A request body must be replayable for the retry: the transport uses
// GetBody when set (http.NewRequest sets it for in-memory bodies) and
// otherwise buffers up to MaxBufferedBody bytes.
type Transport struct {
	// Username and Password are the credentials.
	Username string
	Password string

	// Base makes the requests. Default http.DefaultTransport.
	Base http.RoundTripper

	// Algorithms, when set, restricts the algorithms accepted.
	Algorithms []Algorithm

	// PreferAuth chooses qop=auth even when the server offers auth-int.
	// By default auth-int is chosen when offered, so that the request
	// body is covered by the digest too.
	PreferAuth bool

	// SkipRspauthCheck disables the check of Authentication-Info's
	// rspauth.
	SkipRspauthCheck bool

	// MaxBufferedBody bounds the buffering of a body without GetBody.
	// Default 8 MiB.
	MaxBufferedBody int64

	// Hosts, when set, lists the hosts (host or host:port, as in the
	// request URL) whose challenges are answered. Others get their 401
	// back, so a redirect cannot lure credentials to another server.
	Hosts []string

	mu       sync.Mutex
	sessions map[string]*session // by scheme://host
}

// session is the state for one protection space: a chosen challenge and
// the count of its nonce.
type session struct {
	alg          Algorithm
	realm, nonce string
	opaque       string
	hasOpaque    bool
	qop          string // "auth", "auth-int" or "" (RFC 2069 form)
	userhash     bool
	charset      bool
	ha1          string
	nc           uint32
}

// attempt is what one request was sent with, to check its rspauth.
type attempt struct {
	sess   *session
	in     Input
	nonce  string
	usedNC uint32
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// CloseIdleConnections closes the idle connections of Base.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func origin(r *http.Request) string { return strings.ToLower(r.URL.Scheme + "://" + r.URL.Host) }

func (t *Transport) allowed(r *http.Request) bool {
	if len(t.Hosts) == 0 {
		return true
	}
	for _, h := range t.Hosts {
		if strings.EqualFold(h, r.URL.Host) || strings.EqualFold(h, r.URL.Hostname()) {
			return true
		}
	}
	return false
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	getBody, err := t.replayableBody(req)
	if err != nil {
		return nil, err
	}
	key := origin(req)
	retriedFresh := false
	for try := 0; ; try++ {
		r := req.Clone(req.Context())
		if r.Body, err = getBody(); err != nil {
			return nil, err
		}
		r.GetBody = getBody
		var att *attempt
		if t.allowed(req) {
			if sess := t.session(key); sess != nil {
				if att, err = t.authorize(r, sess, getBody); err != nil {
					r.Body.Close()
					return nil, err
				}
			}
		}
		resp, err := t.base().RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized {
			if att != nil {
				if err := t.checkInfo(att, resp); err != nil {
					drain(resp)
					return nil, err
				}
			}
			return resp, nil
		}
		if !t.allowed(req) || try >= 2 {
			return resp, nil
		}
		chal, ok := t.pick(resp.Header.Values("Www-Authenticate"))
		if !ok {
			return resp, nil
		}
		// Retry when the 401 answered no credentials or a session from an
		// earlier request (its nonce may have expired, or a restarted
		// server may not know it); after a challenge taken in this call,
		// retry only when the server says the nonce is stale, or when it
		// no longer offers the auth-int just used but offers auth (the
		// body was too large for it to check): otherwise the credentials
		// are wrong.
		intRefused := att != nil && att.in.QOP == QOPAuthInt && !chal.qopAuthInt && chal.qopAuth
		if retriedFresh && !chal.stale && !intRefused {
			return resp, nil
		}
		drain(resp)
		t.setSession(key, chal)
		retriedFresh = true
	}
}

func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// replayableBody returns a function giving a fresh copy of req's body.
func (t *Transport) replayableBody(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return func() (io.ReadCloser, error) { return http.NoBody, nil }, nil
	}
	if req.GetBody != nil {
		// The caller's Body is replaced by copies from GetBody; close it,
		// as a RoundTripper must.
		req.Body.Close()
		return req.GetBody, nil
	}
	limit := t.MaxBufferedBody
	if limit <= 0 {
		limit = DefaultMaxBufferedBody
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("digest: request body without GetBody is larger than %d bytes and cannot be replayed", limit)
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, nil
}

func (t *Transport) session(key string) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sessions[key]
}

func (t *Transport) setSession(key string, c clientChallenge) {
	s := &session{
		alg: c.alg, realm: c.realm, nonce: c.nonce, opaque: c.opaque, hasOpaque: c.hasOpaque,
		userhash: c.userhash, charset: c.charset,
		ha1: HA1(c.alg, t.Username, c.realm, t.Password),
	}
	switch {
	case c.qopAuthInt && (!c.qopAuth || !t.PreferAuth):
		s.qop = QOPAuthInt
	case c.qopAuth:
		s.qop = QOPAuth
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sessions == nil {
		t.sessions = make(map[string]*session)
	}
	t.sessions[key] = s
}

// authorize sets r's Authorization header from the session, taking the
// next nonce count.
func (t *Transport) authorize(r *http.Request, sess *session, getBody func() (io.ReadCloser, error)) (*attempt, error) {
	t.mu.Lock()
	sess.nc++
	nc, nonce := sess.nc, sess.nonce
	t.mu.Unlock()

	att := &attempt{sess: sess, nonce: nonce, usedNC: nc}
	in := &att.in
	in.Algorithm, in.HA1, in.Nonce, in.QOP = sess.alg, sess.ha1, nonce, sess.qop
	in.Method, in.URI = r.Method, r.URL.RequestURI()
	if sess.qop != "" {
		in.NC = formatNC(nc)
		in.Cnonce = newCnonce()
	}
	if sess.qop == QOPAuthInt {
		body, err := getBody()
		if err != nil {
			return nil, err
		}
		in.BodyHash, err = HashBodyReader(sess.alg, body)
		body.Close()
		if err != nil {
			return nil, err
		}
	}

	b := make([]byte, 0, 512)
	b = append(b, "Digest "...)
	switch {
	case sess.userhash:
		b = append(b, "username="...)
		b = appendQuoted(b, UserHash(sess.alg, t.Username, sess.realm))
	case sess.charset && !isASCII(t.Username):
		b = append(b, "username*="...)
		b = appendExtValue(b, t.Username)
	default:
		b = append(b, "username="...)
		b = appendQuoted(b, t.Username)
	}
	b = append(b, ", realm="...)
	b = appendQuoted(b, sess.realm)
	b = append(b, ", uri="...)
	b = appendQuoted(b, in.URI)
	b = append(b, ", algorithm="...)
	b = append(b, sess.alg.String()...)
	b = append(b, ", nonce="...)
	b = appendQuoted(b, nonce)
	if sess.qop != "" {
		b = append(b, ", nc="...)
		b = append(b, in.NC...)
		b = append(b, ", cnonce="...)
		b = appendQuoted(b, in.Cnonce)
		b = append(b, ", qop="...)
		b = append(b, sess.qop...)
	}
	b = append(b, ", response="...)
	b = appendQuoted(b, in.Response())
	if sess.hasOpaque {
		b = append(b, ", opaque="...)
		b = appendQuoted(b, sess.opaque)
	}
	if sess.userhash {
		b = append(b, ", userhash=true"...)
	}
	r.Header.Set("Authorization", string(b))
	return att, nil
}

// formatNC writes a nonce count as 8 lower-case hex digits.
func formatNC(nc uint32) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[nc&15]
		nc >>= 4
	}
	return string(b[:])
}

func newCnonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkInfo handles Authentication-Info: it checks rspauth and adopts
// nextnonce.
func (t *Transport) checkInfo(att *attempt, resp *http.Response) error {
	field := resp.Header.Get("Authentication-Info")
	if field == "" {
		return nil
	}
	var buf [8]Param
	params, err := parseParams(field, buf[:0])
	if err != nil {
		return nil // an unreadable Authentication-Info is ignored
	}
	if rsp, ok := getParam(params, "rspauth"); ok && !t.SkipRspauthCheck {
		in := att.in
		qop, ok := getParam(params, "qop")
		if !ok {
			qop = in.QOP
		}
		// The rspauth of auth-int covers the response body, which is not
		// read yet; only auth (and the RFC 2069 form) are checked.
		if qop != QOPAuthInt {
			in.QOP = qop
			if qop == "" {
				in.NC, in.Cnonce = "", ""
			}
			var wbuf [128]byte
			want := in.appendDigest(wbuf[:0], "")
			if !validHex(rsp, len(want)) || !equalHexFold(want, rsp) {
				return ErrRspauth
			}
		}
	}
	if next, ok := getParam(params, "nextnonce"); ok && next != "" {
		t.mu.Lock()
		if att.sess.nonce == att.nonce {
			att.sess.nonce, att.sess.nc = next, 0
		}
		t.mu.Unlock()
	}
	return nil
}

// clientChallenge is a parsed Digest challenge the transport can answer.
type clientChallenge struct {
	alg                  Algorithm
	realm, nonce, opaque string
	hasOpaque            bool
	qopAuth, qopAuthInt  bool
	stale                bool
	userhash, charset    bool
}

// pick returns the strongest challenge it can answer among the
// WWW-Authenticate field values; ties go to the server's order.
func (t *Transport) pick(fields []string) (clientChallenge, bool) {
	var best clientChallenge
	found := false
	for _, f := range fields {
		chals, err := ParseChallenges(f)
		if err != nil {
			continue
		}
		for i := range chals {
			c, ok := t.usable(&chals[i])
			if !ok {
				continue
			}
			if !found || c.alg.strength() > best.alg.strength() {
				best, found = c, true
			}
		}
	}
	return best, found
}

func (t *Transport) usable(ch *Challenge) (clientChallenge, bool) {
	var c clientChallenge
	if !strings.EqualFold(ch.Scheme, "Digest") || ch.Token68 != "" {
		return c, false
	}
	var ok bool
	if c.realm, ok = ch.Get("realm"); !ok {
		return c, false
	}
	if c.nonce, ok = ch.Get("nonce"); !ok || c.nonce == "" {
		return c, false
	}
	c.opaque, c.hasOpaque = ch.Get("opaque")
	c.alg = MD5
	if a, ok := ch.Get("algorithm"); ok {
		var err error
		if c.alg, err = ParseAlgorithm(a); err != nil {
			return c, false
		}
	}
	if len(t.Algorithms) > 0 {
		allowed := false
		for _, a := range t.Algorithms {
			allowed = allowed || a == c.alg
		}
		if !allowed {
			return c, false
		}
	}
	if q, ok := ch.Get("qop"); ok {
		for _, v := range strings.Split(q, ",") {
			switch strings.TrimSpace(v) {
			case QOPAuth:
				c.qopAuth = true
			case QOPAuthInt:
				c.qopAuthInt = true
			}
		}
		if !c.qopAuth && !c.qopAuthInt {
			return c, false
		}
	} else {
		if c.alg.Sess() {
			return c, false // -sess needs a cnonce, hence qop
		}
	}
	if v, ok := ch.Get("stale"); ok {
		c.stale = strings.EqualFold(v, "true")
	}
	if v, ok := ch.Get("userhash"); ok {
		c.userhash = strings.EqualFold(v, "true")
	}
	if v, ok := ch.Get("charset"); ok {
		c.charset = strings.EqualFold(v, "UTF-8")
	}
	return c, true
}

// ParseParams parses a field value that is a bare list of auth-params,
// such as Authentication-Info (RFC 7615 section 3).
func ParseParams(field string) ([]Param, error) {
	return parseParams(field, nil)
}

func parseParams(field string, buf []Param) ([]Param, error) {
	if len(field) > maxHeaderLen {
		return nil, malformed("header longer than %d bytes", maxHeaderLen)
	}
	p := parser{s: field}
	params, err := p.authParams(buf)
	if err != nil {
		return nil, err
	}
	p.skipListSeparators()
	if !p.eof() {
		return nil, malformed("unexpected %q after the parameters", p.rest())
	}
	return params, nil
}
