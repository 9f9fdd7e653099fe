package digest

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/internal/defaults"
)

// Reasons a Server refuses credentials. Result.Err wraps one of them. They
// are safe to log: none carries a secret. ErrUnknownUser and ErrResponse
// look the same to the client.
var (
	ErrNoCredentials = errors.New("no digest credentials")
	ErrRealm         = errors.New("wrong realm")
	ErrURI           = errors.New("uri parameter does not match the request target")
	ErrAlgorithm     = errors.New("algorithm not offered")
	ErrQOP           = errors.New("qop not offered")
	ErrOpaque        = errors.New("wrong opaque")
	ErrNonce         = errors.New("invalid nonce")
	ErrNonceExpired  = errors.New("nonce expired")
	ErrUserhash      = errors.New("userhash not offered")
	ErrBody          = errors.New("request body unavailable for auth-int")
	ErrUnknownUser   = errors.New("unknown user")
	ErrResponse      = errors.New("wrong response")
	ErrReplay        = errors.New("nonce count replayed")
	ErrNonceUnusable = errors.New("nonce count outside the replay window or nonce forgotten")
)

// ErrBodyTooLarge is returned by a Request.Body function when the body is
// longer than the limit it was given.
var ErrBodyTooLarge = errors.New("request body too large for auth-int")

// Defaults of ServerConfig.
const (
	DefaultNonceLifetime  = 5 * time.Minute
	DefaultMaxAuthIntBody = 1 << 20
	// clockSkew is how far in the future a nonce's issue time may lie: the
	// servers of a cluster share nonces but not clocks.
	clockSkew = time.Minute
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Realm is the protection space's realm. Required.
	Realm string
	// Algorithms are offered in this order of preference, one challenge
	// each. Required.
	Algorithms []Algorithm
	// QOP lists the offered qop values, "auth" and/or "auth-int". Default:
	// auth.
	QOP []string
	// Userhash offers userhash=true: clients may then send
	// H(username:realm) instead of the user name.
	Userhash bool
	// Domain, when set, is sent as the challenge's domain parameter (a
	// space-separated list of URIs of the protection space).
	Domain []string
	// NonceLifetime is how long a nonce is accepted. Default 5 minutes.
	// A client presenting an expired nonce with a correct response is told
	// stale=true and retries without asking the user again.
	NonceLifetime time.Duration
	// MaxAuthIntBody bounds the request body read for qop=auth-int; a
	// longer one is refused, and ChallengesFor then offers qop=auth
	// alone. Default 1 MiB.
	MaxAuthIntBody int64
	// Nonces issues and checks nonces. Required.
	Nonces *Nonces
	// Replay tracks nonce counts. Required.
	Replay *ReplayCache
	// Users holds the accounts. Required; its realm must be Realm.
	Users *Users
	// Throttle, when set, limits online guessing: a nonce's budget of
	// wrong responses, and backoff per user name and per client address
	// (see Throttle). Nil: no throttling.
	Throttle *Throttle
	// Clock is the time source (clock.Func wraps a function). Default:
	// the wall clock.
	Clock clock.Clock
}

// Server verifies Digest credentials (RFC 7616) and writes challenges. It
// is safe for concurrent use.
type Server struct {
	cfg        ServerConfig
	offered    [SHA512_256Sess + 1]bool
	qopAuth    bool
	qopAuthInt bool
	dummy      [SHA512_256 + 1]string // HA1 used for unknown users
	challenge  []string               // per algorithm: everything before the nonce
	// challengeAuth is challenge with qop="auth" alone, when auth-int is
	// offered too: the answer to a request whose body is too large for
	// auth-int (see ChallengesFor).
	challengeAuth []string
	opaque        string
}

// WithDefaults returns cfg with its unset fields set to their defaults:
// DefaultNonceLifetime, DefaultMaxAuthIntBody, qop auth, and the wall
// clock.
func (cfg ServerConfig) WithDefaults() ServerConfig {
	defaults.Positive(&cfg.NonceLifetime, DefaultNonceLifetime)
	defaults.Positive(&cfg.MaxAuthIntBody, DefaultMaxAuthIntBody)
	cfg.Clock = clock.OrReal(cfg.Clock)
	if len(cfg.QOP) == 0 {
		cfg.QOP = []string{QOPAuth}
	}
	return cfg
}

