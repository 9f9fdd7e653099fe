package peerurl

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Redact is u as messages and logs may show it: its scheme, host and
// path, without its user info, query and fragment. Those are where URLs
// carry credentials: "https://user:password@host/", a presigned S3 URL's
// X-Amz-Signature, a Swift temp URL's temp_url_sig, a subscriber's or
// publisher's ?token=. Errors and logs reach consumers (a job's reason)
// and operators who are not to see the providers' secrets; the scheme,
// host and path still say which call failed.
//
// This is the one redaction of URLs for the broker's texts: the adapters
// (adapters/httpx and the others), the webhook dispatcher and the
// subscription sender use it too.
func Redact(u *url.URL) string {
	if u == nil {
		return "<nil>"
	}
	if u.User == nil && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.Opaque == "" {
		return u.String()
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	if c.Opaque != "" {
		// "https:user:password@host/" parses as an opaque URL; its
		// opaque part may hold the user info, so only the scheme stays.
		c.Opaque = "..."
	}
	return c.String()
}

// RedactString is Redact of a URL in text form. A string that does not
// parse as a URL (a bad port, say, which a password with a "/" in it
// makes) is cut before its query and fragment, and what precedes an "@"
// after the scheme is dropped.
func RedactString(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return Redact(u)
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if at := strings.LastIndex(raw, "@"); at >= 0 {
		start := 0
		if i := strings.Index(raw, "://"); i >= 0 && i < at {
			start = i + len("://")
		}
		raw = raw[:start] + raw[at+1:]
	}
	return raw
}

// urlInText matches an absolute URL in a text, up to white space, a
// quote or an angle bracket (Go's *url.Error quotes its URL).
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>` + "`" + `]+`)

// RedactText redacts (Redact) every absolute URL in s that has user info,
// a query or a fragment; the rest of s stays as it is.
func RedactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, func(m string) string {
		if !strings.ContainsAny(m, "@?#") {
			return m
		}
		// Punctuation that closes the sentence or a bracket around the
		// URL is kept after it.
		body := strings.TrimRight(m, ".,;:)]}")
		return RedactString(body) + m[len(body):]
	})
}

// RedactError returns err with every URL in its text redacted
// (RedactText), or err itself when its text holds none to redact. The
// result wraps err: errors.Is and errors.As see what err holds (a
// timeout, a refusal). net/http's Client.Do returns a *url.Error whose
// text holds the request's URL with its query and user name (it masks
// the password only): pass such errors through here before they become
// a job's reason, a delivery's or subscription's last error, or a log
// line.
func RedactError(err error) error { return RewriteError(err, RedactText) }

// RewriteError returns err with its text passed through rewrite, or err
// itself when rewrite changes nothing (rewrite must be idempotent: an
// error rewritten twice is then wrapped once). The result wraps err, so
// errors.Is and errors.As (a timeout, a provider's error code, a
// refusal) see what err holds. RedactError and the adapters' scrubbing
// of echoed credentials (adapters/internal/nativeerr) are its uses.
func RewriteError(err error, rewrite func(string) string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	s := rewrite(msg)
	if s == msg {
		return err
	}
	return &rewrittenError{msg: s, err: err}
}

// rewrittenError is an error whose text is rewritten.
type rewrittenError struct {
	msg string
	err error
}

func (e *rewrittenError) Error() string { return e.msg }
func (e *rewrittenError) Unwrap() error { return e.err }

// Timeout reports whether the wrapped error is a timeout: errors.As for
// a net.Error finds the rewritten error, not the one whose text it hides.
func (e *rewrittenError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

// Temporary is the wrapped error's, as net.Error has it.
func (e *rewrittenError) Temporary() bool {
	var t interface{ Temporary() bool }
	return errors.As(e.err, &t) && t.Temporary()
}
