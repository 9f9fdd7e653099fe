package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// digestRoute is a route the Digest benchmark measures: served once
// without authentication (under /open/) and once behind digest_auth
// (under /auth/), the same handlers otherwise.
type digestRoute struct {
	name, what string
	// profile names the route's CPU profiles with -pprof.
	profile string
	// target says whether the target applies to this route.
	target bool
	// global is the csb app's Caddyfile block (global options, csbApp),
	// if any.
	global string
	// handler is the route's handlers below digest_auth; PREFIX stands
	// for the route's prefix, "/open" or "/auth".
	handler string
	// path returns the path to request under prefix (set-up, such as
	// creating a job, goes through auth, a Digest client of the route).
	path func(base, prefix string, auth http.RoundTripper) (string, error)
	// check validates an answer.
	check func(resp *http.Response, body []byte) error
}

// digestTarget is issue 22's target for the first of digestRoutes: the
// throughput with Digest at least this fraction of the same read's
// without authentication.
const digestTarget = 0.95

// digestRoutes are the routes of the Digest benchmark. The target applies
// to the first: a consumer reading its job (GET), the request consumers
// repeat most (they poll their jobs) and the cheapest one that reaches the
// broker's engine. The second, a respond handler, measures nothing but
// HTTP and authentication: the bound, where Digest's fixed cost per
// request weighs most; it is reported beside it, without a target.
func digestRoutes() []digestRoute {
	jobBody, err := linkJobBody("app")
	if err != nil {
		panic(err) // a constant message
	}
	return []digestRoute{{
		name: "Digest", profile: "digest-job", what: "consumer job read (GET) with digest_auth (SHA-256, qop=auth)", target: true,
		global: csbApp(anonymousLinkJobs),
		handler: `csb {
			consumer_path PREFIX/consumer
		}`,
		// One job per side, made with a POST through the route itself:
		// alice's behind Digest, the anonymous consumer's on the open side.
		path: func(base, prefix string, auth http.RoundTripper) (string, error) {
			client := &http.Client{Transport: auth, Timeout: 30 * time.Second}
			resp, err := client.Post(base+prefix+"/consumer", csbmsg.ConsumerMediaType, bytes.NewReader(jobBody))
			if err != nil {
				return "", err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			id := resp.Header.Get("Csb-Job-Id")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Csb-Job-Status") != "success" || id == "" {
				return "", fmt.Errorf("job creation through %s: HTTP %d %.300s", prefix, resp.StatusCode, body)
			}
			return prefix + "/consumer/" + id, nil
		},
		check: func(resp *http.Response, body []byte) error {
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Csb-Status") != "200" || resp.Header.Get("Csb-Job-Status") != "success" {
				return fmt.Errorf("job read: HTTP %d %s %.300s", resp.StatusCode, resp.Header.Get("Csb-Status"), body)
			}
			return nil
		},
	}, {
		name: "Digest bound", profile: "digest", what: `respond "ok" with digest_auth (SHA-256, qop=auth): HTTP and authentication only`,
		handler: `respond "ok"`,
		path: func(_, prefix string, _ http.RoundTripper) (string, error) {
			return prefix + "/x", nil
		},
	}}
}

// benchDigest measures requests through digest_auth (SHA-256, qop auth)
// against the same route without authentication, in one Caddy, on each
// of digestRoutes. Before each timed phase the harness takes a fresh
// challenge per connection and computes that connection's Authorization
// headers (its nonce, counts 1..n, as the broker's own Digest client
// would send them), so the phase measures the server's work, not the
// client's hashing.
func benchDigest(cfg *config) ([]row, error) {
	var rows []row
	for _, rt := range digestRoutes() {
		r, err := benchDigestRoute(cfg, rt)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", rt.what, err)
		}
		rows = append(rows, r)
	}
	r, err := benchDigestSameWork(cfg)
	if err != nil {
		return rows, fmt.Errorf("digest refusal: %w", err)
	}
	return append(rows, r), nil
}

