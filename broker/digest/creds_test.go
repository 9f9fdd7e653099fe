package digest

import (
	"strings"
	"testing"
)

// credsSeeds are Authorization values on both sides of the fast path's
// edges.
var credsSeeds = []string{
	`Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
	`DIGEST USERNAME="a", Realm="r", NONCE="n", Uri="/", RESPONSE="00", userhash=TRUE`,
	`Digest username*=UTF-8''J%C3%A4s%C3%B8n, realm="r", nonce="n", uri="/", response="0"`,
	`Digest username="a", realm="r", nonce="n", uri="/", response="0", foo=bar`,
	`Digest username="a", realm="r", realm="r", nonce="n", uri="/", response="0"`,
	`Digest username="a", realm="r", REALM="s", nonce="n", uri="/", response="0"`,
	`Digest username="a\"b", realm="r", nonce="n", uri="/", response="0"`,
	"Digest username=\"a\tb\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"0\"",
	"Digest\tusername=\"a\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"0\"",
	`Digest username="a",, realm="r", nonce="n", uri="/", response="0"`,
	`Digest username="a", realm="r", nonce="n", uri="/", response="0",`,
	`Digest username="a", realm="r", nonce="n", uri="/", response="0" , `,
	`Digest username = "a" , realm="r",nonce="n",uri="/",response="0"`,
	`Digest username="a", realm="r", nonce="n", uri="/", response="0", Basic realm="x"`,
	`Digest username="a", realm="r"x, nonce="n", uri="/", response="0"`,
	`Digest username="a", realm=, nonce="n"`,
	`Digest realm="r", nonce="n", uri="/", response="0"`,
	`Digest username="a", username*=UTF-8''a, realm="r", nonce="n", uri="/", response="0"`,
	`Digest username="a", realm="r", nonce="n", uri="/"`,
	`Digest abc==`,
	`Digest nc=1`,
	`Digestx realm="r"`,
	`Basic YWxhZGRpbjpvcGVuc2VzYW1l`,
	` Digest username="a", realm="r", nonce="n", uri="/", response="0"`,
	"Digest username=\"\xff\xfe\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"0\"",
	`Digest username="a", realm="r, nonce="n", uri="/", response="0"`,
	`Digest username="a", realm="r", nonce="n", uri="/", response="0", userhash="false", userhash=true`,
}

// TestParseCredsFastPathAgrees checks the seeds through both parsers.
func TestParseCredsFastPathAgrees(t *testing.T) {
	fast := 0
	for _, s := range credsSeeds {
		if checkFastPath(t, s) {
			fast++
		}
	}
	// The fast path must actually take the ordinary forms.
	if fast < 6 {
		t.Fatalf("the fast path took %d of %d seeds", fast, len(credsSeeds))
	}
	c, err := parseCreds(credsSeeds[0])
	if err != nil {
		t.Fatal(err)
	}
	want := creds{username: "Mufasa", realm: "http-auth@example.org", uri: "/dir/index.html", algorithm: "SHA-256",
		nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc: "00000001", cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
		qop: "auth", response: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
		has: hasUsername | hasRealm | hasURI | hasAlgorithm | hasNonce | hasNC | hasCnonce | hasQOP | hasResponse | hasOpaque}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if c, err := parseCreds(credsSeeds[1]); err != nil || !c.userhash || c.username != "a" {
		t.Fatalf("upper-case names: %+v %v", c, err)
	}
}

// checkFastPath fails t when the fast path answers s differently from the
// general parser, and reports whether the fast path answered.
func checkFastPath(t *testing.T, s string) bool {
	t.Helper()
	fc, ok := parseCredsFast(s)
	if !ok {
		return false
	}
	ferr := checkCreds(&fc)
	gc, gerr := parseCredsGeneral(s)
	if (ferr == nil) != (gerr == nil) || ferr != nil && ferr.Error() != gerr.Error() {
		t.Fatalf("%q: fast path error %v, general parser %v", s, ferr, gerr)
	}
	if fc != gc {
		t.Fatalf("%q: fast path %+v\ngeneral parser %+v", s, fc, gc)
	}
	return true
}

// FuzzParseCredsFastPath: whatever the fast path accepts, the general
// parser reads the same way.
func FuzzParseCredsFastPath(f *testing.F) {
	for _, s := range credsSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkFastPath(t, s)
		if _, ok := parseCredsFast(s); ok && strings.ContainsAny(s, "\\\t\x00") {
			t.Fatalf("%q: the fast path took an escape, a tab or a NUL", s)
		}
	})
}
