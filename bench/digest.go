package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// benchDigest measures requests through digest_auth (SHA-256, qop auth)
// against the same respond handler without authentication, in one Caddy.
// The client is the broker's own Digest transport (broker/digest), which
// takes one challenge and then reuses the nonce with increasing counts on
// every connection at once, so the server's replay window sees counts out
// of order as from a browser; it computes a SHA-256 response for every
// request, on the same cores.
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
	base := newClient(cfg.conc)
	authed := &http.Client{Timeout: 30 * time.Second, Transport: &digest.Transport{Username: "alice", Password: "wonderland", Base: base.Transport}}
	get := func(name string, c *http.Client, path string) variant {
		url := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
		return variant{name: name, client: c, request: func(int, int) (*http.Request, error) {
			return http.NewRequest(http.MethodGet, url, nil)
		}}
	}
	c, err := compare(get("open", base, "/open/x"), get("digest", authed, "/auth/x"), cfg.rounds, cfg.requests, cfg.conc, 2*time.Minute, nil)
	if err != nil {
		return r, err
	}
	r.figure = fmt.Sprintf("%.0f req/s, p99 %s", c.subject, ms(c.subjectP99))
	r.baseline = fmt.Sprintf("no auth: %.0f req/s, p99 %s", c.base, ms(c.baseP99))
	r.ratio = fmt.Sprintf("%.3f", c.ratio)
	r.pass = c.ratio >= 0.85
	r.note = fmt.Sprintf("%d rounds × %d requests per variant, %d connections; the client's SHA-256 work shares the cores", c.rounds, c.perPhase, c.con)
	return r, nil
}
