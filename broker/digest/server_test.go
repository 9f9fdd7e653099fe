package digest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
)

// testClock is an injectable time source.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	srv    *Server
	clk    *testClock
	replay *ReplayCache
}

func newFixture(t testing.TB, mod func(*ServerConfig)) *fixture {
	t.Helper()
	users := NewUsers("broker")
	for _, b := range BaseAlgorithms {
		if err := users.Add("alice", b, HA1(b, "alice", "broker", "wonderland")); err != nil {
			t.Fatal(err)
		}
		if err := users.Add("J\u00e4s\u00f8n Doe", b, HA1(b, "J\u00e4s\u00f8n Doe", "broker", "Secret, or not?")); err != nil {
			t.Fatal(err)
		}
	}
	nonces, err := NewNonces([]byte("0123456789abcdef0123456789abcdef"), "broker")
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	cfg := ServerConfig{
		Realm:      "broker",
		Algorithms: Algorithms,
		QOP:        []string{QOPAuth, QOPAuthInt},
		Userhash:   true,
		Nonces:     nonces,
		Replay:     NewReplayCache(1000, 64),
		Users:      users,
		Clock:      clock.Func(clk.Now),
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, clk: clk, replay: cfg.Replay}
}

// cred builds Authorization header values independently of Transport.
type cred struct {
	user, pass, realm, nonce, opaque, uri, method, qop, cnonce string
	alg                                                        Algorithm
	nc                                                         uint32
	body                                                       []byte
	userhash, star, omitAlg                                    bool
	extra                                                      string
}

func (c cred) header() string {
	ha1 := HA1(c.alg, c.user, c.realm, c.pass)
	in := Input{Algorithm: c.alg, HA1: ha1, Nonce: c.nonce, Cnonce: c.cnonce, NC: fmt.Sprintf("%08x", c.nc),
		QOP: c.qop, Method: c.method, URI: c.uri}
	if c.qop == QOPAuthInt {
		in.BodyHash = HashBody(c.alg, c.body)
	}
	var b []byte
	b = append(b, "Digest "...)
	switch {
	case c.userhash:
		b = append(b, `username="`+UserHash(c.alg, c.user, c.realm)+`", userhash=true`...)
	case c.star:
		b = append(b, "username*="...)
		b = appendExtValue(b, c.user)
	default:
		b = append(b, "username="...)
		b = appendQuoted(b, c.user)
	}
	b = append(b, fmt.Sprintf(`, realm=%q, uri=%q, nonce=%q`, c.realm, c.uri, c.nonce)...)
	if c.qop != "" {
		b = append(b, fmt.Sprintf(`, nc=%s, cnonce=%q, qop=%s`, in.NC, c.cnonce, c.qop)...)
	}
	b = append(b, fmt.Sprintf(`, response=%q`, in.Response())...)
	if !c.omitAlg {
		b = append(b, ", algorithm="+c.alg.String()...)
	}
	if c.opaque != "" {
		b = append(b, `, opaque="`+c.opaque+`"`...)
	}
	b = append(b, c.extra...)
	return string(b)
}

// challenge returns the parameters of the server's challenge for alg.
func (f *fixture) challenge(t testing.TB, stale bool, alg Algorithm) (nonce, opaque string) {
	t.Helper()
	for _, field := range f.srv.Challenges(stale) {
		cs, err := ParseChallenges(field)
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := cs[0].Get("algorithm"); a == alg.String() {
			nonce, _ = cs[0].Get("nonce")
			opaque, _ = cs[0].Get("opaque")
			return
		}
	}
	t.Fatalf("no challenge for %s", alg)
	return
}

func (f *fixture) base(t testing.TB, alg Algorithm) cred {
	nonce, opaque := f.challenge(t, false, alg)
	return cred{user: "alice", pass: "wonderland", realm: "broker", nonce: nonce, opaque: opaque,
		uri: "/csb/publish?x=1", method: "POST", qop: QOPAuth, cnonce: "c1", alg: alg, nc: 1}
}

func (f *fixture) auth(c cred) Result {
	body := c.body
	return f.srv.Authenticate(Request{
		Method: "POST", URI: "/csb/publish?x=1", Authorization: c.header(),
		Body: func(limit int64) ([]byte, error) {
			if int64(len(body)) > limit {
				return nil, ErrBodyTooLarge
			}
			return body, nil
		},
	})
}

