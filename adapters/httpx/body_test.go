package httpx

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// TestBodyLimit: a body of MaxBody bytes is read whole, one byte more
// fails the call with KindServer, whether the peer announces its length
// (readBody sizes its buffer from it) or sends it chunked; a short body
// comes back as sent, with its length announced or not.
func TestBodyLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
		tooBig  bool
	}{
		{"small", 700, false, false},
		{"small_chunked", 700, true, false},
		{"empty", 0, false, false},
		{"max", MaxBody, false, false},
		{"max_chunked", MaxBody, true, false},
		{"over", MaxBody + 1, false, true},
		{"over_chunked", MaxBody + 1, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("x"), tc.size)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !tc.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				for rest := body; len(rest) > 0; {
					n := min(len(rest), 500)
					_, _ = w.Write(rest[:n])
					rest = rest[n:]
					if tc.chunked {
						w.(http.Flusher).Flush()
					}
				}
			}))
			defer srv.Close()
			resp, err := (&Client{}).Do(context.Background(), Call{Op: "t", Method: http.MethodGet, URL: srv.URL})
			if tc.tooBig {
				if contract.KindOf(err) != contract.KindServer || !strings.Contains(err.Error(), "too large") {
					t.Fatalf("%d bytes: %v, want KindServer, too large", tc.size, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(resp.Body, body) {
				t.Errorf("read %d bytes, want the %d sent", len(resp.Body), len(body))
			}
		})
	}
}
