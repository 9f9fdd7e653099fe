package nativeerr

import (
	"regexp"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// Redacted stands for a credential ScrubText took out.
const Redacted = "[redacted]"

// Credentials a provider's answer may echo, each matched with what
// follows up to where the credential ends. A provider (or a proxy or
// debug middleware in front of it) that echoes the request in an error
// body hands back the credentials the broker sent: the Authorization
// header (Basic is the password in base64; Digest's answer, the
// provider's bearer token), OpenStack's X-Auth-Token and X-Auth-Key,
// Keystone's token ids ("Could not find token: gAAAA..."), AWS's
// session token, or a JSON field of the credentials.
var (
	// headerEcho: a header whose value runs to the end of the line (a
	// Digest answer holds spaces and commas), or to its closing quote.
	headerEcho = regexp.MustCompile(`(?i)\b(proxy-authorization|authorization|www-authenticate|cookie|set-cookie|x-auth-token|x-auth-key|x-storage-token|x-storage-pass|x-service-token|x-subject-token|x-amz-security-token)(["']?\s*[:=]\s*)("[^"\r\n]*"?|'[^'\r\n]*'?|[^\r\n]*)`)
	// fieldEcho: a named secret, its value up to white space, a quote, a
	// bracket or a separator, and not ending in a full stop or a colon
	// ("password": "x", token=x&, "secret_access_key: x"). A value that
	// starts with a bracket ([redacted]) is not taken again.
	fieldEcho = regexp.MustCompile(`(?i)\b(password|passwd|secret|secret_access_key|aws_secret_access_key|application_credential_secret|access_token|auth_token|token|token_id|temp_url_sig|x-amz-signature|signature|api_key|apikey)(["']?\s*[:=]\s*)("[^"\r\n]*"?|'[^'\r\n]*'?|[^\s"',;&<>()\[\]{}]*[^\s"',;&<>()\[\]{}.:])`)
	// schemeEcho: an Authorization value without its header name.
	schemeEcho = regexp.MustCompile(`\b(Basic|Bearer|Digest|AWS4-HMAC-SHA256|Negotiate)\s+([A-Za-z0-9._~+/\-]{8,}=*|[A-Za-z]+=[^\r\n]*)`)
	// fernet: a Keystone Fernet token anywhere (they start gAAAAA).
	fernet = regexp.MustCompile(`\bgAAAAA[A-Za-z0-9_\-]{20,}=*`)
)

// ScrubText takes credentials out of a text that holds what a provider
// said or what a call failed with: echoed credential headers and fields
// (their values become Redacted), Authorization values, Keystone tokens,
// and the user info and query of URLs (peerurl.RedactText, the broker's
// one URL redaction). Texts a consumer reads (a job's reason) and logs
// are made of such texts; the broker's provider credentials must not
// reach either.
func ScrubText(s string) string {
	s = peerurl.RedactText(s)
	s = headerEcho.ReplaceAllString(s, "${1}${2}"+Redacted)
	s = fieldEcho.ReplaceAllString(s, "${1}${2}"+Redacted)
	s = schemeEcho.ReplaceAllString(s, "${1} "+Redacted)
	if strings.Contains(s, "gAAAAA") {
		s = fernet.ReplaceAllString(s, Redacted)
	}
	return s
}

// Scrub returns err with its text scrubbed (ScrubText), or err itself
// when there is nothing to take out. The result wraps err, so errors.Is
// and errors.As (a timeout, a provider's error code) see what err holds.
func Scrub(err error) error { return peerurl.RewriteError(err, ScrubText) }