func TestChallengesShape(t *testing.T) {
	f := newFixture(t, nil)
	ch := f.srv.Challenges(true)
	if len(ch) != len(Algorithms) {
		t.Fatalf("%d challenges", len(ch))
	}
	var nonce string
	for i, field := range ch {
		cs, err := ParseChallenges(field)
		if err != nil || len(cs) != 1 {
			t.Fatalf("%q: %v", field, err)
		}
		c := cs[0]
		get := func(n string) string { v, _ := c.Get(n); return v }
		if get("algorithm") != Algorithms[i].String() || get("realm") != "broker" || get("qop") != "auth,auth-int" ||
			get("stale") != "true" || get("charset") != "UTF-8" || get("userhash") != "true" || get("opaque") == "" {
			t.Fatalf("challenge %q", field)
		}
		if nonce == "" {
			nonce = get("nonce")
		} else if get("nonce") != nonce {
			t.Fatal("challenges of one 401 should share a nonce")
		}
	}
	if f.srv.Challenges(false)[0] == ch[0] {
		t.Fatal("a new 401 must carry a new nonce")
	}
}

func TestAuthenticateEveryAlgorithmAndQOP(t *testing.T) {
	f := newFixture(t, nil)
	for _, alg := range Algorithms {
		for _, qop := range []string{QOPAuth, QOPAuthInt} {
			for _, mode := range []string{"plain", "userhash", "star"} {
				t.Run(alg.String()+"/"+qop+"/"+mode, func(t *testing.T) {
					c := f.base(t, alg)
					c.qop, c.body = qop, []byte("<csbnotification/>")
					switch mode {
					case "userhash":
						c.userhash = true
					case "star":
						c.user, c.pass, c.star = "J\u00e4s\u00f8n Doe", "Secret, or not?", true
					}
					res := f.auth(c)
					if !res.OK || res.Err != nil {
						t.Fatalf("refused: %v", res.Err)
					}
					if want := c.user; res.Username != want {
						t.Fatalf("user %q, want %q", res.Username, want)
					}
					if res.Algorithm != alg {
						t.Fatalf("algorithm %v", res.Algorithm)
					}
					// rspauth: same computation with an empty method, qop=auth.
					in := Input{Algorithm: alg, HA1: HA1(alg, c.user, "broker", c.pass), Nonce: c.nonce,
						Cnonce: c.cnonce, NC: "00000001", QOP: QOPAuth, URI: c.uri}
					params, err := ParseParams(res.AuthenticationInfo)
					if err != nil {
						t.Fatal(err)
					}
					if got, _ := getParam(params, "rspauth"); got != in.RspAuth() {
						t.Fatalf("rspauth %s, want %s", got, in.RspAuth())
					}
					if _, ok := getParam(params, "nextnonce"); ok {
						t.Fatal("nextnonce for a young nonce")
					}
					// The same count again is a replay.
					if res := f.auth(c); res.OK || !errors.Is(res.Err, ErrReplay) || res.Stale {
						t.Fatalf("replay: %+v", res)
					}
					// The next count is fine.
					c.nc = 2
					if res := f.auth(c); !res.OK {
						t.Fatalf("nc=2 refused: %v", res.Err)
					}
				})
			}
		}
	}
}

func TestAlgorithmOmittedMeansMD5(t *testing.T) {
	f := newFixture(t, nil)
	c := f.base(t, MD5)
	c.omitAlg = true
	if res := f.auth(c); !res.OK {
		t.Fatalf("refused: %v", res.Err)
	}
	g := newFixture(t, func(cfg *ServerConfig) { cfg.Algorithms = []Algorithm{SHA256} })
	c = g.base(t, SHA256)
	c.alg, c.omitAlg = MD5, true
	if res := g.auth(c); res.OK || !errors.Is(res.Err, ErrAlgorithm) {
		t.Fatalf("MD5 by default accepted where only SHA-256 is offered: %+v", res)
	}
}

