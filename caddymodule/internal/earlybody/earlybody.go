// Package earlybody reads what is left of a request body before a
// handler answers without having read it (a refusal), so the client gets
// its answer rather than a reset. The csb handler and the http_digest
// provider both need it.
package earlybody

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxDiscard is how much of an unread request body is read before an
// early answer, the amount Go's HTTP/1 server discards itself.
const maxDiscard = 256 << 10

// unreadBodyWait bounds how long an early answer (a refusal such as a
// Digest 401) waits for more of a request body it did not read: the
// body must keep coming, at least one read every unreadBodyWait, and
// all of it within unreadBodyMaxWait.
const (
	unreadBodyWait    = time.Second
	unreadBodyMaxWait = 10 * time.Second
)

// ReadUnread reads what is left of a request body, up to maxDiscard
// bytes, before the handler chain answers without having read it (a
// refusal). With keep, it puts what it read back in front of r.Body, so
// that a handler that runs after all (another authentication provider of
// the same handler letting the request in) still gets the whole body. It
// waits at most unreadBodyWait for each read, so a client that stalls its
// body gets its answer about a second after it stalled, and one that
// trickles it at most unreadBodyMaxWait after the refusal.
//
// Both protocols need this. On HTTP/2, an answer sent while the client is
// still sending makes Go's server reset the stream, and some clients
// (curl 7.88) then report an empty reply instead of the answer. On
// HTTP/1.1, Go's server reads up to 256 KiB of an unread body itself
// before it writes the answer's header (Caddy's body wrappers hide from
// it how much is left), bounded only by Caddy's read_idle_timeout (1m by
// default): a client that stalled its body waited that long for its 401.
//
// When the body stops coming, the expired read deadline is left in
// place: Go's server's own read fails at once, and it answers and closes
// the connection (Connection: close on HTTP/1.1, a stream reset after the
// answer on HTTP/2). A body that keeps coming beyond maxDiscard is left
// to Go's server (on HTTP/1.1 it reads 256 KiB more, answers, and closes
// the connection once the client has taken the answer). "Connection:
// close" is not set here: with it Go's server closes at once, and a
// client still sending gets a reset instead of the answer. A client that
// waits for "100 Continue" is not read from (Go's server closes the
// connection instead of inviting the body).
func ReadUnread(w http.ResponseWriter, r *http.Request, keep bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 ||
		r.ProtoMajor < 2 && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	rc := http.NewResponseController(w)
	start := time.Now()
	deadline := func() time.Time {
		if d := time.Now().Add(unreadBodyWait); d.Before(start.Add(unreadBodyMaxWait)) {
			return d
		}
		return start.Add(unreadBodyMaxWait)
	}
	if err := rc.SetReadDeadline(deadline()); err != nil {
		// The wait cannot be bounded: do not read, and keep Go's HTTP/1
		// server from reading either.
		if r.ProtoMajor < 2 {
			w.Header().Set("Connection", "close")
		}
		return
	}
	var kept []byte
	var buf [32 << 10]byte
	read, err := 0, error(nil)
	for err == nil && read <= maxDiscard {
		if read > 0 {
			// More came: wait for the next part as long again.
			_ = rc.SetReadDeadline(deadline())
		}
		var n int
		n, err = r.Body.Read(buf[:min(len(buf), maxDiscard+1-read)])
		read += n
		if keep {
			kept = append(kept, buf[:n]...)
		}
	}
	if keep {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(kept), r.Body), r.Body}
	}
	if err == nil || err == io.EOF {
		// The whole body is here, or it keeps coming: no deadline of ours
		// for whoever reads on.
		_ = rc.SetReadDeadline(time.Time{})
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}