// Validate checks what cfg says, without the collaborators NewServer
// requires (Nonces, Replay, Users), so a configuration can be checked
// before they exist: a realm without control characters, at least one
// valid algorithm, none twice, known qop values, and, when Users is set,
// users of the same realm.
func (cfg ServerConfig) Validate() error {
	if cfg.Realm == "" {
		return errors.New("realm is required")
	}
	if !quotable(cfg.Realm) {
		return errors.New("realm has control characters")
	}
	if len(cfg.Algorithms) == 0 {
		return errors.New("no algorithm offered")
	}
	if cfg.Users != nil && cfg.Users.Realm() != cfg.Realm {
		return fmt.Errorf("users belong to realm %q, not %q", cfg.Users.Realm(), cfg.Realm)
	}
	for _, q := range cfg.QOP {
		if q != QOPAuth && q != QOPAuthInt {
			return fmt.Errorf("unknown qop %q (want auth or auth-int)", q)
		}
	}
	var offered [SHA512_256Sess + 1]bool
	for _, a := range cfg.Algorithms {
		if !a.Valid() {
			return fmt.Errorf("invalid algorithm %v", a)
		}
		if offered[a] {
			return fmt.Errorf("algorithm %s offered twice", a)
		}
		offered[a] = true
	}
	return nil
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Nonces == nil || cfg.Replay == nil || cfg.Users == nil {
		return nil, errors.New("nonces, replay cache and users are required")
	}
	cfg = cfg.WithDefaults()
	s := &Server{cfg: cfg, opaque: cfg.Nonces.Opaque()}
	for _, q := range cfg.QOP {
		s.qopAuth = s.qopAuth || q == QOPAuth
		s.qopAuthInt = s.qopAuthInt || q == QOPAuthInt
	}
	for _, a := range cfg.Algorithms {
		s.offered[a] = true
	}
	for _, b := range BaseAlgorithms {
		// A fixed, well-formed HA1 that matches no password anyone knows:
		// unknown users cost the same hashing as known ones.
		s.dummy[b] = HA1(b, "\x00unknown", cfg.Realm, cfg.Nonces.Opaque())
	}
	// qop list: "auth" first, since Python's urllib only looks for "auth"
	// as the first element of a comma-split list.
	var qops []string
	if s.qopAuth {
		qops = append(qops, QOPAuth)
	}
	if s.qopAuthInt {
		qops = append(qops, QOPAuthInt)
	}
	s.challenge = s.challengePrefixes(qops)
	if s.qopAuth && s.qopAuthInt {
		s.challengeAuth = s.challengePrefixes([]string{QOPAuth})
	}
	return s, nil
}

// challengePrefixes returns, per offered algorithm, the challenge up to
// its nonce, offering qops.
func (s *Server) challengePrefixes(qops []string) []string {
	var out []string
	for _, a := range s.cfg.Algorithms {
		b := []byte("Digest realm=")
		b = appendQuoted(b, s.cfg.Realm)
		if len(s.cfg.Domain) > 0 {
			b = append(b, ", domain="...)
			b = appendQuoted(b, strings.Join(s.cfg.Domain, " "))
		}
		b = append(b, ", qop="...)
		b = appendQuoted(b, strings.Join(qops, ","))
		b = append(b, ", algorithm="...)
		b = append(b, a.String()...)
		b = append(b, ", nonce="...)
		out = append(out, string(b))
	}
	return out
}

// Realm returns the server's realm.
func (s *Server) Realm() string { return s.cfg.Realm }

// Challenges returns the WWW-Authenticate field values to send with a 401:
// one per offered algorithm, in order of preference, sharing one fresh
// nonce. stale marks them stale=true (RFC 7616 section 3.3). A 401
// answering a refused Authenticate should carry ChallengesFor instead.
func (s *Server) Challenges(stale bool) []string {
	return s.challenges(s.challenge, stale, s.cfg.Nonces.Issue(s.cfg.Clock.Now()))
}