func TestAuthenticateRefusals(t *testing.T) {
	f := newFixture(t, func(cfg *ServerConfig) { cfg.QOP = []string{QOPAuth} })
	for _, tc := range []struct {
		name  string
		mod   func(*cred)
		raw   string
		err   error
		stale bool
	}{
		{name: "no header", raw: "-", err: ErrNoCredentials},
		{name: "basic", raw: "Basic YWxpY2U6d29uZGVybGFuZA==", err: ErrNoCredentials},
		{name: "malformed", raw: `Digest username="alice`, err: ErrMalformed},
		{name: "duplicate param", mod: func(c *cred) { c.extra = `, realm="broker"` }, err: ErrMalformed},
		{name: "username and username*", mod: func(c *cred) { c.extra = `, username*=UTF-8''alice` }, err: ErrMalformed},
		{name: "wrong password", mod: func(c *cred) { c.pass = "tweedledum" }, err: ErrResponse},
		{name: "unknown user", mod: func(c *cred) { c.user = "mallory" }, err: ErrUnknownUser},
		{name: "unknown userhash", mod: func(c *cred) { c.user, c.userhash = "mallory", true }, err: ErrUnknownUser},
		{name: "wrong realm", mod: func(c *cred) { c.realm = "other" }, err: ErrRealm},
		{name: "wrong uri", mod: func(c *cred) { c.uri = "/csb/consumer" }, err: ErrURI},
		{name: "absolute uri", mod: func(c *cred) { c.uri = "http://example.org/csb/publish?x=1" }, err: ErrURI},
		{name: "unknown algorithm", mod: func(c *cred) { c.extra = "" }, raw: "sha1", err: ErrAlgorithm},
		{name: "qop not offered", mod: func(c *cred) { c.qop = QOPAuthInt }, err: ErrQOP},
		{name: "no qop", mod: func(c *cred) { c.qop = "" }, err: ErrQOP},
		{name: "nc zero", mod: func(c *cred) { c.nc = 0 }, err: ErrMalformed},
		{name: "wrong opaque", mod: func(c *cred) { c.opaque = "forged" }, err: ErrOpaque},
		{name: "forged nonce", mod: func(c *cred) { c.nonce = strings.Repeat("A", NonceLen) }, err: ErrNonce},
		{name: "foreign nonce", mod: func(c *cred) { c.nonce = rfcNonce }, err: ErrNonce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.base(t, SHA256)
			var header string
			switch {
			case tc.raw == "-":
				header = ""
			case tc.raw == "sha1":
				h := c.header()
				header = strings.Replace(h, "algorithm=SHA-256", "algorithm=SHA", 1)
			case tc.raw != "":
				header = tc.raw
			default:
				tc.mod(&c)
				header = c.header()
			}
			res := f.srv.Authenticate(Request{Method: "POST", URI: "/csb/publish?x=1", Authorization: header})
			if res.OK || !errors.Is(res.Err, tc.err) || res.Stale != tc.stale {
				t.Fatalf("got ok=%v err=%v stale=%v, want err=%v stale=%v", res.OK, res.Err, res.Stale, tc.err, tc.stale)
			}
			if res.Username != "" || res.AuthenticationInfo != "" {
				t.Fatal("refusal carries a user or Authentication-Info")
			}
		})
	}
}

func TestUserhashRefusedWhenNotOffered(t *testing.T) {
	f := newFixture(t, func(cfg *ServerConfig) { cfg.Userhash = false })
	c := f.base(t, SHA256)
	c.userhash = true
	if res := f.auth(c); res.OK || !errors.Is(res.Err, ErrUserhash) {
		t.Fatalf("%+v", res)
	}
	if strings.Contains(f.srv.Challenges(false)[0], "userhash") {
		t.Fatal("userhash offered")
	}
}

