package main

import (
	"fmt"
	"net/http"
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
	headers := make([][]string, cfg.conc)
	next := make([]int, cfg.conc)
	authed := variant{name: "digest", client: client,
		prepare: func(n int) error {
			for w := range headers {
				var err error
				if headers[w], err = digestHeaders(client, authURL, "/auth/x", realm, ha1, n); err != nil {
					return err
				}
				next[w] = 0
			}
			return nil
		},
		request: func(w, _ int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodGet, authURL, nil)
			if err == nil {
				req.Header.Set("Authorization", headers[w][next[w]])
				next[w]++
			}
			return req, err
		}}
	plain := variant{name: "open", client: client, request: func(int, int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, open, nil)
	}}
	c, err := compare(plain, authed, cfg.rounds, cfg.requests, cfg.conc, 2*time.Minute, nil)
	if err != nil {
		return r, err
	}
	r.figure = fmt.Sprintf("%.0f req/s, p99 %s", c.subject, ms(c.subjectP99))
	r.baseline = fmt.Sprintf("no auth: %.0f req/s, p99 %s", c.base, ms(c.baseP99))
	r.ratio = fmt.Sprintf("%.3f", c.ratio)
	r.pass = c.ratio >= 0.85
	r.note = fmt.Sprintf("%d rounds × %d requests per variant, %d connections; Authorization headers computed before each phase (a fresh nonce per connection, counts 1..n), every one verified by the server", c.rounds, c.perPhase, c.con)
	return r, nil
}

// digestHeaders takes a challenge from url and returns n Authorization
// headers for alice with its nonce and counts 1..n (SHA-256, qop auth).
func digestHeaders(client *http.Client, url, uri, realm, ha1 string, n int) ([]string, error) {
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
	nonce, _ := cs[0].Get("nonce")
	opaque, _ := cs[0].Get("opaque")
	out := make([]string, n)
	for i := range out {
		nc := fmt.Sprintf("%08x", i+1)
		in := digest.Input{Algorithm: digest.SHA256, HA1: ha1, Nonce: nonce, Cnonce: "bench", NC: nc, QOP: "auth", Method: http.MethodGet, URI: uri}
		out[i] = fmt.Sprintf(`Digest username="alice", realm=%q, uri=%q, algorithm=SHA-256, nonce=%q, nc=%s, cnonce="bench", qop=auth, response=%q, opaque=%q`,
			realm, uri, nonce, nc, in.Response(), opaque)
	}
	return out, nil
}