// ChallengesFor returns the challenges answering the refused Result res:
// those of Challenges(res.Stale), except that when res.Stale (a correct
// response on a nonce that expired or can no longer be used) their nonce
// is vouched for the user (Nonces.IssueFor). The client that sent it
// knows the password, and with the vouched nonce it can still prove so
// while its user or address is throttled (see Throttle). And when res
// refused qop=auth-int for a body longer than MaxAuthIntBody, they offer
// qop=auth alone (if it is offered at all): the same challenge again
// would tell the client nothing, and it would fail again.
func (s *Server) ChallengesFor(res Result) []string {
	now := s.cfg.Clock.Now()
	if res.Stale && res.vouch != "" {
		return s.challenges(s.challenge, true, s.cfg.Nonces.IssueFor(now, res.vouch))
	}
	prefixes := s.challenge
	if res.bodyTooLarge && s.challengeAuth != nil {
		prefixes = s.challengeAuth
	}
	return s.challenges(prefixes, res.Stale, s.cfg.Nonces.Issue(now))
}

// challenges returns the challenges with nonce, from prefixes (one per
// algorithm).
func (s *Server) challenges(prefixes []string, stale bool, nonce string) []string {
	out := make([]string, len(prefixes))
	for i, prefix := range prefixes {
		var buf [512]byte
		b := append(buf[:0], prefix...)
		b = append(b, '"')
		b = append(b, nonce...)
		b = append(b, `", opaque="`...)
		b = append(b, s.opaque...)
		b = append(b, '"')
		if stale {
			b = append(b, ", stale=true"...)
		}
		b = append(b, ", charset=UTF-8"...)
		if s.cfg.Userhash {
			b = append(b, ", userhash=true"...)
		}
		out[i] = string(b)
	}
	return out
}

// Request is what the server needs of an HTTP request.
type Request struct {
	// Method is the request method.
	Method string
	// URI is the request-target exactly as received (RequestURI), which
	// the credentials' uri parameter must designate.
	URI string
	// Scheme ("http" or "https") and Host (the Host header field or
	// :authority, as received) say which resource an origin-form URI
	// names, so that a uri parameter in absolute form
	// ("http://host/path"), which some clients send, can be matched
	// against it. Left empty, only the request-target's own spelling is
	// accepted.
	Scheme, Host string
	// Authorization is the Authorization header field value, "" if absent.
	Authorization string
	// Client is the client's IP address, without a port, for the
	// throttle's per-address count; "" (or anything that does not parse
	// as an address) leaves the request out of it.
	Client string
	// Body returns the request body, reading at most limit bytes; it
	// returns ErrBodyTooLarge beyond that. It is only called for
	// qop=auth-int; the caller must keep the body readable for the next
	// handler. Nil means no body.
	Body func(limit int64) ([]byte, error)
}

// Result is the outcome of Authenticate.
type Result struct {
	// OK is true when the credentials are valid.
	OK bool
	// Username is the authenticated user (resolved from the userhash if
	// one was sent). Empty unless OK.
	Username string
	// Algorithm is the algorithm of the credentials, when they named a
	// valid one.
	Algorithm Algorithm
	// Stale asks for stale=true in the new challenges: the client knows the
	// password but its nonce can no longer be used.
	Stale bool
	// Err says why the credentials were refused; it is safe to log.
	Err error
	// RetryAfter is, for a refusal by the throttle (Err wraps
	// ErrThrottled), how long until the user or address may try again.
	RetryAfter time.Duration
	// AuthenticationInfo is the Authentication-Info field value to send
	// on success, with rspauth, and nextnonce once the nonce has lived
	// half its lifetime.
	AuthenticationInfo string

	// bodyTooLarge is set when qop=auth-int was refused for a request
	// body longer than MaxAuthIntBody: ChallengesFor then offers qop=auth
	// alone, so that the client can tell that its password was not the
	// problem and retry with auth.
	bodyTooLarge bool
	// vouch is, for a Stale result, the account (name and HA1s, see
	// Users) whose correct response it answers: ChallengesFor vouches the
	// new nonce for that account.
	vouch string
}

