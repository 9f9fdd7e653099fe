package digestauth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/cfparse"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/earlybody"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/metricsreg"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/digest"
)

func init() {
	caddy.RegisterModule(HTTPDigestAuth{})
}

// digestKeyStorageKey is where a generated nonce key is kept in Caddy's
// storage, so that every instance of a cluster sharing the storage uses
// the same key.
const digestKeyStorageKey = "csb/digest/nonce_key"

// digestPool holds each realm's replay cache across config reloads, keyed
// by realm and a hash of the nonce key: a reload keeps the nonce counts
// already seen, so clients keep their nonces and replays stay refused.
var digestPool = caddy.NewUsagePool()

// HTTPDigestAuth is the http.authentication.providers.http_digest module:
// HTTP Digest access authentication (RFC 7616) for Caddy's authentication
// handler, beside http_basic. On success it sets {http.auth.user.id} to
// the user name and {http.auth.user.algorithm} to the Digest algorithm
// used, and sends Authentication-Info (rspauth; nextnonce once a nonce
// has lived half its lifetime). Otherwise it adds one WWW-Authenticate
// challenge per algorithm and the authentication handler answers 401,
// which handle_errors can handle.
//
// Every kind of bad credentials (a malformed Authorization header, another
// realm, a uri parameter naming another resource than the
// request-target, an algorithm or qop not offered, a replayed nonce
// count, an expired nonce) gets a 401 with fresh challenges, never a
// 500; an expired nonce or one no longer usable gets stale=true when the
// response was otherwise correct, so the client retries without asking
// its user again. The reason is logged at debug level; no password, HA1
// or response value is ever logged.
//
// Credentials are HA1 values (hex H(user:realm:password)) per hash
// function, never plaintext passwords. "caddy digest-hash" prints them.
// An HA1 lets anyone log in to its realm, so keep it out of the JSON
// configuration, which Caddy logs at debug level: read Apache htdigest
// files (HTDigestFiles), or give {file.*} or {env.*} placeholders as
// values. Provision warns about HA1 values written in the configuration.
//
// Online guessing is throttled (DigestThrottle): a wrong response uses up
// its nonce, and user names and client addresses with repeated failures
// are refused for a growing backoff, with 401 and Retry-After, except for
// clients whose nonce proves they knew the password before.
//
// A refusal does not wait long for the request body: up to 256 KiB of it
// is read (and handed on unchanged, should another provider of the
// handler let the request in), waiting at most 1s for each part and 10s
// in all, so the 401 arrives intact; a body that stops coming is given
// up, and the connection (HTTP/1.1) or stream (HTTP/2) is closed after
// the 401.
//
// Nonces are stateless (an issue time and an HMAC), so every instance of
// a cluster accepts every other's nonces when they share the nonce key:
// set nonce_key, or let the first instance generate one and store it in
// Caddy's storage (csb/digest/nonce_key), which a cluster shares. The
// replay cache is in memory, per instance: it survives config reloads;
// after a restart, nonces issued before it are answered stale=true (one
// transparent round trip for clients) so that no count used before the
// restart can be replayed. Replay protection does not span instances: a
// count used at one instance is not known to another, so a cluster
// that needs it should route a client to one instance (sticky sessions).
//
// Composition: with other providers in the same authentication handler,
// any provider's credentials get in. On a 401, though, Caddy's handler
// sends the challenge headers of only one failing provider (chosen by map
// order), so a client that speaks only Digest may be shown a Basic
// challenge; use separate routes (or a separate handler) when both
// schemes must be advertised reliably.
//
// Client notes: Python's urllib.request.HTTPDigestAuthHandler reads only
// the first WWW-Authenticate field and only knows MD5 (and SHA-1, which RFC
// 7616 does not define), so a route serving it must list MD5 first. curl
// uses the first Digest challenge too. Browsers and this module's own
// client pick the strongest they support.
type HTTPDigestAuth struct {
	// Realm is the protection space's name, shown by browsers and part of
	// every HA1. Default: "restricted".
	Realm string `json:"realm,omitempty"`

	// Algorithms are the Digest algorithms offered, in order of
	// preference, one challenge each: SHA-256, SHA-512-256, MD5 and their
	// -sess variants. Every algorithm offered needs at least one user
	// with an HA1 of its hash function. Default: the hash functions some
	// user has an HA1 for, strongest first (SHA-512-256, SHA-256, MD5).
	Algorithms []string `json:"algorithms,omitempty"`

	// QOP lists the qop values offered: "auth" and/or "auth-int".
	// Default: both. With auth-int the request body is read (up to
	// auth_int_max_body) to check its digest, and handed on unchanged.
	QOP []string `json:"qop,omitempty"`

	// Userhash offers userhash=true, letting clients send
	// H(user:realm) instead of the user name. Default false.
	Userhash bool `json:"userhash,omitempty"`

	// NonceLifetime is how long a nonce may be used. Default 5m.
	NonceLifetime caddy.Duration `json:"nonce_lifetime,omitempty"`

	// NonceKey is the secret (at least 16 bytes) nonces are authenticated
	// with; placeholders such as {env.CSB_DIGEST_KEY} are expanded. Every
	// instance of a cluster must have the same one. Default: a random key
	// generated once and kept in Caddy's storage at
	// csb/digest/nonce_key.
	NonceKey string `json:"nonce_key,omitempty"`

	// ReplayWindow is how many nonce counts below the highest one seen
	// are still accepted once, for clients that send requests out of
	// order. Default 128; at most 4096.
	ReplayWindow int `json:"replay_window,omitempty"`

	// MaxNonces bounds the nonces whose counts are remembered (only nonces
	// that authenticated a request are). The least recently used are
	// forgotten beyond it; their clients get stale=true and a new nonce.
	// Default 65536.
	MaxNonces int `json:"max_nonces,omitempty"`

	// AuthIntMaxBody bounds, in bytes, the request body read to check a
	// qop=auth-int digest. Credentials with qop=auth-int for a longer body
	// are refused with a 401 whose challenges offer qop=auth alone (when
	// auth is offered), so that the client retries with auth. Default
	// 1 MiB.
	AuthIntMaxBody int64 `json:"auth_int_max_body,omitempty"`

	// Accounts are the users and their HA1 values.
	Accounts []DigestAccount `json:"accounts,omitempty"`

	// HTDigestFiles are Apache htdigest files ("user:realm:HA1" lines,
	// MD5; lines of other realms are skipped). A four-field line
	// "user:realm:SHA-256:HA1" (or SHA-512-256) gives another hash
	// function's HA1; see "caddy digest-hash --format htdigest".
	HTDigestFiles []string `json:"htdigest_files,omitempty"`

	// Throttle slows down online password guessing. It is on by default
	// (a nil Throttle means the defaults); see DigestThrottle.
	Throttle *DigestThrottle `json:"throttle,omitempty"`

	server  *digest.Server
	clock   clock.Clock // the server's clock; nil: the wall clock (tests set it)
	authInt bool        // qop auth-int is offered: requests may need their body
	poolKey string
	logger  *zap.Logger
}

