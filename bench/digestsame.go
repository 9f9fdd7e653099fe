package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// Bounds of the Digest refusal row: refusing an unknown user name costs
// the server what refusing a known user's wrong password costs (the
// response is computed against a dummy HA1), so the time of a refusal
// does not tell a guesser which names exist.
const (
	sameWorkLow  = 0.8
	sameWorkHigh = 1.25
)

// benchDigestSameWork times the broker's Digest server (broker/digest,
// in this process: no HTTP, which would drown the difference) refusing
// credentials of an unknown user and credentials of a known user with a
// wrong password, interleaved in rounds, and reports the median of the
// rounds' time ratios. Each request is a fresh nonce's first use, so the
// replay window never refuses one before its response is computed.
func benchDigestSameWork(*config) (row, error) {
	r := row{name: "Digest refusal", what: "unknown user vs wrong password, refused by the Digest server in-process (SHA-256, qop=auth)",
		target: fmt.Sprintf("ratio %.2f–%.2f", sameWorkLow, sameWorkHigh)}
	const realm = "broker"
	users := digest.NewUsers(realm)
	if err := users.Add("alice", digest.SHA256, digest.HA1(digest.SHA256, "alice", realm, "wonderland")); err != nil {
		return r, err
	}
	nonces, err := digest.NewNonces([]byte("0123456789abcdef0123456789abcdef"), realm)
	if err != nil {
		return r, err
	}
	srv, err := digest.NewServer(digest.ServerConfig{
		Realm: realm, Algorithms: []digest.Algorithm{digest.SHA256}, QOP: []string{digest.QOPAuth},
		Nonces: nonces, Replay: digest.NewReplayCache(1<<16, 64), Users: users, Clock: clock.Func(time.Now),
	})
	if err != nil {
		return r, err
	}
	// Fixed counts: a refusal takes microseconds, so these take well
	// under a second; a first round, not counted, warms up.
	const per, rounds = 2000, 25
	// Authorization headers for one phase: per fresh nonces, each with
	// its response computed from user and password.
	headers := func(user, password string) []digest.Request {
		out := make([]digest.Request, per)
		ha1 := digest.HA1(digest.SHA256, user, realm, password)
		for i := range out {
			nonce := nonces.Issue(time.Now())
			in := digest.Input{Algorithm: digest.SHA256, HA1: ha1, Nonce: nonce, Cnonce: "0a4f113b", NC: "00000001", QOP: digest.QOPAuth, Method: "GET", URI: "/auth/x"}
			out[i] = digest.Request{Method: "GET", URI: "/auth/x", Authorization: fmt.Sprintf(
				`Digest username="%s", realm="%s", uri="/auth/x", algorithm=SHA-256, nonce="%s", nc=00000001, cnonce="0a4f113b", qop=auth, response="%s", opaque="%s"`,
				user, realm, nonce, in.Response(), nonces.Opaque())}
		}
		return out
	}
	phase := func(reqs []digest.Request, want error) (time.Duration, error) {
		t0 := time.Now()
		for _, q := range reqs {
			if res := srv.Authenticate(q); res.OK || res.Err != want {
				return 0, fmt.Errorf("refusal: %+v, want %v", res, want)
			}
		}
		return time.Since(t0), nil
	}
	var ratios, us, ws []float64
	for i := range rounds + 1 {
		unknown, wrong := headers("mallory", "wonderland"), headers("alice", "not wonderland")
		var tu, tw time.Duration
		if i%2 == 0 {
			if tu, err = phase(unknown, digest.ErrUnknownUser); err == nil {
				tw, err = phase(wrong, digest.ErrResponse)
			}
		} else {
			if tw, err = phase(wrong, digest.ErrResponse); err == nil {
				tu, err = phase(unknown, digest.ErrUnknownUser)
			}
		}
		if err != nil {
			return r, err
		}
		if i == 0 {
			continue // the warm-up
		}
		ratios = append(ratios, float64(tu)/float64(tw))
		us = append(us, float64(tu.Nanoseconds())/per/1e3)
		ws = append(ws, float64(tw.Nanoseconds())/per/1e3)
	}
	for _, xs := range [][]float64{ratios, us, ws} {
		slices.Sort(xs)
	}
	median := ratios[len(ratios)/2]
	r.figure = fmt.Sprintf("unknown user: %.2f µs per refusal (median round)", us[len(us)/2])
	r.baseline = fmt.Sprintf("wrong password: %.2f µs per refusal (median round)", ws[len(ws)/2])
	r.ratio = fmt.Sprintf("%.3f", median)
	r.pass = median >= sameWorkLow && median <= sameWorkHigh
	r.note = fmt.Sprintf("%d rounds × %d refusals per variant after one round of warm-up, alternating which goes first; the ratio is the median of the rounds' time ratios (%.2f to %.2f)", rounds, per, ratios[0], ratios[len(ratios)-1])
	return r, nil
}
