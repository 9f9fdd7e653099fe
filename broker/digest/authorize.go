package digest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrAuthIntBody is returned by Authorize when the protection space asks
// for qop=auth-int (a digest of the body) and the request's body cannot
// be read twice (no GetBody): the sender streams it.
var ErrAuthIntBody = errors.New("digest: qop=auth-int needs a replayable request body")

// Authorize sets r's Authorization header for a request that another
// client sends, such as a reverse proxy forwarding to a Digest-protected
// origin: it answers the challenge the transport holds for r's origin
// (the one its own requests there were last challenged with), with the
// session's next nonce count, as RoundTrip's first try would.
//
// When the transport holds no challenge for the origin, Authorize fetches
// one first: a HEAD of r's URL, without credentials, through Base. It
// reports false, leaving r without credentials, when that request is not
// challenged (the origin does not protect the resource); it fails when it
// is challenged for anything but Digest, and for a host outside Hosts.
//
// The transport does not see the answer to r, so neither its rspauth nor
// its nextnonce: a nonce that has gone stale comes back to the sender as
// a 401. Give that answer's challenges to Challenged, and the next
// Authorize (a retry) uses the fresh nonce.
func (t *Transport) Authorize(ctx context.Context, r *http.Request) (bool, error) {
	if !t.allowed(r) {
		return false, fmt.Errorf("digest: host %q is not one the credentials are for", r.URL.Host)
	}
	key := origin(r)
	sess := t.session(key)
	if sess == nil {
		ok, err := t.fetchChallenge(ctx, r)
		if err != nil || !ok {
			return false, err
		}
		if sess = t.session(key); sess == nil {
			return false, nil
		}
	}
	getBody := func() (io.ReadCloser, error) { return http.NoBody, nil }
	if r.Body != nil && r.Body != http.NoBody {
		if r.GetBody == nil {
			t.mu.Lock()
			intBody := sess.qop == QOPAuthInt
			t.mu.Unlock()
			if intBody {
				return false, ErrAuthIntBody
			}
		} else {
			getBody = r.GetBody
		}
	}
	if _, err := t.authorize(r, sess, getBody); err != nil {
		return false, err
	}
	return true, nil
}

// Challenged adopts the strongest Digest challenge among the
// WWW-Authenticate values of a 401 answered to a request for r's origin
// that the transport did not send (see Authorize), so that later requests
// to the origin use it. It reports whether there was one it can answer.
func (t *Transport) Challenged(r *http.Request, wwwAuthenticate []string) bool {
	if !t.allowed(r) {
		return false
	}
	chal, ok := t.pick(wwwAuthenticate)
	if ok {
		t.setSession(origin(r), chal)
	}
	return ok
}

// fetchChallenge sends a HEAD of r's URL without credentials and adopts
// the Digest challenge of its 401. It reports false when the answer is
// not a 401, and fails for a 401 without a challenge the transport can
// answer (it never answers Basic).
func (t *Transport) fetchChallenge(ctx context.Context, r *http.Request) (bool, error) {
	head, err := http.NewRequestWithContext(ctx, http.MethodHead, r.URL.String(), nil)
	if err != nil {
		return false, err
	}
	head.Host = r.Host
	resp, err := t.base().RoundTrip(head)
	if err != nil {
		return false, err
	}
	drain(resp)
	if resp.StatusCode != http.StatusUnauthorized {
		return false, nil
	}
	if !t.Challenged(r, resp.Header.Values("Www-Authenticate")) {
		return false, fmt.Errorf("digest: %s asks for an authentication other than Digest with an algorithm and qop this client supports", origin(r))
	}
	return true, nil
}
