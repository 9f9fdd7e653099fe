package caddymodule

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestReadBodyEveryContentEncoding: a content coding on a second
// Content-Encoding line (a proxy that adds its own, or a client that sets
// both) is refused 415 as one on the first line is. Only the first line
// was looked at: "identity" then "gzip" passed, and the gzip bytes went to
// the codec, which answered a protocol 400 about invalid UTF-8 instead of
// the HTTP 415 the interface promises for any content coding.
func TestReadBodyEveryContentEncoding(t *testing.T) {
	x, _ := newXML(t, &XMLConfig{})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(a1))
	_ = zw.Close()
	for name, lines := range map[string][]string{
		"identity then gzip": {"identity", "gzip"},
		"empty then gzip":    {"", "gzip"},
		"list":               {"identity, gzip"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/csb/publish", bytes.NewReader(gz.Bytes()))
		r.Header.Set("Content-Type", csbmsg.PublishMediaType)
		for _, v := range lines {
			r.Header.Add("Content-Encoding", v)
		}
		_, _, err := x.readBody(httptest.NewRecorder(), r, csbmsg.PublishMediaType)
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("%s: got %v, want 415", name, err)
		}
	}
	// Identity, however often it is said, is no coding.
	r := publishRequest(a1, "Content-Type", csbmsg.PublishMediaType)
	r.Header.Add("Content-Encoding", "identity")
	r.Header.Add("Content-Encoding", "Identity")
	if body, _, err := x.readBody(httptest.NewRecorder(), r, csbmsg.PublishMediaType); err != nil || string(body) != a1 {
		t.Fatalf("identity twice: %v", err)
	}
}
