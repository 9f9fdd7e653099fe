package nativeerr

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
)

// TestScrubText: every echoed credential becomes Redacted; the words
// around it, and texts that merely talk of credentials, stay.
func TestScrubText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"basic header", "GET /cimi HTTP/1.1\nAuthorization: Basic Y3NiOnMzY3IzdA==\nHost: h", "GET /cimi HTTP/1.1\nAuthorization: [redacted]\nHost: h"},
		{"digest header", `Authorization: Digest username="csb", realm="r", nonce="n", response="0123abcd"`, "Authorization: [redacted]"},
		{"json header", `{"headers": {"X-Auth-Token": "gAAAAABtok", "Accept": "*/*"}}`, `{"headers": {"X-Auth-Token": [redacted], "Accept": "*/*"}}`},
		{"tempauth key", "X-Auth-User: acct:csb\r\nX-Auth-Key: s3cr3t\r\n", "X-Auth-User: acct:csb\r\nX-Auth-Key: [redacted]\r\n"},
		{"keystone token id", "Could not find token: gAAAAABlZ2xYfakeFernetTokenValue_-0123456789abcdef.", "Could not find token: [redacted]."},
		{"fernet alone", "token gAAAAABlZ2xYfakeFernetTokenValue_-0123456789 expired", "token [redacted] expired"},
		{"json password", `{"password": "s3cr3t", "user": "csb"}`, `{"password": [redacted], "user": "csb"}`},
		{"form secret", "secret_access_key=s3cr3t&region=eu", "secret_access_key=[redacted]&region=eu"},
		{"bare bearer", "sent Bearer abcdef0123456789 to the api", "sent Bearer [redacted] to the api"},
		{"url query", `Get "https://csb:***@h.example/c?temp_url_sig=s3cr3t": EOF`, `Get "https://h.example/c": EOF`},
		{"talk only", "the provider refused the configured credentials; no X-Auth-Token or X-Storage-Url in the answer", "the provider refused the configured credentials; no X-Auth-Token or X-Storage-Url in the answer"},
		{"aws message", "api error SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided.", "api error SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided."},
	} {
		if got := ScrubText(tc.in); got != tc.want {
			t.Errorf("%s: ScrubText = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestMessageHidesEchoedCredentials: a provider, or a proxy or debug
// middleware in front of it, that answers an error with the request it
// got echoes the credentials the broker sent. Message made the echo a
// job's reason; the credential must not be in it, whole or cut.
func TestMessageHidesEchoedCredentials(t *testing.T) {
	for _, body := range []string{
		"bad request\nPOST /cimi/machines HTTP/1.1\nHost: cloud.example.org\nAuthorization: Basic Y3NiOnMzY3IzdA==\nContent-Type: application/json\n",
		`<html><body><h1>400</h1><pre>X-Auth-Token: s3cr3t-token-value</pre></body></html>`,
		`{"message": "invalid request: Authorization=Bearer s3cr3t-bearer-value"}`,
		`{"error": {"message": "Could not find token: gAAAAABs3cr3tFernetTokenValue0123456789abcdef", "code": 404}}`,
	} {
		got := Message([]byte(body))
		for _, secret := range []string{"Y3NiOnMzY3IzdA", "s3cr3t", "gAAAAAB"} {
			if strings.Contains(got, secret) {
				t.Errorf("Message(%q) = %q holds %q", body, got, secret)
			}
		}
	}
}

// TestScrub: the scrubbed error keeps what it is.
func TestScrub(t *testing.T) {
	ue := &url.Error{Op: "Get", URL: "https://h.example/p?sig=s3cr3t", Err: context.DeadlineExceeded}
	err := Scrub(ue)
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "https://h.example/p") {
		t.Fatalf("Scrub = %q", err)
	}
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() || strings.Contains(ne.Error(), "s3cr3t") {
		t.Errorf("the scrubbed error is no longer the timeout it was: %v", err)
	}
	if Kind(0, err) != "timeout" {
		t.Errorf("Kind = %s", Kind(0, err))
	}
	plain := errors.New("nothing to hide")
	if Scrub(plain) != plain || Scrub(nil) != nil || Scrub(err) != err {
		t.Error("Scrub changed an error it had nothing to take out of")
	}
}
