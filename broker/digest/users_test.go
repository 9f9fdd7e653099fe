package digest

import (
	"strings"
	"testing"
	"time"
)

func TestLoadHTDigest(t *testing.T) {
	md5 := HA1(MD5, "Mufasa", "broker", "Circle of Life")
	sha := HA1(SHA256, "Mufasa", "broker", "Circle of Life")
	file := strings.Join([]string{
		"# comment",
		"",
		"Mufasa:broker:" + md5,
		"Mufasa:other-realm:" + HA1(MD5, "Mufasa", "other-realm", "x"),
		FormatHTDigest("Mufasa", "broker", SHA256, strings.ToUpper(sha)),
		"Rafiki:broker:" + HA1(MD5, "Rafiki", "broker", "baboon") + "\r",
	}, "\n")
	u := NewUsers("broker")
	n, err := u.LoadHTDigest(strings.NewReader(file))
	if err != nil || n != 3 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if h, ok := u.Lookup("Mufasa", MD5Sess); !ok || h != md5 {
		t.Fatal("MD5 HA1")
	}
	if h, ok := u.Lookup("Mufasa", SHA256); !ok || h != sha {
		t.Fatal("SHA-256 HA1 (upper case normalised)")
	}
	if _, ok := u.Lookup("Mufasa", SHA512_256); ok {
		t.Fatal("phantom SHA-512-256 HA1")
	}
	if name, ok := u.LookupHash(UserHash(SHA256, "Mufasa", "broker"), SHA256Sess); !ok || name != "Mufasa" {
		t.Fatal("userhash index")
	}
	if u.Len() != 2 || !u.Has(MD5) || u.Has(SHA512_256) {
		t.Fatal("counts")
	}
	if FormatHTDigest("Mufasa", "broker", MD5, md5) != "Mufasa:broker:"+md5 {
		t.Fatal("MD5 lines are Apache's three fields")
	}
}

func TestLoadHTDigestErrors(t *testing.T) {
	secret := HA1(MD5, "a", "broker", "p")
	for name, file := range map[string]string{
		"two fields":  "a:broker",
		"five fields": "a:broker:x:y:z",
		"bad hex":     "a:broker:" + strings.Repeat("g", 32),
		"short":       "a:broker:abc",
		"sess":        "a:broker:MD5-sess:" + secret,
		"unknown alg": "a:broker:SHA-1:" + secret,
		"duplicate":   "a:broker:" + secret + "\na:broker:" + secret,
		"sha len":     "a:broker:SHA-256:" + secret,
	} {
		_, err := NewUsers("broker").LoadHTDigest(strings.NewReader(file))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "line ") {
			t.Errorf("%s: error %q does not name the line", name, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error %q quotes the HA1", name, err)
		}
	}
}

func TestNoncesRoundTrip(t *testing.T) {
	key := []byte("a shared cluster key of 32 bytes")
	a, _ := NewNonces(key, "r")
	b, _ := NewNonces(key, "r")
	other, _ := NewNonces(key, "another realm")
	now := time.Unix(1700000000, 123)
	n := a.Issue(now)
	if len(n) != NonceLen {
		t.Fatalf("len %d", len(n))
	}
	id, issued, ok := b.Check(n)
	if !ok || !issued.Equal(now) || id.issuedNanos() != now.UnixNano() {
		t.Fatalf("check: %v %v", ok, issued)
	}
	if _, _, ok := other.Check(n); ok {
		t.Fatal("nonce accepted for another realm")
	}
	if a.Issue(now) == n {
		t.Fatal("two nonces alike")
	}
	if a.Opaque() != b.Opaque() || a.Opaque() == other.Opaque() {
		t.Fatal("opaque must be per key and realm")
	}
	// Flip every character: each flip must be caught.
	for i := range n {
		for _, c := range []byte{'A', 'z', '0', '-'} {
			if n[i] == c {
				continue
			}
			m := n[:i] + string(c) + n[i+1:]
			if _, _, ok := a.Check(m); ok {
				t.Fatalf("tampered nonce %q accepted", m)
			}
		}
	}
	for _, bad := range []string{"", "short", n + "A", strings.Repeat("=", NonceLen)} {
		if _, _, ok := a.Check(bad); ok {
			t.Fatalf("%q accepted", bad)
		}
	}
}