func fail(err error) Result { return Result{Err: err} }

// Authenticate verifies the credentials of r. Whatever the input, it
// returns a Result and never panics; a refused Result is answered with a
// 401 carrying s.ChallengesFor(res).
//
// The order of the checks is chosen so that no answer reveals a secret:
// the public parameters (realm, uri, algorithm, qop, opaque, nonce MAC) are
// checked first; then the response is computed for the user, or for a
// dummy HA1 when the user is unknown, and compared in constant time; only
// a correct response learns that its nonce expired (stale=true) or that
// its count was replayed. With a Throttle, a throttled user or client
// address and a nonce that has used up its budget of wrong responses are
// refused after the public checks and before the response is computed,
// and every wrong response (or unknown user) is counted; credentials
// whose nonce proves an earlier correct response for their user pass the
// user's and the address's backoff (see Throttle).
func (s *Server) Authenticate(r Request) Result {
	if r.Authorization == "" {
		return fail(ErrNoCredentials)
	}
	c, err := parseCreds(r.Authorization)
	if err != nil {
		return fail(err)
	}
	if c.realm != s.cfg.Realm {
		return fail(ErrRealm)
	}
	alg := MD5 // RFC 7616 section 3.3: absent means MD5
	if c.has&hasAlgorithm != 0 {
		if alg, err = ParseAlgorithm(c.algorithm); err != nil {
			return fail(ErrAlgorithm)
		}
	}
	if !s.offered[alg] {
		return Result{Err: ErrAlgorithm, Algorithm: alg}
	}
	res := Result{Algorithm: alg}
	// RFC 7616 requires qop; the RFC 2069 form without it is refused.
	switch {
	case c.qop == QOPAuth && s.qopAuth, c.qop == QOPAuthInt && s.qopAuthInt:
	default:
		res.Err = ErrQOP
		return res
	}
	nc, ok := parseNC(c.nc)
	if !ok || c.cnonce == "" {
		res.Err = malformed("nc must be 8 hex digits other than 00000000, with a cnonce")
		return res
	}
	if !uriMatches(c.uri, &r) {
		res.Err = ErrURI
		return res
	}
	if c.has&hasOpaque != 0 && c.opaque != s.opaque {
		res.Err = ErrOpaque
		return res
	}
	if !validHex(c.response, alg.HexLen()) {
		res.Err = malformed("response is not a %s digest", alg)
		return res
	}
	id, issued, ok := s.cfg.Nonces.Check(c.nonce)
	if !ok {
		res.Err = ErrNonce
		return res
	}

	// Who is it? Resolve the name, then take the HA1 or the dummy.
	var name string
	known := false
	switch {
	case c.userhash:
		if !s.cfg.Userhash {
			res.Err = ErrUserhash
			return res
		}
		if c.has&hasUsernameStar != 0 {
			res.Err = malformed("username* with userhash")
			return res
		}
		name, known = s.cfg.Users.LookupHash(c.username, alg)
	case c.has&hasUsernameStar != 0:
		if name, err = decodeExtValue(c.usernameStar); err != nil {
			res.Err = err
			return res
		}
		known = true
	default:
		name, known = c.username, true
	}
	ha1 := s.dummy[alg.Base()]
	var account string // the identity proofs are bound to (Users)
	if known {
		if h, a, ok := s.cfg.Users.lookupAccount(name, alg); ok {
			ha1, account = h, a
		} else {
			known = false
		}
	}

	// Is this user, client or nonce throttled? Decided before the
	// response is checked, so a refusal says nothing about the password.
	now := s.cfg.Clock.Now()
	t := s.cfg.Throttle
	var keys throttleKeys
	haveKeys, passed := false, false
	if t != nil && t.tracked.Load() != 0 {
		user := throttleUser(name, c.username)
		keys, haveKeys = t.keys(user, r.Client, &id), true
		if wait, err := t.check(keys, now); err != nil {
			// A nonce that proves an earlier correct response for this
			// user, and took no wrong response since, passes the user's
			// and the address's backoff (see Throttle). The proof is
			// looked up for unknown names too, which never pass, so that
			// the time taken does not tell which names exist.
			proof := account
			if !known {
				proof = user
			}
			pass := (err == ErrUserThrottled || err == ErrClientThrottled) && s.proven(&id, proof)
			if !pass || !known || !t.nonceClean(keys, now) {
				res.Err, res.RetryAfter = err, wait
				return res
			}
			passed = true
		}
	}

	in := Input{
		Algorithm: alg, HA1: ha1, Nonce: c.nonce, Cnonce: c.cnonce, NC: c.nc,
		QOP: c.qop, Method: r.Method, URI: c.uri,
	}
	if c.qop == QOPAuthInt {
		var body []byte
		if r.Body != nil {
			if body, err = r.Body(s.cfg.MaxAuthIntBody); err != nil {
				res.Err = fmt.Errorf("%w: %v", ErrBody, err)
				res.bodyTooLarge = errors.Is(err, ErrBodyTooLarge)
				return res
			}
		}
		in.BodyHash = HashBody(alg, body)
	}
	var want [128]byte
	expected := in.appendDigest(want[:0], r.Method)
	if !equalHexFold(expected, c.response) || !known {
		if !known {
			res.Err = ErrUnknownUser
		} else {
			res.Err = ErrResponse
		}
		if t != nil {
			if !haveKeys {
				keys = t.keys(throttleUser(name, c.username), r.Client, &id)
			}
			// A wrong response on a nonce that passed the backoff uses
			// the nonce up: it is no guessing channel.
			t.fail(keys, now, passed)
		}
		return res
	}

	// The client knows the password. Is the nonce still usable? If not,
	// the new challenge's nonce is vouched for the user (ChallengesFor).
	expires := issued.Add(s.cfg.NonceLifetime)
	if now.After(expires) || issued.After(now.Add(clockSkew)) {
		res.Err, res.Stale, res.vouch = ErrNonceExpired, true, account
		return res
	}
	switch s.cfg.Replay.CheckFor(id, expires, nc, now, account) {
	case Accepted:
	case Replayed:
		res.Err = ErrReplay
		return res
	default: // TooOld, Forgotten
		res.Err, res.Stale, res.vouch = ErrNonceUnusable, true, account
		return res
	}

	res.OK, res.Username, res.Err = true, name, nil
	res.AuthenticationInfo = s.authenticationInfo(&in, account, now.Sub(issued) > s.cfg.NonceLifetime/2)
	return res
}

