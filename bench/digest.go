package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	authed := variant{name: "digest", client: client,
		prepare: func(n int) error {
			// Workers share the phase's requests, so one connection's share
			// varies; twice the fair share is prepared, and a connection
			// that goes beyond it computes further headers as it goes.
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
		},
		request: func(w, _ int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodGet, authURL, nil)
			if err == nil {
				req.Header.Set("Authorization", conns[w].next())
			}
			return req, err
		}}
	plain := variant{name: "open", client: client, request: func(int, int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, open, nil)
	}}
	// A GET answered "ok" is the cheapest request of all the benchmarks:
	// a phase of -requests would last a fifth of a second, short enough
	// for one burst of another process on a shared machine to tip a
	// round. Phases here are four times longer.
	n := 4 * cfg.requests
	c, err := compare(plain, authed, cfg.rounds, n, cfg.conc, 2*time.Minute, nil)
	if err != nil {
		return r, err
	}
	// The broker's CPU time per request of each variant, on phases of
	// their own after the comparison (the load generator's share of the
	// cores does not enter it).
	cpuOpen, err := cpuPerRequest(p, plain, n, cfg.conc)
	if err != nil {
		return r, err
	}
	cpuAuth, err := cpuPerRequest(p, authed, n, cfg.conc)
	if err != nil {
		return r, err
	}
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
	r.figure = fmt.Sprintf("%.0f req/s, p99 %s, %.0f µs broker CPU/request", c.subject, ms(c.subjectP99), cpuAuth*1e6)
	r.baseline = fmt.Sprintf("no auth: %.0f req/s, p99 %s, %.0f µs broker CPU/request", c.base, ms(c.baseP99), cpuOpen*1e6)
	r.ratio = fmt.Sprintf("%.3f", c.ratio)
	r.pass = c.ratio >= 0.85
	r.note = fmt.Sprintf("%d rounds × %d requests per variant, %d connections; Authorization headers computed before each phase (a fresh nonce per connection, counts 1..n), every one verified by the server; broker CPU per request from /proc on a phase of %d requests per variant after the rounds", c.rounds, c.perPhase, c.con, n)
	return r, nil
}

// cpuPerRequest runs a phase of n requests of v against p and returns
// p's CPU time (user + system) per request, in seconds.
func cpuPerRequest(p *caddyProc, v variant, n, conc int) (float64, error) {
	if v.prepare != nil {
		// Outside the count: taking the challenges costs the broker too.
		if err := v.prepare(n); err != nil {
			return 0, err
		}
		v.prepare = nil
	}
	cpu0, err := p.cpuSeconds()
	if err != nil {
		return 0, err
	}
	if _, err := runPhase(v, n, conc, 2*time.Minute); err != nil {
		return 0, err
	}
	cpu1, err := p.cpuSeconds()
	if err != nil {
		return 0, err
	}
	return (cpu1 - cpu0) / float64(n), nil
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
// challenge and its Authorization headers with counts 1, 2, ... (SHA-256,
// qop auth), computed ahead.
type digestConn struct {
	uri, realm, ha1, nonce, opaque string
	headers                        []string
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
		c.headers = append(c.headers, fmt.Sprintf(`Digest username="alice", realm=%q, uri=%q, algorithm=SHA-256, nonce=%q, nc=%s, cnonce="bench", qop=auth, response=%q, opaque=%q`,
			c.realm, c.uri, c.nonce, nc, in.Response(), c.opaque))
	}
}

// next returns the header with the next count.
func (c *digestConn) next() string {
	if c.used == len(c.headers) {
		c.extend(64) // rare: this connection took more than its share
	}
	c.used++
	return c.headers[c.used-1]
}