// DigestAccount is one user of HTTPDigestAuth.
type DigestAccount struct {
	// Username is the user name, as clients send it (UTF-8).
	Username string `json:"username"`
	// HA1 maps a hash function name ("MD5", "SHA-256", "SHA-512-256") to
	// the hex H(username:realm:password) of that function. A -sess
	// algorithm uses its base function's HA1. Placeholders are expanded
	// at provision time: give {file.<path>} or {env.<NAME>} rather than
	// the value, which Caddy would otherwise log with its configuration
	// at debug level (Provision warns about literal values).
	HA1 map[string]string `json:"ha1"`
}

// DigestThrottle configures how HTTPDigestAuth slows down online password
// guessing. Failures (a wrong response, an unknown user) are counted per
// nonce, per user name and per client address (an IPv4 address or the
// /64 of an IPv6 address, after trusted_proxies). A nonce that has taken
// its budget of wrong responses is refused; a user name or address with
// more failures than its allowance is refused for a backoff that starts
// at Backoff and doubles with each further failure, up to MaxBackoff.
// These refusals are made before the response is checked, so they reveal
// nothing about the password, and they do not count as failures.
//
// A throttled request is answered like any refusal: 401 with fresh
// challenges (so handle_errors and other authentication providers of the
// same handler work as usual), plus a Retry-After header giving the
// seconds left. The counts are kept per realm across config reloads, in
// memory, per instance: in a cluster each instance counts its own
// failures, so a guesser spreading its requests over n instances gets n
// times the allowance.
//
// The backoff does not lock out a client that knows the password: a
// request whose nonce authenticated its user before, or was handed to it
// after a correct response for that user (nextnonce, or the nonce of a
// stale=true challenge), passes the user's and the address's backoff, so
// a consumer keeps working while someone hammers its name. Nobody gets
// such a nonce without the password, and a wrong response on one counts
// as a failure and uses the nonce up, so guessers gain nothing (see
// digest.Throttle). A client starting afresh (a new process) has no such
// nonce: while its name is under attack it waits like a guesser. The
// defaults let a user mistype several times without any wait.
type DigestThrottle struct {
	// Off disables throttling. Default false.
	Off bool `json:"off,omitempty"`

	// NonceFailures is how many wrong responses one nonce may take before
	// it is refused (401 with a fresh nonce, without stale=true). Default
	// 1: a wrong response uses up its nonce; the 401 answering it carries
	// a new one, so honest clients lose nothing.
	NonceFailures int `json:"nonce_failures,omitempty"`

	// UserFailures is how many failures a user name may have before it is
	// throttled. Unknown names are counted like known ones. Default 5.
	UserFailures int `json:"user_failures,omitempty"`

	// ClientFailures is how many failures a client address may have
	// before it is throttled. Default 10.
	ClientFailures int `json:"client_failures,omitempty"`

	// Backoff is how long a user name or address is refused after the
	// first failure beyond its allowance; each further failure doubles
	// it. Default 1s.
	Backoff caddy.Duration `json:"backoff,omitempty"`

	// MaxBackoff caps the backoff. Default 5m (or Backoff, if longer).
	MaxBackoff caddy.Duration `json:"max_backoff,omitempty"`

	// ForgetAfter is how long after its last failure a user name, address
	// or nonce is forgotten, its count starting again from zero. At least
	// MaxBackoff. Default 15m (or MaxBackoff, if longer).
	ForgetAfter caddy.Duration `json:"forget_after,omitempty"`

	// MaxTracked bounds the user names, the addresses and the nonces
	// tracked (each; about 64 bytes an entry): beyond it, one with few
	// failures whose last failure is among the oldest is forgotten, so
	// that failing once for each of many new names does not wipe the
	// count of a user under attack. Default 65536.
	MaxTracked int `json:"max_tracked,omitempty"`
}