func benchDigestRoute(cfg *config, rt digestRoute) (row, error) {
	r := row{name: rt.name, what: rt.what}
	if rt.target {
		r.target = fmt.Sprintf("ratio ≥ %.2f", digestTarget)
	}
	const realm = "broker"
	ha1 := digest.HA1(digest.SHA256, "alice", realm, "wonderland")
	p, port, err := startSite(cfg, "digest", rt.global, fmt.Sprintf(`	route /auth/* {
		digest_auth %s {
			algorithms SHA-256
			qop auth
			user alice SHA-256 %s
		}
		%s
	}
	route /open/* {
		%s
	}
`, realm, ha1, strings.ReplaceAll(rt.handler, "PREFIX", "/auth"), strings.ReplaceAll(rt.handler, "PREFIX", "/open")))
	if err != nil {
		return r, err
	}
	defer p.stop()
	client := newClient(cfg.conc)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	openPath, err := rt.path(base, "/open", http.DefaultTransport)
	if err != nil {
		return r, err
	}
	authPath, err := rt.path(base, "/auth", &digest.Transport{Username: "alice", Password: "wonderland"})
	if err != nil {
		return r, err
	}
	open, authURL := base+openPath, base+authPath
	// One nonce per connection, as separate clients would have, with its
	// counts in order (one connection's requests wait for each other).
	conns := make([]*digestConn, cfg.conc)
	prepare := func(n int) error {
		// Workers share the phase's requests, so one connection's share
		// varies; twice the fair share is prepared, and a connection that
		// goes beyond it computes further headers as it goes.
		per := 2*n/cfg.conc + 16
		for w := range conns {
			c, err := newDigestConn(client, authURL, authPath, realm, ha1)
			if err != nil {
				return err
			}
			c.extend(per)
			conns[w] = c
		}
		return nil
	}
	prepared := false // by between, outside the CPU accounting
	authed := variant{name: "digest", client: client, check: rt.check,
		prepare: func(n int) error {
			if prepared {
				prepared = false
				return nil
			}
			return prepare(n)
		},
		request: func(w, _ int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodGet, authURL, nil)
			if err == nil {
				req.Header["Authorization"] = conns[w].next()
			}
			return req, err
		}}
	plain := variant{name: "open", client: client, check: rt.check, request: func(int, int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, open, nil)
	}}
	// These GETs are the cheapest requests of all the benchmarks: a phase
	// of -requests lasts a fifth to two fifths of a second, so that one burst of
	// another process on a shared machine tips a round, and six rounds
	// leave the median at the mercy of two such bursts. Digest runs twice
	// the rounds of phases twice as long (half a second or more each).
	n, rounds := 2*cfg.requests, 2*cfg.rounds

	// The CPU time each phase costs the broker (from /proc) and this load
	// generator (getrusage), read between phases: compare runs the rounds
	// as open, digest, then digest, open, and so on.
	var cpu [2]cpuTime // per variant: 0 open, 1 digest
	var last cpuTime
	phase := 0
	variantOf := func(k int) int { // phase k of the rounds: 0 open, 1 digest
		return (k % 2) ^ (k / 2 % 2)
	}
	between := func() error {
		now, err := readCPU(p)
		if err != nil {
			return err
		}
		if phase > 0 {
			cpu[variantOf(phase-1)].add(now.sub(last))
		}
		if variantOf(phase) == 1 {
			if err := prepare(n); err != nil {
				return err
			}
			prepared = true
			if now, err = readCPU(p); err != nil {
				return err
			}
		}
		last = now
		phase++
		return nil
	}
	c, err := compare(plain, authed, rounds, n, cfg.conc, 2*time.Minute, between)
	if err != nil {
		return r, err
	}
	end, err := readCPU(p)
	if err != nil {
		return r, err
	}
	cpu[variantOf(phase-1)].add(end.sub(last))
	if cfg.pprof != "" {
		// CPU profiles of the broker serving each variant for 3 s, to
		// compare with go tool pprof -diff_base digest-open.pprof.
		if err := profilePhase(p, plain, 5*n, cfg.conc, 3, filepath.Join(cfg.pprof, rt.profile+"-open.pprof")); err != nil {
			return r, err
		}
		if err := profilePhase(p, authed, 5*n, cfg.conc, 3, filepath.Join(cfg.pprof, rt.profile+".pprof")); err != nil {
			return r, err
		}
	}
	per := float64(c.rounds * n)
	us := func(s float64) float64 { return s / per * 1e6 }
	open0, auth0 := cpu[0], cpu[1]
	costRatio := (open0.broker + open0.self) / (auth0.broker + auth0.self)
	r.figure = fmt.Sprintf("%.0f req/s, p99 %s; CPU/request: broker %.1f µs, load generator %.1f µs", c.subject, ms(c.subjectP99), us(auth0.broker), us(auth0.self))
	r.baseline = fmt.Sprintf("no auth: %.0f req/s, p99 %s; CPU/request: broker %.1f µs, load generator %.1f µs", c.base, ms(c.baseP99), us(open0.broker), us(open0.self))
	r.ratio = fmt.Sprintf("%.3f", c.ratio)
	r.pass = rt.target && c.ratio >= digestTarget
	r.note = fmt.Sprintf("%d rounds × %d requests per variant, %d connections; Authorization headers computed before each phase "+
		"(a fresh nonce per connection, counts 1..n), every one verified by the server; the ratio is the median of the rounds' throughput ratios (%s). "+
		"CPU per request summed over the rounds' phases (broker from /proc, load generator from getrusage): "+
		"the two processes' CPU cost ratio, no auth to Digest, is %.3f, the throughput ratio of a machine with nothing else running",
		c.rounds, c.perPhase, c.con, ratioRange(c), costRatio)
	return r, nil
}