// proven reports whether nonce id shows that its holder sent a correct
// response for account before: the nonce authenticated account, or the
// server vouched it for account after such a response. Proofs are bound
// to the account (the name and its HA1s), not to the name alone: the
// providers of one realm and nonce key share nonces and the replay cache,
// and another provider's user of the same name must not pass this one's
// backoff.
func (s *Server) proven(id *NonceID, account string) bool {
	return s.cfg.Nonces.VouchedFor(id, account) || s.cfg.Replay.Authenticated(id, account)
}

// throttleUser is the name the throttle counts failures under: the user
// name, or for a userhash that matches no user, the hash as sent (so that
// unknown names are counted like known ones).
func throttleUser(name, sent string) string {
	if name == "" {
		return sent
	}
	return name
}

// authenticationInfo builds the Authentication-Info value (RFC 7616
// section 3.5). rspauth covers the response's A2 = ":" uri; for an
// auth-int request it would also cover the response body, which a handler
// in front of the body cannot know, so the server answers with qop=auth,
// as the RFC allows ("SHOULD use the same value"). The nextnonce, sent
// when renew is set, is vouched for account (see Throttle).
func (s *Server) authenticationInfo(in *Input, account string, renew bool) string {
	in.QOP, in.BodyHash = QOPAuth, ""
	var buf [512]byte
	b := append(buf[:0], "rspauth=\""...)
	b = in.appendDigest(b, "")
	b = append(b, `", qop=auth, nc=`...)
	b = append(b, in.NC...)
	b = append(b, ", cnonce="...)
	b = appendQuoted(b, in.Cnonce)
	if renew {
		b = append(b, `, nextnonce="`...)
		b = append(b, s.cfg.Nonces.IssueFor(s.cfg.Clock.Now(), account)...)
		b = append(b, '"')
	}
	return string(b)
}