// engine returns the throttle's limits for broker/digest.
func (t *DigestThrottle) engine() digest.ThrottleConfig {
	if t == nil {
		return digest.ThrottleConfig{}
	}
	return digest.ThrottleConfig{
		NonceFailures:  t.NonceFailures,
		UserFailures:   t.UserFailures,
		ClientFailures: t.ClientFailures,
		Backoff:        time.Duration(t.Backoff),
		MaxBackoff:     time.Duration(t.MaxBackoff),
		ForgetAfter:    time.Duration(t.ForgetAfter),
		MaxTracked:     t.MaxTracked,
	}
}

// CaddyModule returns the Caddy module information.
func (HTTPDigestAuth) CaddyModule() caddy.ModuleInfo {
	return cfparse.Module[HTTPDigestAuth]("http.authentication.providers.http_digest")
}

// digestState is what digestPool keeps per realm and key: the nonce
// counts seen and the throttle's failure counts.
type digestState struct {
	replay   *digest.ReplayCache
	throttle *digest.Throttle
}

// Destruct forgets the counts when no configuration uses them.
func (s *digestState) Destruct() error {
	s.replay.Clear()
	s.throttle.Clear()
	return nil
}

// Provision loads the users, sets up the nonce key and the replay cache.
func (d *HTTPDigestAuth) Provision(ctx caddy.Context) error {
	d.logger = ctx.Logger()
	if err := metricsreg.Register(ctx.GetMetricsRegistry(), digestMetrics.failures, digestMetrics.throttled); err != nil {
		return fmt.Errorf("registering metrics: %v", err)
	}
	repl := caddy.NewReplacer()
	realm := repl.ReplaceKnown(d.Realm, "")
	if realm == "" {
		realm = "restricted"
	}

	users := digest.NewUsers(realm)
	for _, acct := range d.Accounts {
		name := repl.ReplaceKnown(acct.Username, "")
		if len(acct.HA1) == 0 {
			return fmt.Errorf("digest user %q: no HA1 given", name)
		}
		for algName, ha1 := range acct.HA1 {
			alg, err := digest.ParseAlgorithm(algName)
			if err != nil {
				return fmt.Errorf("digest user %q: %v", name, err)
			}
			if alg.Sess() {
				return fmt.Errorf("digest user %q: give the HA1 of %s, which %s uses", name, alg.Base(), alg)
			}
			if err := users.Add(name, alg, repl.ReplaceKnown(ha1, "")); err != nil {
				return fmt.Errorf("digest %v", err)
			}
		}
	}
	for _, file := range d.HTDigestFiles {
		file = repl.ReplaceKnown(file, "")
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("digest htdigest file: %v", err)
		}
		n, err := users.LoadHTDigest(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("digest htdigest file %s: %v", file, err)
		}
		if n == 0 {
			d.logger.Warn("htdigest file has no user of this realm", zap.String("file", file), zap.String("realm", realm))
		}
	}
	if users.Len() == 0 {
		return errors.New("digest: no users (give user lines or an htdigest file)")
	}
	if inline := inlineHA1Users(d.Accounts, repl); len(inline) > 0 {
		d.logger.Warn("digest HA1 values are written in the configuration, which Caddy logs at debug level; "+
			"move them to an htdigest file or a {file.*} or {env.*} placeholder",
			zap.String("realm", realm), zap.Strings("users", inline))
	}

	var algs []digest.Algorithm
	for _, name := range d.Algorithms {
		alg, err := digest.ParseAlgorithm(name)
		if err != nil {
			return fmt.Errorf("digest: %v", err)
		}
		algs = append(algs, alg)
	}
	if len(algs) == 0 {
		for _, b := range digest.BaseAlgorithms {
			if users.Has(b) {
				algs = append(algs, b)
			}
		}
	}
	for _, a := range algs {
		if !users.Has(a) {
			return fmt.Errorf("digest: algorithm %s is offered but no user has a %s HA1", a, a.Base())
		}
	}
	qop := d.QOP
	if len(qop) == 0 {
		qop = []string{digest.QOPAuth, digest.QOPAuthInt}
	}
	d.authInt = slices.Contains(qop, digest.QOPAuthInt)

	key, err := d.nonceKey(ctx, repl)
	if err != nil {
		return err
	}
	nonces, err := digest.NewNonces(key, realm)
	if err != nil {
		return fmt.Errorf("digest nonce_key: %v", err)
	}
	sum := sha256.Sum256(append([]byte("caddy-csb digest pool\x00"+realm+"\x00"), key...))
	d.poolKey = "digest\x00" + realm + "\x00" + hex.EncodeToString(sum[:16])
	val, loaded, err := digestPool.LoadOrNew(d.poolKey, func() (caddy.Destructor, error) {
		rc := digest.NewReplayCache(d.MaxNonces, d.ReplayWindow)
		// Counts seen by an earlier process are lost: nonces issued before
		// now must be renewed (stale=true) rather than trusted.
		rc.ForgetBefore(time.Now())
		th, err := digest.NewThrottle(d.Throttle.engine())
		if err != nil {
			return nil, fmt.Errorf("digest throttle: %v", err)
		}
		return &digestState{replay: rc, throttle: th}, nil
	})
	if err != nil {
		return err
	}
	state := val.(*digestState)
	if loaded {
		state.replay.Configure(d.MaxNonces, d.ReplayWindow)
		// A reload keeps the failure counts and takes the new limits.
		if err := state.throttle.Configure(d.Throttle.engine()); err != nil {
			return fmt.Errorf("digest throttle: %v", err)
		}
	}
	var throttle *digest.Throttle
	if d.Throttle == nil || !d.Throttle.Off {
		throttle = state.throttle
	}

	d.server, err = digest.NewServer(digest.ServerConfig{
		Realm:          realm,
		Algorithms:     algs,
		QOP:            qop,
		Userhash:       d.Userhash,
		NonceLifetime:  time.Duration(d.NonceLifetime),
		MaxAuthIntBody: d.AuthIntMaxBody,
		Nonces:         nonces,
		Replay:         state.replay,
		Users:          users,
		Throttle:       throttle,
		Clock:          d.clock,
	})
	if err != nil {
		return fmt.Errorf("digest: %v", err)
	}
	return nil
}

