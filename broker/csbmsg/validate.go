package csbmsg

import (
	"encoding/xml"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Value checks shared by the parsers and the serialisers. Each mirrors
// the lexical space of the schema type, after the type's whitespace
// facet, and is at least as strict as libxml2's xmllint (the reference
// validator of the test suite), so that what the serialisers accept always
// validates.

// collapse applies the XSD whitespace facet "collapse": runs of
// whitespace become one space, leading and trailing whitespace go.
func collapse(s string) string {
	// Fast path: nothing to do.
	clean := true
	prevSpace := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\t' || c == '\n' || c == '\r' {
			clean = false
			break
		}
		if c == ' ' {
			if prevSpace {
				clean = false
				break
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
	}
	if clean && (len(s) == 0 || s[len(s)-1] != ' ') {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}), " ")
}

// isNMTOKEN reports whether s is an xsd:NMTOKEN: one or more XML name
// characters. Name characters are those of XML 1.0 fourth edition
// (appendix B), which is what both Go's encoding/xml and libxml2's schema
// validator use.
func isNMTOKEN(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return isNameCharsSlow(s)
		}
		if !isNameByte(c) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-'
}

// isNameCharsSlow checks a token with non-ASCII characters by asking
// encoding/xml whether "a"+s is a valid element name; encoding/xml checks
// every character against the XML 1.0 fourth-edition tables.
func isNameCharsSlow(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	// ':' is a name character, but encoding/xml splits names at colons.
	s = strings.ReplaceAll(s, ":", "_")
	d := xml.NewDecoder(strings.NewReader("<a" + s + "/>"))
	tok, err := d.RawToken()
	if err != nil {
		return false
	}
	se, ok := tok.(xml.StartElement)
	if !ok {
		return false
	}
	return se.Name.Space == "" && se.Name.Local == "a"+s
}

// isNCName reports whether s is a non-colonised XML name.
func isNCName(s string) bool {
	if s == "" || strings.IndexByte(s, ':') >= 0 {
		return false
	}
	c := s[0]
	if c < utf8.RuneSelf && !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_') {
		return false
	}
	return isNMTOKEN(s)
}

