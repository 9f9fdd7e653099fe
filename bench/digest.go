package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// benchDigest measures requests through digest_auth (SHA-256, qop auth)
// against the same respond handler without authentication, in one Caddy.
// Before each timed phase the harness takes a fresh challenge per
// connection and computes that connection's Authorization headers (its
// nonce, counts 1..n, as the broker's own Digest client would send them),
// so the phase measures the server's work, not the client's hashing.
func benchDigest(cfg *config) (row, error) {
	r := row{name: "Digest", what: "GET with digest_auth (SHA-256, qop=auth)", target: "ratio ≥ 0.85"}
	const realm = "broker"
	ha1 := digest.HA1(digest.SHA256, "alice", realm, "wonderland")
	port, err := freePort()
	if err != nil {
		return r, err
	}
	p, err := startCaddy(cfg.caddy, "digest", fmt.Sprintf(`{
	admin {$BENCH_ADMIN}
	log {
		level ERROR
	}
}
http://127.0.0.1:%d {
	route /auth/* {
		digest_auth %s {
			algorithms SHA-256
			qop auth
			user alice SHA-256 %s
		}
		respond "ok"
	}
	route /open/* {
		respond "ok"
	}
}
`, port, realm, ha1))
	if err != nil {
		return r, err
	}
	defer p.stop()
	client := newClient(cfg.conc)
	open := fmt.Sprintf("http://127.0.0.1:%d/open/x", port)
	authURL := fmt.Sprintf("http://127.0.0.1:%d/auth/x", port)
	// One nonce per connection, as separate clients would have, with its
	// counts in order (one connection's requests wait for each other).
	conns := make([]*digestConn, cfg.conc)
	prepare := func(n int) error {
		// Workers share the phase's requests, so one connection's share
		// varies; twice the fair share is prepared, and a connection that
		// goes beyond it computes further headers as it goes.
		per := 2*n/cfg.conc + 16
		for w := range conns {
			c, err := newDigestConn(client, authURL, "/auth/x", realm, ha1)
			if err != nil {
				return err
			}
			c.extend(per)
			conns[w] = c
		}
		return nil
	}
	prepared := false // by between, outside the CPU accounting
	authed := variant{name: "digest", client: client,
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
	plain := variant{name: "open", client: client, request: func(int, int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, open, nil)
	}}
	// A GET answered "ok" is the cheapest request of all the benchmarks:
	// a phase of -requests lasts a fifth of a second, so that one burst of
	// another process on a shared machine tips a round, and six rounds
	// leave the median at the mercy of two such bursts. Digest runs twice
	// the rounds of phases twice as long (about half a second each).
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
		if err := profilePhase(p, plain, 5*n, cfg.conc, 3, filepath.Join(cfg.pprof, "digest-open.pprof")); err != nil {
			return r, err
		}
		if err := profilePhase(p, authed, 5*n, cfg.conc, 3, filepath.Join(cfg.pprof, "digest.pprof")); err != nil {
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
	r.pass = c.ratio >= 0.85
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range c.baseRates {
		lo, hi = math.Min(lo, c.subjRates[i]/c.baseRates[i]), math.Max(hi, c.subjRates[i]/c.baseRates[i])
	}
	r.note = fmt.Sprintf("%d rounds × %d requests per variant, %d connections; Authorization headers computed before each phase "+
		"(a fresh nonce per connection, counts 1..n), every one verified by the server; the ratio is the median of the rounds' throughput ratios (%.2f to %.2f). "+
		"CPU per request summed over the rounds' phases (broker from /proc, load generator from getrusage): "+
		"the two processes' CPU cost ratio, no auth to Digest, is %.3f, the throughput ratio of a machine with nothing else running",
		c.rounds, c.perPhase, c.con, lo, hi, costRatio)
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
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.admin, seconds))
		if err != nil {
			profiled <- err
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(file, data, 0o644)
		}
		profiled <- err
	}()
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
