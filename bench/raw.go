package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// rawTimeout bounds each request of the raw client: writing it and
// reading its whole answer.
const rawTimeout = 30 * time.Second

// rawMaxHeaders and rawMaxBody bound the answers the raw client accepts.
const (
	rawMaxHeaders = 100
	rawMaxBody    = 64 << 20
)

// rawConns is a lean HTTP/1.1 client over raw TCP, for variants whose
// request builder is raw: worker w of a phase keeps one connection of its
// own to addr, dialled on first use and kept across the phases of the
// variant, writes each request with one Write and parses the answer
// itself, reusing its buffers so that a request allocates nothing. It
// needs a Content-Length in every answer: a chunked answer, or one
// without a length, is an error. An answer with "Connection: close" is
// accepted, and the worker's next request dials a new connection. After
// any error the worker's connection is closed, and its next request dials
// anew.
//
// It exists because the load generator runs on the measured machine, so
// its CPU is charged to the server's figures: net/http's client costs
// 60–100 µs of CPU per request, more than the server's HTTP handling.
type rawConns struct {
	addr  string
	mu    sync.Mutex // guards c of every conn against closeAll, which runs while workers are using them
	conns []*rawConn
}

// rawConn is one worker's connection and buffers.
type rawConn struct {
	c         net.Conn
	br        *bufio.Reader
	req, body []byte
	resp      http.Response
}

func newRawConns(addr string) *rawConns { return &rawConns{addr: addr} }

// ensure makes room for conc workers; it runs before a phase's workers
// start.
func (rc *rawConns) ensure(conc int) {
	for len(rc.conns) < conc {
		rc.conns = append(rc.conns, &rawConn{})
	}
}

// closeAll closes every connection, so that workers blocked on them
// return; it may run while they are in use.
func (rc *rawConns) closeAll() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, c := range rc.conns {
		if c.c != nil {
			c.c.Close()
		}
	}
}

// reset closes and forgets every connection; it runs between phases.
func (rc *rawConns) reset() {
	for _, c := range rc.conns {
		rc.drop(c)
	}
}

func (rc *rawConns) drop(c *rawConn) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends request i of worker w, built by build into the worker's
// buffer, and reads its answer. The answer's body is valid until the
// worker's next request; the *http.Response carries StatusCode,
// ContentLength and Close only. lat is the time from the write to the
// answer's last byte.
func (rc *rawConns) do(w, i int, build func(w, i int, buf []byte) []byte) (resp *http.Response, body []byte, lat time.Duration, err error) {
	c := rc.conns[w]
	c.req = build(w, i, c.req[:0])
	t0 := time.Now()
	resp, body, err = rc.roundTrip(c)
	lat = time.Since(t0)
	if err != nil || resp.Close {
		rc.drop(c)
	}
	return resp, body, lat, err
}

var (
	hContentLength    = []byte("Content-Length")
	hTransferEncoding = []byte("Transfer-Encoding")
	hConnection       = []byte("Connection")
	hClose            = []byte("close")
)

func (rc *rawConns) roundTrip(c *rawConn) (*http.Response, []byte, error) {
	if c.c == nil {
		conn, err := net.DialTimeout("tcp", rc.addr, rawTimeout)
		if err != nil {
			return nil, nil, err
		}
		rc.mu.Lock()
		c.c = conn
		rc.mu.Unlock()
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 8<<10)
		} else {
			c.br.Reset(conn)
		}
	}
	if err := c.c.SetDeadline(time.Now().Add(rawTimeout)); err != nil {
		return nil, nil, err
	}
	if _, err := c.c.Write(c.req); err != nil {
		return nil, nil, fmt.Errorf("writing the request: %w", err)
	}
	line, err := readLine(c.br)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the status line: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return nil, nil, fmt.Errorf("not an HTTP/1.x status line: %.100q", line)
	}
	status, ok := parseDigits(line[9:12])
	if !ok || (len(line) > 12 && line[12] != ' ') {
		return nil, nil, fmt.Errorf("not an HTTP/1.x status line: %.100q", line)
	}
	length, closing := -1, line[7] == '0' // HTTP/1.0 closes unless told otherwise; we never ask
	for h := 0; ; h++ {
		if h == rawMaxHeaders {
			return nil, nil, fmt.Errorf("more than %d header lines", rawMaxHeaders)
		}
		if line, err = readLine(c.br); err != nil {
			return nil, nil, fmt.Errorf("reading the header: %w", err)
		}
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, hContentLength):
			n, ok := parseDigits(value)
			if !ok || n > rawMaxBody {
				return nil, nil, fmt.Errorf("unsupported Content-Length %.40q", value)
			}
			length = n
		case bytes.EqualFold(name, hTransferEncoding):
			return nil, nil, fmt.Errorf("unsupported Transfer-Encoding %.40q (the raw client reads Content-Length bodies only)", value)
		case bytes.EqualFold(name, hConnection):
			closing = closing || bytes.EqualFold(value, hClose)
		}
	}
	if length < 0 {
		if status != http.StatusNoContent && status != http.StatusNotModified {
			return nil, nil, fmt.Errorf("HTTP %d without a Content-Length (the raw client reads Content-Length bodies only)", status)
		}
		length = 0
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	body := c.body[:length]
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, nil, fmt.Errorf("reading a body of %d bytes: %w", length, err)
	}
	c.resp = http.Response{StatusCode: status, ContentLength: int64(length), Close: closing}
	return &c.resp, body, nil
}

// readLine returns the next line of br without its line end; the line is
// valid until br's next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, io.EOF):
		return nil, errors.New("the server closed the connection")
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("a line longer than %d bytes", br.Size())
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseDigits parses a non-empty decimal number of at most 9 digits.
func parseDigits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int(d-'0')
	}
	return n, true
}

// appendRequest appends an HTTP/1.1 request with a body of the
// concatenation of parts to buf.
func appendRequest(buf []byte, method, host, path, contentType string, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	buf = append(buf, method...)
	buf = append(buf, ' ')
	buf = append(buf, path...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = append(buf, host...)
	if contentType != "" {
		buf = append(buf, "\r\nContent-Type: "...)
		buf = append(buf, contentType...)
	}
	buf = append(buf, "\r\nContent-Length: "...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	buf = append(buf, "\r\n\r\n"...)
	for _, p := range parts {
		buf = append(buf, p...)
	}
	return buf
}
