package digest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testServer serves Server-protected requests and counts what it sees.
type testServer struct {
	*httptest.Server
	f          *fixture
	mu         sync.Mutex
	challenges int
	ok         int
	algs       map[Algorithm]int
	qops       map[string]int
	bodies     []string
	// rewrite, when set, can alter each response's Authentication-Info.
	rewrite func(string) string
	// order, when set, reorders the challenges.
	order func([]string) []string
}

func newTestServer(t *testing.T, mod func(*ServerConfig)) *testServer {
	ts := &testServer{f: newFixture(t, mod), algs: map[Algorithm]int{}, qops: map[string]int{}}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		res := ts.f.srv.Authenticate(Request{
			Method: r.Method, URI: r.RequestURI, Authorization: r.Header.Get("Authorization"),
			Body: func(limit int64) ([]byte, error) {
				b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
				if int64(len(b)) > limit {
					return nil, ErrBodyTooLarge
				}
				body = b
				r.Body = io.NopCloser(bytes.NewReader(b))
				return b, err
			},
		})
		ts.mu.Lock()
		defer ts.mu.Unlock()
		if !res.OK {
			ts.challenges++
			ch := ts.f.srv.ChallengesFor(res)
			if ts.order != nil {
				ch = ts.order(ch)
			}
			for _, c := range ch {
				w.Header().Add("WWW-Authenticate", c)
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if body == nil {
			body, _ = io.ReadAll(r.Body)
		}
		ts.ok++
		ts.algs[res.Algorithm]++
		c, _ := parseCreds(r.Header.Get("Authorization"))
		ts.qops[c.qop]++
		ts.bodies = append(ts.bodies, string(body))
		info := res.AuthenticationInfo
		if ts.rewrite != nil {
			info = ts.rewrite(info)
		}
		w.Header().Set("Authentication-Info", info)
		io.WriteString(w, "hello "+res.Username)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) counts() (challenges, ok int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.challenges, ts.ok
}

func get(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTransportPicksStrongestAndReusesNonce(t *testing.T) {
	ts := newTestServer(t, nil)
	// Offer the weakest first: the client must still pick SHA-512-256.
	ts.order = func(ch []string) []string {
		out := append([]string(nil), ch...)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	tr := &Transport{Username: "alice", Password: "wonderland"}
	c := &http.Client{Transport: tr}
	for i := 0; i < 5; i++ {
		code, body := get(t, c, "GET", ts.URL+"/a?b=c", "")
		if code != 200 || body != "hello alice" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	chal, ok := ts.counts()
	if chal != 1 || ok != 5 {
		t.Fatalf("%d challenges, %d successes: the nonce must be reused (want 1, 5)", chal, ok)
	}
	if ts.algs[SHA512_256] != 5 {
		t.Fatalf("algorithms used: %v", ts.algs)
	}
	if ts.qops[QOPAuthInt] != 5 {
		t.Fatalf("qop used: %v (auth-int preferred when offered)", ts.qops)
	}
}

func TestTransportEveryAlgorithm(t *testing.T) {
	for _, alg := range Algorithms {
		for _, prefer := range []bool{false, true} {
			t.Run(alg.String(), func(t *testing.T) {
				ts := newTestServer(t, func(c *ServerConfig) { c.Algorithms = []Algorithm{alg}; c.Userhash = false })
				c := &http.Client{Transport: &Transport{Username: "J\u00e4s\u00f8n Doe", Password: "Secret, or not?", PreferAuth: prefer}}
				code, body := get(t, c, "POST", ts.URL+"/doe.json", "payload")
				if code != 200 || body != "hello J\u00e4s\u00f8n Doe" {
					t.Fatalf("%d %q", code, body)
				}
				code, _ = get(t, c, "PUT", ts.URL+"/doe.json", "payload 2")
				if code != 200 || ts.algs[alg] != 2 {
					t.Fatalf("%d %v", code, ts.algs)
				}
				want := QOPAuthInt
				if prefer {
					want = QOPAuth
				}
				if ts.qops[want] != 2 {
					t.Fatalf("qops %v, want %s", ts.qops, want)
				}
				if ts.bodies[0] != "payload" || ts.bodies[1] != "payload 2" {
					t.Fatalf("bodies %q", ts.bodies)
				}
			})
		}
	}
}

func TestTransportUserhash(t *testing.T) {
	ts := newTestServer(t, nil) // offers userhash
	var sent atomic.Value
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if h := r.Header.Get("Authorization"); h != "" {
			sent.Store(h)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	c := &http.Client{Transport: &Transport{Username: "alice", Password: "wonderland", Base: base}}
	if code, _ := get(t, c, "GET", ts.URL+"/", ""); code != 200 {
		t.Fatal(code)
	}
	h := sent.Load().(string)
	if strings.Contains(h, "alice") || !strings.Contains(h, "userhash=true") {
		t.Fatalf("user name not hashed: %s", h)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportWrongPassword(t *testing.T) {
	ts := newTestServer(t, nil)
	c := &http.Client{Transport: &Transport{Username: "alice", Password: "nope"}}
	code, _ := get(t, c, "GET", ts.URL+"/", "")
	if code != 401 {
		t.Fatalf("got %d", code)
	}
	if chal, _ := ts.counts(); chal != 2 {
		t.Fatalf("%d challenges: one retry only, want 2", chal)
	}
}

func TestTransportStaleAndNextNonce(t *testing.T) {
	ts := newTestServer(t, func(c *ServerConfig) { c.NonceLifetime = time.Minute })
	c := &http.Client{Transport: &Transport{Username: "alice", Password: "wonderland"}}
	get(t, c, "GET", ts.URL+"/", "")
	// Past half the lifetime the server sends nextnonce: the client
	// adopts it, so no 401 happens when the first nonce expires.
	ts.f.clk.Add(45 * time.Second)
	get(t, c, "GET", ts.URL+"/", "")
	ts.f.clk.Add(30 * time.Second)
	if code, _ := get(t, c, "GET", ts.URL+"/", ""); code != 200 {
		t.Fatal(code)
	}
	if chal, ok := ts.counts(); chal != 1 || ok != 3 {
		t.Fatalf("nextnonce not followed: %d challenges, %d ok", chal, ok)
	}
	// Let the nonce expire outright: stale=true, then a transparent retry.
	ts.f.clk.Add(2 * time.Minute)
	if code, _ := get(t, c, "GET", ts.URL+"/", ""); code != 200 {
		t.Fatal(code)
	}
	if chal, ok := ts.counts(); chal != 2 || ok != 4 {
		t.Fatalf("stale: %d challenges, %d ok", chal, ok)
	}
}

func TestTransportForgedRspauth(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.rewrite = func(info string) string {
		i := strings.Index(info, `rspauth="`) + len(`rspauth="`)
		c := "0"
		if info[i] == '0' {
			c = "1" // always a different digit
		}
		return info[:i] + c + info[i+1:]
	}
	if ts.rewrite("rspauth=\"abc\"") != "rspauth=\"0bc\"" || ts.rewrite("rspauth=\"0bc\"") != "rspauth=\"1bc\"" {
		t.Fatal("rewrite helper")
	}
	c := &http.Client{Transport: &Transport{Username: "alice", Password: "wonderland"}}
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	_, err := c.Do(req)
	if !errors.Is(err, ErrRspauth) {
		t.Fatalf("forged rspauth: %v", err)
	}
	c = &http.Client{Transport: &Transport{Username: "alice", Password: "wonderland", SkipRspauthCheck: true}}
	if code, _ := get(t, c, "GET", ts.URL+"/", ""); code != 200 {
		t.Fatal(code)
	}
}

func TestTransportNoBasicDowngrade(t *testing.T) {
	var saw atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw.Store(r.Header.Get("Authorization"))
		w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
		w.WriteHeader(401)
	}))
	defer srv.Close()
	c := &http.Client{Transport: &Transport{Username: "alice", Password: "wonderland"}}
	if code, _ := get(t, c, "GET", srv.URL, ""); code != 401 {
		t.Fatal(code)
	}
	if v, _ := saw.Load().(string); v != "" {
		t.Fatalf("credentials sent to a Basic challenge: %q", v)
	}
}

func TestTransportHosts(t *testing.T) {
	ts := newTestServer(t, nil)
	c := &http.Client{Transport: &Transport{Username: "alice", Password: "wonderland", Hosts: []string{"provider.example"}}}
	if code, _ := get(t, c, "GET", ts.URL, ""); code != 401 {
		t.Fatalf("answered a challenge from a host not listed: %d", code)
	}
}

func TestTransportBodyWithoutGetBody(t *testing.T) {
	ts := newTestServer(t, nil)
	tr := &Transport{Username: "alice", Password: "wonderland", MaxBufferedBody: 10}
	c := &http.Client{Transport: tr}
	req, _ := http.NewRequest("POST", ts.URL+"/", io.NopCloser(strings.NewReader("0123456789")))
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	if ts.bodies[0] != "0123456789" {
		t.Fatalf("body %q", ts.bodies[0])
	}
	req, _ = http.NewRequest("POST", ts.URL+"/", io.NopCloser(strings.NewReader("0123456789x")))
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "cannot be replayed") {
		t.Fatalf("oversized body: %v", err)
	}
}

func TestTransportConcurrentReuse(t *testing.T) {
	// The counts are taken before the requests are sent, so a goroutine
	// the scheduler holds back can arrive many counts late; a window
	// wider than all 201 counts keeps that from being refused as too old,
	// which would be the window at work, not the transport.
	ts := newTestServer(t, func(c *ServerConfig) { c.Replay = NewReplayCache(1000, 256) })
	c := &http.Client{Transport: &Transport{Username: "alice", Password: "wonderland"}}
	get(t, c, "GET", ts.URL+"/", "")
	var wg sync.WaitGroup
	var fails atomic.Int32
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				req, _ := http.NewRequest("GET", ts.URL+"/", nil)
				resp, err := c.Do(req)
				if err != nil || resp.StatusCode != 200 {
					fails.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	if fails.Load() != 0 {
		t.Fatalf("%d failures", fails.Load())
	}
	if chal, ok := ts.counts(); chal != 1 || ok != 201 {
		t.Fatalf("%d challenges %d ok: concurrent requests must share the nonce with distinct counts", chal, ok)
	}
}

func TestTransportRFC2069AndCombinedHeader(t *testing.T) {
	// A legacy server: no qop, MD5, two challenges in one field.
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="legacy", Digest realm="legacy", nonce="abc"`)
			w.WriteHeader(401)
			return
		}
		got.Store(h)
	}))
	defer srv.Close()
	c := &http.Client{Transport: &Transport{Username: "Mufasa", Password: "Circle Of Life"}}
	if code, _ := get(t, c, "GET", srv.URL+"/dir/index.html", ""); code != 200 {
		t.Fatal(code)
	}
	cr, err := parseCreds(got.Load().(string))
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Algorithm: MD5, HA1: HA1(MD5, "Mufasa", "legacy", "Circle Of Life"), Nonce: "abc", Method: "GET", URI: "/dir/index.html"}
	if cr.qop != "" || cr.nc != "" || cr.response != in.Response() {
		t.Fatalf("RFC 2069 form: %+v", cr)
	}
}
