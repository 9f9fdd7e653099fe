package csbconsole

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestCSRFToken(t *testing.T) {
	ctx := context.Background()
	k := &csrfKeeper{}
	now := time.Unix(1_800_000_000, 0)
	tok, err := k.token(ctx, "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.verify(ctx, "alice", tok, now.Add(time.Hour)); err != nil {
		t.Errorf("a fresh token of alice: %v", err)
	}
	// Tamper with the MAC's bytes, not the text: flipping a bit of a
	// base64 character may make it no base64 at all (malformed).
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-2] ^= 1
	tampered := base64.RawURLEncoding.EncodeToString(raw)
	for _, c := range []struct {
		name, user, tok string
		at              time.Time
		want            string
	}{
		{"empty", "alice", "", now, "no CSRF token"},
		{"malformed", "alice", "!!!", now, "malformed"},
		{"short", "alice", tok[:20], now, "malformed"},
		{"other user", "bob", tok, now, "not valid for this user"},
		{"tampered", "alice", tampered, now, "not valid"},
		{"expired", "alice", tok, now.Add(tokenMaxAge + time.Second), "expired"},
		{"from the future", "alice", tok, now.Add(-tokenSkew - time.Second), "expired"},
	} {
		err := k.verify(ctx, c.user, c.tok, c.at)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	// Another keeper (another process without shared storage) has another
	// key.
	if err := (&csrfKeeper{}).verify(ctx, "alice", tok, now); err == nil {
		t.Error("a token verified with another key")
	}
}

// TestCSRFKeyShared: two keepers on the same storage (two instances of a
// cluster) share the key, so each accepts the other's tokens.
func TestCSRFKeyShared(t *testing.T) {
	ctx := context.Background()
	st := &certmagic.FileStorage{Path: t.TempDir()}
	a, b := &csrfKeeper{storage: st}, &csrfKeeper{storage: st}
	now := time.Now()
	tok, err := a.token(ctx, "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.verify(ctx, "alice", tok, now); err != nil {
		t.Errorf("the second instance refuses the first's token: %v", err)
	}
	if key, err := st.Load(ctx, csrfKeyName); err != nil || len(key) != 32 {
		t.Errorf("stored key: %d bytes, %v", len(key), err)
	}
	// A damaged key is reported, not silently replaced.
	st2 := &certmagic.FileStorage{Path: t.TempDir()}
	if err := st2.Store(ctx, csrfKeyName, []byte("short")); err != nil {
		t.Fatal(err)
	}
	if _, err := (&csrfKeeper{storage: st2}).token(ctx, "alice", now); err == nil || !strings.Contains(err.Error(), "want 32") {
		t.Errorf("a 5-byte key: %v", err)
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		name   string
		https  bool
		hdr    map[string]string
		refuse bool
	}{
		{"no headers", false, nil, false},
		{"same origin", false, map[string]string{"Origin": "http://broker.test:8080", "Sec-Fetch-Site": "same-origin"}, false},
		{"same origin, https", true, map[string]string{"Origin": "https://broker.test:8080"}, false},
		{"scheme differs", true, map[string]string{"Origin": "http://broker.test:8080"}, true},
		{"other host", false, map[string]string{"Origin": "http://evil.test"}, true},
		{"other port", false, map[string]string{"Origin": "http://broker.test:8081"}, true},
		{"opaque", false, map[string]string{"Origin": "null"}, true},
		{"cross-site", false, map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
		{"same-site", false, map[string]string{"Sec-Fetch-Site": "same-site"}, true},
		{"none", false, map[string]string{"Sec-Fetch-Site": "none"}, true},
	} {
		r := httptest.NewRequest("POST", "http://broker.test:8080/console/new", nil)
		if c.https {
			r.TLS = &tls.ConnectionState{}
		}
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		if err := sameOrigin(r); (err != nil) != c.refuse {
			t.Errorf("%s: %v, refuse %v", c.name, err, c.refuse)
		}
	}
}