// cpuTime is CPU time in seconds: the broker's and this process's.
type cpuTime struct{ broker, self float64 }

func (a *cpuTime) add(b cpuTime)        { a.broker += b.broker; a.self += b.self }
func (a cpuTime) sub(b cpuTime) cpuTime { return cpuTime{a.broker - b.broker, a.self - b.self} }

// readCPU reads the CPU time (user + system) used so far by p and by
// this process.
func readCPU(p *caddyProc) (cpuTime, error) {
	b, err := p.cpuSeconds()
	if err != nil {
		return cpuTime{}, err
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTime{}, err
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return cpuTime{broker: b, self: tv(ru.Utime) + tv(ru.Stime)}, nil
}

// profilePhase writes to file a CPU profile of p taken for seconds while
// it serves a phase of (at most) n requests of v.
func profilePhase(p *caddyProc, v variant, n, conc, seconds int, file string) error {
	if v.prepare != nil {
		if err := v.prepare(n); err != nil {
			return err
		}
		v.prepare = nil
	}
	profiled := make(chan error, 1)
	go func() { profiled <- cpuProfile(p, seconds, file) }()
	// The phase runs until n requests or the profile's end, whichever
	// comes first; it is not measured.
	_, err := runPhase(v, n, conc, time.Duration(seconds)*time.Second)
	if err != nil && !strings.Contains(err.Error(), "time limit") {
		<-profiled
		return err
	}
	if err := <-profiled; err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	return nil
}

// digestConn is one connection's Digest client state: the nonce of its
// challenge and its Authorization header values with counts 1, 2, ...
// (SHA-256, qop auth), computed ahead, each ready to be put in a
// request's header map as it is.
type digestConn struct {
	uri, realm, ha1, nonce, opaque string
	headers                        [][]string
	used                           int
}

// newDigestConn takes a challenge from url for a new connection's nonce.
func newDigestConn(client *http.Client, url, uri, realm, ha1 string) (*digestConn, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return nil, fmt.Errorf("no challenge: HTTP %d", resp.StatusCode)
	}
	cs, err := digest.ParseChallenges(resp.Header.Get("WWW-Authenticate"))
	if err != nil || len(cs) == 0 {
		return nil, fmt.Errorf("challenge %q: %v", resp.Header.Get("WWW-Authenticate"), err)
	}
	c := &digestConn{uri: uri, realm: realm, ha1: ha1}
	c.nonce, _ = cs[0].Get("nonce")
	c.opaque, _ = cs[0].Get("opaque")
	return c, nil
}

// extend computes n more headers.
func (c *digestConn) extend(n int) {
	for i := 0; i < n; i++ {
		nc := fmt.Sprintf("%08x", len(c.headers)+1)
		in := digest.Input{Algorithm: digest.SHA256, HA1: c.ha1, Nonce: c.nonce, Cnonce: "bench", NC: nc, QOP: "auth", Method: http.MethodGet, URI: c.uri}
		c.headers = append(c.headers, []string{fmt.Sprintf(`Digest username="alice", realm=%q, uri=%q, algorithm=SHA-256, nonce=%q, nc=%s, cnonce="bench", qop=auth, response=%q, opaque=%q`,
			c.realm, c.uri, c.nonce, nc, in.Response(), c.opaque)})
	}
}

// next returns the header value with the next count.
func (c *digestConn) next() []string {
	if c.used == len(c.headers) {
		c.extend(64) // rare: this connection took more than its share
	}
	c.used++
	return c.headers[c.used-1]
}
