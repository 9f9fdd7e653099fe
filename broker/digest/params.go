package digest

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Param is one auth-param of a challenge or of credentials (RFC 7235
// section 2.1): a case-insensitive name and its value, unquoted.
type Param struct {
	Name   string
	Value  string
	Quoted bool // the value was a quoted-string
}

// Challenge is one challenge of a WWW-Authenticate header field: an
// auth-scheme with either auth-params or a token68.
type Challenge struct {
	Scheme  string
	Params  []Param
	Token68 string
}

// Get returns the value of the named parameter (case-insensitive).
func (c *Challenge) Get(name string) (string, bool) {
	return getParam(c.Params, name)
}

func getParam(pp []Param, name string) (string, bool) {
	for _, p := range pp {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// ErrMalformed is wrapped by every header parsing error.
var ErrMalformed = errors.New("malformed authentication header")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// maxHeaderLen bounds what the parser looks at: no legitimate Digest
// header comes close, and it keeps the work per request bounded.
const maxHeaderLen = 16 << 10

// maxParams bounds the number of auth-params in one challenge or
// credentials.
const maxParams = 64

// ParseChallenges parses a WWW-Authenticate (or Proxy-Authenticate) field
// value into its challenges (RFC 7235 section 4.1: 1#challenge). It accepts
// empty list elements, optional whitespace around "=" and ",", quoted
// strings with quoted-pairs and commas inside, and auth-scheme and
// parameter names in any case. A parameter that occurs twice in one
// challenge is an error (RFC 7235 section 2.1: "MUST only occur once").
func ParseChallenges(field string) ([]Challenge, error) {
	if len(field) > maxHeaderLen {
		return nil, malformed("header longer than %d bytes", maxHeaderLen)
	}
	p := parser{s: field}
	var out []Challenge
	for {
		p.skipListSeparators()
		if p.eof() {
			break
		}
		c, err := p.challenge(nil)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, malformed("no challenge")
	}
	return out, nil
}

// ParseCredentials parses an Authorization (or Proxy-Authorization) field
// value: one auth-scheme with auth-params or a token68 (RFC 7235 section
// 4.2). The same rules as ParseChallenges apply; anything after the
// credentials is an error.
func ParseCredentials(field string) (Challenge, error) {
	return parseCredentials(field, nil)
}

// parseCredentials is ParseCredentials appending the parameters to buf,
// so that a caller can parse into a stack array without allocating.
func parseCredentials(field string, buf []Param) (Challenge, error) {
	if len(field) > maxHeaderLen {
		return Challenge{}, malformed("header longer than %d bytes", maxHeaderLen)
	}
	p := parser{s: field}
	p.skipOWS()
	c, err := p.challenge(buf)
	if err != nil {
		return Challenge{}, err
	}
	p.skipListSeparators()
	if !p.eof() {
		return Challenge{}, malformed("unexpected %q after the credentials", p.rest())
	}
	return c, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) rest() string {
	r := p.s[p.i:]
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

func (p *parser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// skipListSeparators skips whitespace and empty list elements (",").
func (p *parser) skipListSeparators() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *parser) token() string {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// challenge parses: auth-scheme [ 1*SP ( token68 / #auth-param ) ]. It
// stops before a "," that starts the next challenge. Parameters are
// appended to buf (nil: a new slice).
func (p *parser) challenge(buf []Param) (Challenge, error) {
	// Separate locals rather than a Challenge being filled: escape analysis
	// is field-insensitive, and the scheme goes into error messages while
	// params must be able to stay in the caller's stack buffer.
	scheme := p.token()
	if scheme == "" {
		return Challenge{}, malformed("expected an auth-scheme at %q", p.rest())
	}
	if p.eof() || p.s[p.i] == ',' {
		return Challenge{Scheme: scheme}, nil
	}
	if p.s[p.i] != ' ' && p.s[p.i] != '\t' {
		return Challenge{}, malformed("unexpected %q after auth-scheme %q", p.s[p.i], scheme)
	}
	p.skipOWS()
	if p.eof() || p.s[p.i] == ',' {
		return Challenge{Scheme: scheme}, nil
	}
	if t68, ok := p.token68(); ok {
		return Challenge{Scheme: scheme, Token68: t68}, nil
	}
	params, err := p.authParams(buf)
	if err != nil {
		return Challenge{}, err
	}
	return Challenge{Scheme: scheme, Params: params}, nil
}

// authParams parses #auth-param, appending to buf. A "," followed by
// something that is not "name =" ends the list (it is the next
// challenge's auth-scheme); p is left on that ",".
func (p *parser) authParams(buf []Param) ([]Param, error) {
	params := buf[:0]
	for {
		save := p.i
		p.skipListSeparators()
		if p.eof() {
			return params, nil
		}
		name := p.token()
		p.skipOWS()
		if name == "" || p.eof() || p.s[p.i] != '=' {
			if len(params) == 0 {
				return nil, malformed("expected auth-param at %q", p.rest())
			}
			p.i = save // next challenge
			return params, nil
		}
		p.i++ // '='
		p.skipOWS()
		var v string
		quoted := false
		if !p.eof() && p.s[p.i] == '"' {
			var err error
			v, err = p.quotedString()
			if err != nil {
				return nil, err
			}
			quoted = true
		} else {
			v = p.token()
			if v == "" {
				return nil, malformed("empty value for %q", name)
			}
		}
		for _, q := range params {
			if len(q.Name) == len(name) && strings.EqualFold(q.Name, name) {
				return nil, malformed("parameter %q given twice", name)
			}
		}
		if len(params) >= maxParams {
			return nil, malformed("more than %d parameters", maxParams)
		}
		if params == nil {
			params = make([]Param, 0, 12) // a Digest header has about 11
		}
		params = append(params, Param{Name: name, Value: v, Quoted: quoted})
		p.skipOWS()
		if p.eof() {
			return params, nil
		}
		if p.s[p.i] != ',' {
			return nil, malformed("expected \",\" at %q", p.rest())
		}
	}
}

// token68 recognises 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
// *"=" standing alone (followed by the end or a ","), and consumes it. An
// auth-param ("name=value") is not a token68.
func (p *parser) token68() (string, bool) {
	i := p.i
	for i < len(p.s) && isToken68Char(p.s[i]) {
		i++
	}
	if i == p.i {
		return "", false
	}
	j := i
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	k := j
	for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false // "name = value" or garbage: not a token68
	}
	t := p.s[p.i:j]
	p.i = k
	return t, true
}

// quotedString parses a quoted-string (RFC 9110 section 5.6.4) and returns
// its unescaped content. It allocates only when the string holds a
// quoted-pair.
func (p *parser) quotedString() (string, error) {
	p.i++ // opening quote
	start := p.i
	var b []byte
	for p.i < len(p.s) {
		ch := p.s[p.i]
		switch {
		case ch == '"':
			var v string
			if b == nil {
				v = p.s[start:p.i]
			} else {
				v = string(b)
			}
			p.i++
			return v, nil
		case ch == '\\':
			if p.i+1 >= len(p.s) {
				return "", malformed("unterminated quoted-pair")
			}
			next := p.s[p.i+1]
			if !(next == '\t' || next >= 0x20 && next != 0x7f) {
				return "", malformed("invalid quoted-pair")
			}
			if b == nil {
				b = append(make([]byte, 0, len(p.s)-start), p.s[start:p.i]...)
			}
			b = append(b, next)
			p.i += 2
		case ch == '\t' || (ch >= 0x20 && ch != 0x7f):
			if b != nil {
				b = append(b, ch)
			}
			p.i++
		default:
			return "", malformed("control character in quoted-string")
		}
	}
	return "", malformed("unterminated quoted-string")
}

// isTchar reports whether c is a tchar (RFC 9110 section 5.6.2).
func isTchar(c byte) bool { return tchars[c] }

var tchars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = true
		}
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// appendQuoted appends s as a quoted-string, escaping '"' and '\'.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// quotable reports whether s can be sent in a quoted-string: no control
// characters (a quoted-pair cannot carry them either).
func quotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// isASCII reports whether s is printable US-ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// decodeExtValue decodes an RFC 8187 ext-value, as used by "username*":
// charset "'" [ language ] "'" value-chars. Only UTF-8 is accepted (RFC 7616
// section 4 allows no other charset).
func decodeExtValue(v string) (string, error) {
	charset, rest, ok := strings.Cut(v, "'")
	if !ok {
		return "", malformed("username* is not an ext-value")
	}
	if !strings.EqualFold(charset, "UTF-8") {
		return "", malformed("username* charset %q is not UTF-8", charset)
	}
	_, enc, ok := strings.Cut(rest, "'") // language is ignored
	if !ok {
		return "", malformed("username* is not an ext-value")
	}
	b := make([]byte, 0, len(enc))
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		switch {
		case c == '%':
			if i+2 >= len(enc) {
				return "", malformed("truncated percent-encoding in username*")
			}
			hi, ok1 := unhex(enc[i+1])
			lo, ok2 := unhex(enc[i+2])
			if !ok1 || !ok2 {
				return "", malformed("bad percent-encoding in username*")
			}
			b = append(b, hi<<4|lo)
			i += 2
		case isAttrChar(c):
			b = append(b, c)
		default:
			return "", malformed("invalid character in username*")
		}
	}
	if !utf8.Valid(b) {
		return "", malformed("username* is not valid UTF-8")
	}
	return string(b), nil
}

// appendExtValue appends s as an RFC 8187 ext-value: the charset UTF-8,
// an empty language tag and the percent-encoded octets.
func appendExtValue(dst []byte, s string) []byte {
	const hexdig = "0123456789ABCDEF"
	dst = append(dst, "UTF-8''"...)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttrChar(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexdig[c>>4], hexdig[c&15])
		}
	}
	return dst
}

// isAttrChar: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." /
// "^" / "_" / "`" / "|" / "~" (RFC 8187 section 3.2.1).
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

func unhex(c byte) (byte, bool) {
	v := hexValues[c]
	return v, v != 0xff
}

// hexValues maps a hex digit (either case) to its value, anything else to
// 0xff.
var hexValues = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()