// inlineHA1Users returns the names of the accounts with an HA1 written
// in the configuration as a literal value rather than a placeholder
// ({file.*}, {env.*}): Caddy logs the configuration at debug level, so
// those values reach the log.
func inlineHA1Users(accounts []DigestAccount, repl *caddy.Replacer) []string {
	var names []string
	for _, acct := range accounts {
		for _, ha1 := range acct.HA1 {
			if !strings.Contains(ha1, "{") {
				names = append(names, repl.ReplaceKnown(acct.Username, ""))
				break
			}
		}
	}
	return names
}

// nonceKey returns the configured key, or the one in storage, generating
// and storing it the first time (under the storage lock, so that the
// instances of a cluster starting together agree).
func (d *HTTPDigestAuth) nonceKey(ctx caddy.Context, repl *caddy.Replacer) ([]byte, error) {
	if d.NonceKey != "" {
		key := repl.ReplaceKnown(d.NonceKey, "")
		if len(key) < digest.MinKeyLen {
			return nil, fmt.Errorf("digest nonce_key: must be at least %d bytes after expanding placeholders", digest.MinKeyLen)
		}
		return []byte(key), nil
	}
	storage := ctx.Storage()
	if err := storage.Lock(ctx, digestKeyStorageKey); err != nil {
		return nil, fmt.Errorf("digest nonce key: locking storage: %v", err)
	}
	defer func() { _ = storage.Unlock(ctx, digestKeyStorageKey) }()
	data, err := storage.Load(ctx, digestKeyStorageKey)
	if err == nil {
		key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
		if err != nil || len(key) < digest.MinKeyLen {
			return nil, fmt.Errorf("digest nonce key in storage (%s) is not valid; delete it to generate a new one", digestKeyStorageKey)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("digest nonce key: loading from storage: %v", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := storage.Store(ctx, digestKeyStorageKey, []byte(base64.StdEncoding.EncodeToString(key))); err != nil {
		return nil, fmt.Errorf("digest nonce key: storing: %v", err)
	}
	d.logger.Info("generated a digest nonce key and stored it", zap.String("storage_key", digestKeyStorageKey))
	return key, nil
}

// Validate checks the configuration's ranges.
func (d *HTTPDigestAuth) Validate() error {
	switch {
	case d.ReplayWindow < 0 || d.ReplayWindow > digest.MaxReplayWindow:
		return fmt.Errorf("digest replay_window %d: must be between 1 and %d", d.ReplayWindow, digest.MaxReplayWindow)
	case d.MaxNonces < 0:
		return fmt.Errorf("digest max_nonces %d: must be positive", d.MaxNonces)
	case d.NonceLifetime < 0:
		return errors.New("digest nonce_lifetime: must be positive")
	case d.AuthIntMaxBody < 0:
		return errors.New("digest auth_int_max_body: must be positive")
	}
	if err := d.Throttle.engine().Validate(); err != nil {
		return fmt.Errorf("digest %v", err)
	}
	for _, q := range d.QOP {
		if q != digest.QOPAuth && q != digest.QOPAuthInt {
			return fmt.Errorf("digest qop %q: want auth or auth-int", q)
		}
	}
	return nil
}

// Cleanup releases the replay cache.
func (d *HTTPDigestAuth) Cleanup() error {
	if d.poolKey != "" {
		_, err := digestPool.Delete(d.poolKey)
		return err
	}
	return nil
}

// Authenticate implements caddyauth.Authenticator.
func (d *HTTPDigestAuth) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	method, target := requestLine(r)
	req := digest.Request{
		Method:        method,
		URI:           target,
		Scheme:        "http",
		Host:          r.Host,
		Authorization: r.Header.Get("Authorization"),
		Client:        clientIP(r),
	}
	if r.TLS != nil {
		req.Scheme = "https"
	}
	if d.authInt {
		// Only qop=auth-int reads the body; the closure is not made for
		// routes that do not offer it.
		req.Body = bodyReader(r)
	}
	res := d.server.Authenticate(req)
	if res.OK {
		w.Header()["Authentication-Info"] = []string{res.AuthenticationInfo}
		// {http.auth.user.algorithm}, set here rather than through
		// User.Metadata: caddyauth would build the placeholder's name and
		// box its value anew for every request.
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			repl.Set(algorithmPlaceholder, algorithmValues[res.Algorithm])
		}
		return caddyauth.User{ID: res.Username}, true, nil
	}
	digestMetrics.observeFailure(res.Err)
	if c := d.logger.Check(zapcore.DebugLevel, "digest authentication refused"); c != nil {
		c.Write(zap.String("reason", res.Err.Error()), zap.Bool("stale", res.Stale),
			zap.String("remote_addr", r.RemoteAddr))
	}
	for _, ch := range d.server.ChallengesFor(res) {
		w.Header().Add("WWW-Authenticate", ch)
	}
	if res.RetryAfter > 0 {
		// Seconds, rounded up: a client retrying then is let through.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((res.RetryAfter+time.Second-1)/time.Second), 10))
	}
	// The 401 goes out before the next handler would read the body, and
	// must not wait for a client that stalls its body.
	earlybody.ReadUnread(w, r, true)
	return caddyauth.User{}, false, nil
}

// algorithmPlaceholder is the placeholder naming the algorithm of the
// credentials a request was let in with.
const algorithmPlaceholder = "http.auth.user.algorithm"

// algorithmValues holds {http.auth.user.algorithm}'s value per algorithm,
// boxed once: the replacer takes an any, and boxing a string per request
// would be garbage on the hot path.
var algorithmValues = func() (v [digest.SHA512_256Sess + 1]any) {
	for _, a := range digest.Algorithms {
		v[a] = a.String()
	}
	return v
}()

// requestLine returns the method and the request-target as the client
// sent them, before any rewrite: the response covers that method, and the
// Digest uri parameter must equal that target. Handlers that run before
// authentication change them ("method" sets r.Method, "rewrite" and "uri"
// set r.RequestURI), and the client cannot know.
func requestLine(r *http.Request) (method, target string) {
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.RequestURI != "" && or.Method != "" {
		return or.Method, or.RequestURI
	}
	return r.Method, r.RequestURI
}

// clientIP returns the client's address as Caddy's server determined it
// (the connection's peer, or the client named by a trusted proxy).
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bodyReader returns the digest.Request.Body function for r: it reads the
// body up to the limit and puts back a reader of everything, read or not,
// so the next handler sees the body unchanged.
func bodyReader(r *http.Request) func(limit int64) ([]byte, error) {
	return func(limit int64) ([]byte, error) {
		if r.Body == nil || r.Body == http.NoBody {
			return nil, nil
		}
		if r.ContentLength > limit {
			return nil, digest.ErrBodyTooLarge
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		r.Body = readCloser{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
		if err != nil {
			return nil, err
		}
		if int64(len(data)) > limit {
			return nil, digest.ErrBodyTooLarge
		}
		return data, nil
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Interface guards.
var (
	_ caddy.Provisioner       = (*HTTPDigestAuth)(nil)
	_ caddy.Validator         = (*HTTPDigestAuth)(nil)
	_ caddy.CleanerUpper      = (*HTTPDigestAuth)(nil)
	_ caddyauth.Authenticator = (*HTTPDigestAuth)(nil)
	_ caddy.Destructor        = (*digestState)(nil)
)