// parseUint parses an xsd:nonNegativeInteger (after collapsing) as a
// uint64: decimal digits only. The schema type also allows a leading "+"
// (and "-0"); this codec refuses any sign, and values beyond 2^64-1, as
// invalid values (status 400).
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 64 {
		// 64 digits is far beyond uint64; leading zeros are allowed, but
		// not unboundedly.
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// parseStatus parses status.datatype: a positiveInteger written with
// exactly three digits ("200", "420"; "001" is 1).
func parseStatus(s string) (Status, bool) {
	if len(s) != 3 {
		return 0, false
	}
	v := 0
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	if v == 0 {
		return 0, false
	}
	return Status(v), true
}

// formatStatus writes a status the way status.datatype requires.
func formatStatus(s Status) (string, bool) {
	if s < 1 || s > 999 {
		return "", false
	}
	v := int(s)
	return string([]byte{byte('0' + v/100), byte('0' + v/10%10), byte('0' + v%10)}), true
}

// CleanText returns s with every character XML 1.0 cannot carry (control
// characters other than tab, newline and carriage return, U+FFFE, U+FFFF,
// surrogates) and every byte that is not part of valid UTF-8 replaced by
// U+FFFD, so that the serialisers take it as a string value. It is meant
// for explanatory text that comes from elsewhere, such as a provider's
// error message in the reason of an answer: the serialisers refuse a value
// they cannot write rather than change it, and a reason is better shown
// with a replacement character than not at all.
func CleanText(s string) string {
	if isXMLString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || !(r == '\t' || r == '\n' || r == '\r' ||
			r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// isXMLString reports whether s holds only characters XML 1.0 allows
// (production [2] Char) and is valid UTF-8.
func isXMLString(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return false
		}
		if !(r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
		i += n
	}
	return true
}

// isAnyURI reports whether s (already collapsed) is an xsd:anyURI the way
// libxml2 judges it: characters that XLink says to escape (space,
// non-ASCII, < > " { } | \ ^ ` ') are taken as escaped, and the result
// must be an RFC 3986 URI-reference. Where RFC 3986 is stricter than
// libxml2 (IP literals, port range) RFC 3986 is applied.
func isAnyURI(s string) bool {
	if s == "" {
		return true
	}
	if !isXMLString(s) {
		return false
	}
	// Map the characters libxml2 escapes to an unreserved character.
	u := s
	for i := 0; i < len(s); i++ {
		if libxmlEscapes[s[i]] {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if libxmlEscapes[b[j]] {
					b[j] = '_'
				}
			}
			u = string(b)
			break
		}
	}

	// Fragment and query.
	if i := strings.IndexByte(u, '#'); i >= 0 {
		if !uriChars(u[i+1:], "/?:@") {
			return false
		}
		u = u[:i]
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		if !uriChars(u[i+1:], "/?:@") {
			return false
		}
		u = u[:i]
	}

	// Scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" before any
	// "/". Otherwise a relative reference, whose first segment must not
	// contain ":".
	hasScheme := false
	if i := strings.IndexByte(u, ':'); i >= 0 && !strings.ContainsRune(u[:i], '/') {
		if !isScheme(u[:i]) {
			return false
		}
		hasScheme = true
		u = u[i+1:]
	}
	if strings.HasPrefix(u, "//") {
		u = u[2:]
		end := strings.IndexByte(u, '/')
		if end < 0 {
			end = len(u)
		}
		if !isAuthority(u[:end]) {
			return false
		}
		u = u[end:]
	} else if !hasScheme {
		first := u
		if i := strings.IndexByte(first, '/'); i >= 0 {
			first = first[:i]
		}
		if strings.IndexByte(first, ':') >= 0 {
			return false
		}
	}
	return uriChars(u, "/:@")
}

func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func isAuthority(a string) bool {
	if i := strings.IndexByte(a, '@'); i >= 0 {
		if !uriChars(a[:i], ":") {
			return false
		}
		a = a[i+1:]
	}
	host := a
	port := ""
	hasPort := false
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return false
		}
		host, port = a[1:end], a[end+1:]
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port, hasPort = port[1:], true
		}
		if !isIPLiteral(host) {
			return false
		}
	} else {
		if i := strings.LastIndexByte(a, ':'); i >= 0 {
			host, port, hasPort = a[:i], a[i+1:], true
		}
		if !uriChars(host, "") {
			return false
		}
	}
	if hasPort {
		// RFC 3986 allows an empty port; libxml2 does not.
		if port == "" || len(port) > 5 {
			return false
		}
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return false
			}
		}
		if p, _ := strconv.Atoi(port); p > 65535 {
			return false
		}
	}
	return true
}

func isIPLiteral(h string) bool {
	if strings.HasPrefix(h, "v") || strings.HasPrefix(h, "V") {
		dot := strings.IndexByte(h, '.')
		if dot < 2 || dot == len(h)-1 {
			return false
		}
		for i := 1; i < dot; i++ {
			if !isHex(h[i]) {
				return false
			}
		}
		return uriChars(h[dot+1:], ":") && !strings.ContainsRune(h[dot+1:], '%')
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Is6() && a.Zone() == ""
}

// uriChars reports whether s consists of unreserved characters,
// sub-delims, percent-encodings and the extra characters given.
func uriChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case uriUnreservedOrSubDelim[c]:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		case strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// libxmlEscapes holds the bytes isAnyURI maps to '_' before checking a
// URI: controls, non-ASCII bytes, and " <>\"{}|\\^`'".
var libxmlEscapes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 32 || c >= 127 || strings.IndexByte(" <>\"{}|\\^`'", byte(c)) >= 0
	}
	return t
}()

// uriUnreservedOrSubDelim holds RFC 3986's unreserved characters and
// sub-delims.
var uriUnreservedOrSubDelim = func() (t [256]bool) {
	for c := range 256 {
		b := byte(c)
		t[c] = 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=", b) >= 0
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// sanitize makes s safe to quote in an error reason: at most n bytes
// (cut on a rune boundary) and only XML characters.
func sanitize(s string, n int) string {
	var b strings.Builder
	for i, r := range s {
		if i >= n {
			b.WriteString("...")
			break
		}
		if r == utf8.RuneError || !(r == '\t' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			r = '?'
		}
		if r == '\n' || r == '\r' || r == '\t' {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}
