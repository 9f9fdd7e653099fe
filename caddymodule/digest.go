package caddymodule

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
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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
// realm, a uri parameter that is not the request target, an algorithm or
// qop not offered, a replayed nonce count, an expired nonce) gets a 401
// with fresh challenges, never a 500; an expired nonce or one no longer
// usable gets stale=true when the response was otherwise correct, so the
// client retries without asking its user again. The reason is logged at
// debug level; no password, HA1 or response value is ever logged.
//
// Credentials are HA1 values (hex H(user:realm:password)) per hash
// function, never plaintext passwords. "caddy digest-hash" prints them;
// Apache htdigest files can be read too.
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
	// qop=auth-int digest; longer bodies are refused (401). Default 1 MiB.
	AuthIntMaxBody int64 `json:"auth_int_max_body,omitempty"`

	// Accounts are the users and their HA1 values.
	Accounts []DigestAccount `json:"accounts,omitempty"`

	// HTDigestFiles are Apache htdigest files ("user:realm:HA1" lines,
	// MD5; lines of other realms are skipped). A four-field line
	// "user:realm:SHA-256:HA1" (or SHA-512-256) gives another hash
	// function's HA1; see "caddy digest-hash --format htdigest".
	HTDigestFiles []string `json:"htdigest_files,omitempty"`

	server  *digest.Server
	authInt bool // qop auth-int is offered: requests may need their body
	poolKey string
	logger  *zap.Logger
}

// DigestAccount is one user of HTTPDigestAuth.
type DigestAccount struct {
	// Username is the user name, as clients send it (UTF-8).
	Username string `json:"username"`
	// HA1 maps a hash function name ("MD5", "SHA-256", "SHA-512-256") to
	// the hex H(username:realm:password) of that function. A -sess
	// algorithm uses its base function's HA1. Placeholders are expanded.
	HA1 map[string]string `json:"ha1"`
}

// CaddyModule returns the Caddy module information.
func (HTTPDigestAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.http_digest",
		New: func() caddy.Module { return new(HTTPDigestAuth) },
	}
}

// digestState is what digestPool keeps per realm and key.
type digestState struct{ replay *digest.ReplayCache }

// Destruct forgets the nonce counts when no configuration uses them.
func (s *digestState) Destruct() error {
	s.replay.Clear()
	return nil
}

// Provision loads the users, sets up the nonce key and the replay cache.
func (d *HTTPDigestAuth) Provision(ctx caddy.Context) error {
	d.logger = ctx.Logger()
	if err := registerMetrics(ctx.GetMetricsRegistry(), csbMetrics.digestFailures); err != nil {
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
		return &digestState{replay: rc}, nil
	})
	if err != nil {
		return err
	}
	replay := val.(*digestState).replay
	if loaded {
		replay.Configure(d.MaxNonces, d.ReplayWindow)
	}

	d.server, err = digest.NewServer(digest.ServerConfig{
		Realm:          realm,
		Algorithms:     algs,
		QOP:            qop,
		Userhash:       d.Userhash,
		NonceLifetime:  time.Duration(d.NonceLifetime),
		MaxAuthIntBody: d.AuthIntMaxBody,
		Nonces:         nonces,
		Replay:         replay,
		Users:          users,
	})
	if err != nil {
		return fmt.Errorf("digest: %v", err)
	}
	return nil
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
	req := digest.Request{
		Method:        r.Method,
		URI:           requestTarget(r),
		Authorization: r.Header.Get("Authorization"),
	}
	if d.authInt {
		// Only qop=auth-int reads the body; the closure is not made for
		// routes that do not offer it.
		req.Body = bodyReader(r)
	}
	res := d.server.Authenticate(req)
	if res.OK {
		w.Header().Set("Authentication-Info", res.AuthenticationInfo)
		return caddyauth.User{ID: res.Username, Metadata: algorithmMetadata[res.Algorithm]}, true, nil
	}
	csbMetrics.observeDigestFailure(res.Err)
	if c := d.logger.Check(zapcore.DebugLevel, "digest authentication refused"); c != nil {
		c.Write(zap.String("reason", res.Err.Error()), zap.Bool("stale", res.Stale),
			zap.String("remote_addr", r.RemoteAddr))
	}
	for _, ch := range d.server.Challenges(res.Stale) {
		w.Header().Add("WWW-Authenticate", ch)
	}
	// The 401 goes out before the next handler would read the body; a
	// client's first request of a Digest exchange nearly always has one.
	discardUnreadBody(r)
	return caddyauth.User{}, false, nil
}

// algorithmMetadata holds one read-only metadata map per algorithm
// ({http.auth.user.algorithm}), shared by all requests: caddyauth only
// reads it, and a map per request would be garbage on the hot path.
var algorithmMetadata = func() map[digest.Algorithm]map[string]string {
	m := make(map[digest.Algorithm]map[string]string)
	for _, a := range digest.Algorithms {
		m[a] = map[string]string{"algorithm": a.String()}
	}
	return m
}()

// requestTarget returns the request-target as the client sent it, before
// any rewrite: the value the Digest uri parameter must equal.
func requestTarget(r *http.Request) string {
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.RequestURI != "" {
		return or.RequestURI
	}
	return r.RequestURI
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