func TestStaleNonce(t *testing.T) {
	f := newFixture(t, func(cfg *ServerConfig) { cfg.NonceLifetime = time.Minute })
	c := f.base(t, SHA256)
	if res := f.auth(c); !res.OK {
		t.Fatal(res.Err)
	}
	// Past half its life: the server hands out a nextnonce.
	f.clk.Add(40 * time.Second)
	c.nc = 2
	res := f.auth(c)
	if !res.OK || !strings.Contains(res.AuthenticationInfo, "nextnonce=") {
		t.Fatalf("no nextnonce at 40s: %+v", res)
	}
	params, _ := ParseParams(res.AuthenticationInfo)
	next, _ := getParam(params, "nextnonce")
	// Expired: a correct response learns stale=true.
	f.clk.Add(21 * time.Second)
	c.nc = 3
	if res := f.auth(c); res.OK || !res.Stale || !errors.Is(res.Err, ErrNonceExpired) {
		t.Fatalf("expired nonce: %+v", res)
	}
	// A wrong password with the expired nonce does not learn it.
	bad := c
	bad.pass, bad.nc = "nope", 4
	if res := f.auth(bad); res.OK || res.Stale || !errors.Is(res.Err, ErrResponse) {
		t.Fatalf("wrong password with expired nonce: %+v", res)
	}
	// The nextnonce works.
	c.nonce, c.nc = next, 1
	if res := f.auth(c); !res.OK {
		t.Fatalf("nextnonce refused: %v", res.Err)
	}
}

func TestNonceFromTheFutureRefused(t *testing.T) {
	f := newFixture(t, nil)
	c := f.base(t, SHA256)
	f.clk.Add(-2 * time.Minute) // the nonce was issued "2 minutes from now"
	if res := f.auth(c); res.OK || !res.Stale {
		t.Fatalf("%+v", res)
	}
}

func TestOutOfOrderCountsWithinWindow(t *testing.T) {
	f := newFixture(t, nil) // window 64
	c := f.base(t, SHA256)
	for _, nc := range []uint32{3, 1, 2, 10, 5, 70, 9} {
		c.nc = nc
		if res := f.auth(c); !res.OK {
			t.Fatalf("nc=%d refused: %v", nc, res.Err)
		}
	}
	for _, nc := range []uint32{10, 70, 9} {
		c.nc = nc
		if res := f.auth(c); res.OK || !errors.Is(res.Err, ErrReplay) {
			t.Fatalf("nc=%d replay accepted: %+v", nc, res)
		}
	}
	c.nc = 6 // 70-6 = 64: fell out of the window
	if res := f.auth(c); res.OK || !res.Stale || !errors.Is(res.Err, ErrNonceUnusable) {
		t.Fatalf("nc below the window: %+v", res)
	}
}

func TestAuthIntBody(t *testing.T) {
	f := newFixture(t, func(cfg *ServerConfig) { cfg.MaxAuthIntBody = 16 })
	c := f.base(t, SHA512_256)
	c.qop, c.body = QOPAuthInt, []byte("small")
	if res := f.auth(c); !res.OK {
		t.Fatal(res.Err)
	}
	// The body the digest covers must be the body received.
	c.nc = 2
	h := c.header()
	res := f.srv.Authenticate(Request{Method: "POST", URI: c.uri, Authorization: h,
		Body: func(int64) ([]byte, error) { return []byte("tampered"), nil }})
	if res.OK || !errors.Is(res.Err, ErrResponse) {
		t.Fatalf("tampered body accepted: %+v", res)
	}
	c.nc, c.body = 3, bytes.Repeat([]byte("x"), 17)
	if res := f.auth(c); res.OK || !errors.Is(res.Err, ErrBody) {
		t.Fatalf("oversized body: %+v", res)
	}
}

func TestTamperedFieldsRefused(t *testing.T) {
	f := newFixture(t, nil)
	c := f.base(t, SHA256)
	h := c.header()
	for _, tc := range []struct{ from, to string }{
		{`cnonce="c1"`, `cnonce="c2"`},
		{"nc=00000001", "nc=00000002"},
		{"qop=auth,", "qop=auth-int,"},
	} {
		if res := f.srv.Authenticate(Request{Method: "POST", URI: c.uri, Authorization: strings.Replace(h, tc.from, tc.to, 1)}); res.OK {
			t.Errorf("%s → %s accepted", tc.from, tc.to)
		}
	}
	if res := f.srv.Authenticate(Request{Method: "PUT", URI: c.uri, Authorization: h}); res.OK {
		t.Error("method change accepted")
	}
	// Upper-case hex in the response is still the same digest.
	i := strings.Index(h, `response="`) + len(`response="`)
	upper := h[:i] + strings.ToUpper(h[i:i+64]) + h[i+64:]
	if res := f.srv.Authenticate(Request{Method: "POST", URI: c.uri, Authorization: upper}); !res.OK {
		t.Errorf("upper-case response refused: %v", res.Err)
	}
}

