package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer starts a plain HTTP server with h and counts its connections.
func rawServer(t *testing.T, h http.HandlerFunc) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), conns
}

// rawVariant posts request i to path /n/i with a body of i%3000 bytes.
func rawVariant(addr string, check func(*http.Response, []byte) error) variant {
	return variant{name: "raw", conns: newRawConns(addr), check: check, raw: func(_, i int, buf []byte) []byte {
		return appendRequest(buf, http.MethodPost, addr, "/n/"+strconv.Itoa(i), "text/plain", bytes.Repeat([]byte{'x'}, i%3000))
	}}
}

// answerLength is the length of the answer to request i: its number, a
// colon and filler.
func answerLength(i int) int { return 8 + (i*37)%5000 }

func TestRawClient(t *testing.T) {
	var served atomic.Int64
	addr, conns := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/n/"))
		body, _ := io.ReadAll(r.Body)
		if err != nil || r.Header.Get("Content-Type") != "text/plain" || len(body) != i%3000 || strings.Trim(string(body), "x") != "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		served.Add(1)
		out := fmt.Appendf(nil, "%d:", i)
		out = append(out, bytes.Repeat([]byte{'y'}, answerLength(i)-len(out))...)
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.Write(out)
	})
	var checked atomic.Int64
	v := rawVariant(addr, func(resp *http.Response, body []byte) error {
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
		}
		num, filler, _ := bytes.Cut(body, []byte(":"))
		i, err := strconv.Atoi(string(num))
		if err != nil || len(body) != answerLength(i) || strings.Trim(string(filler), "y") != "" {
			return fmt.Errorf("a body of %d bytes does not match: %.40q", len(body), body)
		}
		checked.Add(1)
		return nil
	})
	for range 2 {
		p, err := runPhase(v, 200, 4, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if p.n != 200 || len(p.lat) != 200 {
			t.Fatalf("a phase of %d requests, %d latencies", p.n, len(p.lat))
		}
	}
	if served.Load() != 400 || checked.Load() != 400 {
		t.Errorf("served %d, checked %d, want 400", served.Load(), checked.Load())
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections for 4 workers over two phases, want 4", n)
	}
}

func TestRawClientErrors(t *testing.T) {
	t.Run("500", func(t *testing.T) {
		addr, _ := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "broken", http.StatusInternalServerError)
		})
		_, err := runPhase(rawVariant(addr, nil), 200, 4, 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
			t.Fatalf("got %v, want HTTP 500", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		// An answer with Connection: close is accepted; the next request
		// dials anew.
		addr, conns := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "ok")
		})
		if _, err := runPhase(rawVariant(addr, nil), 50, 4, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if n := conns.Load(); n != 50 {
			t.Errorf("%d connections for 50 requests answered Connection: close", n)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		addr, _ := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
			w.(http.Flusher).Flush()
		})
		_, err := runPhase(rawVariant(addr, nil), 20, 4, 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), `Transfer-Encoding "chunked"`) {
			t.Fatalf("got %v, want an unsupported Transfer-Encoding", err)
		}
	})
	t.Run("no length", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			c, err := ln.Accept()
			if err == nil {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nok")
				time.Sleep(time.Second)
				c.Close()
			}
		}()
		_, err = runPhase(rawVariant(ln.Addr().String(), nil), 1, 1, 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), "without a Content-Length") {
			t.Fatalf("got %v, want an answer without a Content-Length", err)
		}
	})
	t.Run("hung", func(t *testing.T) {
		// The phase's time limit stops workers waiting for an answer.
		release := make(chan struct{})
		addr, _ := rawServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
		t.Cleanup(func() { close(release) }) // before the server closes
		t0 := time.Now()
		_, err := runPhase(rawVariant(addr, nil), 20, 4, 200*time.Millisecond)
		if err == nil || time.Since(t0) > 5*time.Second {
			t.Fatalf("got %v after %s, want the phase's time limit", err, time.Since(t0))
		}
	})
}