// parseNC parses an 8-hex-digit nonce count; 0 is invalid.
func parseNC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	var n uint32
	for i := 0; i < 8; i++ {
		d, ok := unhex(s[i])
		if !ok {
			return 0, false
		}
		n = n<<4 | uint32(d)
	}
	return n, n != 0
}

func validHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	var acc byte
	for i := 0; i < len(s); i++ {
		acc |= hexValues[s[i]] // 0xff for a non-digit, below 16 otherwise
	}
	return acc < 16
}

// equalHexFold compares a lower-case hex digest with a hex string of any
// case in constant time. given must already be valid hex of the same
// length (checked before, on public data).
func equalHexFold(expected []byte, given string) bool {
	if len(expected) != len(given) {
		return false
	}
	var diff byte
	for i := 0; i < len(given); i++ {
		// |0x20 maps A-F to a-f and leaves 0-9 and a-f alone.
		diff |= expected[i] ^ (given[i] | 0x20)
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}

// uriMatches reports whether the credentials' uri parameter designates
// the resource of the request-target, as RFC 7616 section 3.4.6 has the
// server "assure that the resource designated by the uri parameter is
// the same as the resource specified in the Request-Line". The usual case
// is the request-target itself, byte for byte. Some clients (Jetty's
// before 9.4.9, okhttp-digest, Node's request) send the absolute URI
// ("http://host/path?query") for an origin-form request-target, and a
// request-target may itself be in absolute form (RFC 9112 section 3.2.2):
// then the scheme, the authority (host without case, a default port
// written or not) and the path and query, byte for byte, must all be the
// request's. The RFC suggests 400 for a mismatch; Authenticate refuses it
// like any other bad credentials (401 with a fresh challenge).
func uriMatches(param string, r *Request) bool {
	if param == r.URI {
		return true
	}
	tScheme, tAuth, tPath, ok := splitAbsoluteURI(r.URI)
	if !ok {
		tScheme, tAuth, tPath = strings.ToLower(r.Scheme), r.Host, r.URI
	}
	pScheme, pAuth, pPath, ok := splitAbsoluteURI(param)
	if !ok {
		// An origin-form uri for an absolute-form request-target: the
		// request-target's authority is the request's host (RFC 9112
		// section 3.2.2).
		return param == tPath
	}
	if tScheme == "" || tAuth == "" || pScheme != tScheme || pPath != tPath {
		return false
	}
	return normalAuthority(pAuth, pScheme) == normalAuthority(tAuth, tScheme)
}

// splitAbsoluteURI splits an http or https URI in absolute form into its
// scheme (lower case), authority and origin-form rest (path and query,
// "/" for an empty path). ok is false for anything else: another form or
// scheme, user information, a fragment.
func splitAbsoluteURI(s string) (scheme, authority, rest string, ok bool) {
	switch {
	case len(s) > len("http://") && strings.EqualFold(s[:len("http://")], "http://"):
		scheme, s = "http", s[len("http://"):]
	case len(s) > len("https://") && strings.EqualFold(s[:len("https://")], "https://"):
		scheme, s = "https", s[len("https://"):]
	default:
		return "", "", "", false
	}
	end := strings.IndexAny(s, "/?")
	if end < 0 {
		end = len(s)
	}
	authority, rest = s[:end], s[end:]
	if authority == "" || strings.ContainsAny(authority, "@#") || strings.IndexByte(rest, '#') >= 0 {
		return "", "", "", false
	}
	if rest == "" || rest[0] == '?' {
		rest = "/" + rest
	}
	return scheme, authority, rest, true
}

// normalAuthority returns an authority in lower case, without the
// scheme's default port.
func normalAuthority(a, scheme string) string {
	a = strings.ToLower(a)
	def := ":80"
	if scheme == "https" {
		def = ":443"
	}
	a = strings.TrimSuffix(a, def)
	return strings.TrimSuffix(a, ":") // an empty port is the default one too
}