func TestReplayStateNotGrownByFailures(t *testing.T) {
	f := newFixture(t, nil)
	for i := 0; i < 50; i++ {
		c := f.base(t, SHA256)
		c.pass = "wrong"
		f.auth(c)
	}
	if n := f.replay.Len(); n != 0 {
		t.Fatalf("failed authentications left %d nonces tracked", n)
	}
}

func TestSharedKeyAcrossServers(t *testing.T) {
	a := newFixture(t, nil)
	b := newFixture(t, nil) // same key, separate replay cache: another instance of the cluster
	c := a.base(t, SHA256)
	if res := b.auth(c); !res.OK {
		t.Fatalf("nonce of instance a refused by b: %v", res.Err)
	}
}

func TestNewServerErrors(t *testing.T) {
	users := NewUsers("r")
	n, _ := NewNonces(bytes.Repeat([]byte{1}, 16), "r")
	good := ServerConfig{Realm: "r", Algorithms: []Algorithm{SHA256}, Nonces: n, Replay: NewReplayCache(0, 0), Users: users}
	for name, mod := range map[string]func(*ServerConfig){
		"no realm":      func(c *ServerConfig) { c.Realm = "" },
		"ctl in realm":  func(c *ServerConfig) { c.Realm = "a\nb" },
		"no algorithms": func(c *ServerConfig) { c.Algorithms = nil },
		"dup algorithm": func(c *ServerConfig) { c.Algorithms = []Algorithm{SHA256, SHA256} },
		"bad qop":       func(c *ServerConfig) { c.QOP = []string{"auth-conf"} },
		"users realm":   func(c *ServerConfig) { c.Users = NewUsers("other") },
		"no nonces":     func(c *ServerConfig) { c.Nonces = nil },
	} {
		cfg := good
		mod(&cfg)
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewServer(good); err != nil {
		t.Fatal(err)
	}
	if _, err := NewNonces([]byte("short"), "r"); err == nil {
		t.Fatal("short key accepted")
	}
}

// TestErrorsCarryNoSecrets checks that no refusal's error text contains
// the HA1, the response or the password.
func TestErrorsCarryNoSecrets(t *testing.T) {
	f := newFixture(t, nil)
	c := f.base(t, SHA256)
	c.pass = "hunter2-secret"
	h := c.header()
	res := f.srv.Authenticate(Request{Method: "POST", URI: c.uri, Authorization: h})
	i := strings.Index(h, `response="`) + len(`response="`)
	for _, secret := range []string{"hunter2-secret", h[i : i+64], HA1(SHA256, "alice", "broker", "wonderland")} {
		if strings.Contains(res.Err.Error(), secret) {
			t.Fatalf("error %q leaks a secret", res.Err)
		}
	}
	users := NewUsers("broker")
	err := users.Add("bob", SHA256, "zz"+strings.Repeat("a", 62))
	if err == nil || strings.Contains(err.Error(), strings.Repeat("a", 62)) {
		t.Fatalf("bad HA1 error %v", err)
	}
}

// FuzzAuthenticate feeds arbitrary Authorization values (seeded with
// valid ones and near misses) to a Server: it must never panic, never
// accept, and always explain a refusal.
func FuzzAuthenticate(f *testing.F) {
	fx := newFixture(f, nil)
	c := fx.base(f, SHA256)
	f.Add(c.header())
	c.userhash = true
	f.Add(c.header())
	c.qop, c.body = QOPAuthInt, []byte("x")
	f.Add(c.header())
	f.Add(`Digest username="a", realm="broker", nonce="` + strings.Repeat("A", NonceLen) + `", uri="/", response="00", qop=auth, nc=00000001, cnonce="c"`)
	f.Add("Digest username*=UTF-8''%ff, realm=broker")
	f.Fuzz(func(t *testing.T, h string) {
		res := fx.srv.Authenticate(Request{Method: "GET", URI: "/", Authorization: h,
			Body: func(int64) ([]byte, error) { return []byte("x"), nil }})
		if res.OK {
			t.Fatalf("accepted %q", h)
		}
		if res.Err == nil {
			t.Fatalf("refusal without a reason for %q", h)
		}
	})
}
