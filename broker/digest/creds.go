package digest

import "strings"

// creds are the parameters of Digest credentials.
type creds struct {
	username, usernameStar, realm, nonce, uri, response string
	algorithm, cnonce, opaque, qop, nc                  string
	userhash                                            bool
	has                                                 uint16
}

const (
	hasUsername = 1 << iota
	hasUsernameStar
	hasRealm
	hasNonce
	hasURI
	hasResponse
	hasAlgorithm
	hasCnonce
	hasOpaque
	hasQOP
	hasNC
	hasUserhash
)

// parseCreds parses the Authorization field value of a Digest request.
//
// Every request pays for it, so it first tries a single pass over the
// form real clients send: "Digest", then known parameters, each once,
// separated by commas, with quoted values free of escapes. Anything else
// (another scheme, an unknown or repeated parameter, a quoted-pair, empty
// list elements, a control character, ...) is handed to the general RFC
// 7235 parser, whose answer is authoritative: the fast path only ever
// returns what the general one would (FuzzParseCredsFastPath checks it).
func parseCreds(field string) (creds, error) {
	if c, ok := parseCredsFast(field); ok {
		return c, checkCreds(&c)
	}
	return parseCredsGeneral(field)
}

// parseCredsFast is the fast path of parseCreds. ok is false when it
// cannot tell, and the general parser must decide.
func parseCredsFast(s string) (c creds, ok bool) {
	if len(s) > maxHeaderLen || len(s) < len("Digest ") ||
		!strings.EqualFold(s[:len("Digest")], "Digest") || s[6] != ' ' {
		return c, false
	}
	i := 7
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		// name
		start := i
		for i < len(s) && isTchar(s[i]) {
			i++
		}
		name := s[start:i]
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if name == "" || i >= len(s) || s[i] != '=' {
			return c, false
		}
		i++
		for i < len(s) && s[i] == ' ' {
			i++
		}
		// value
		var v string
		if i < len(s) && s[i] == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return c, false
			}
			v = s[i+1 : i+1+end]
			for j := 0; j < len(v); j++ {
				if ch := v[j]; ch < 0x20 || ch == 0x7f || ch == '\\' {
					return c, false // a tab, a quoted-pair or a control character
				}
			}
			i += end + 2
		} else {
			start := i
			for i < len(s) && isTchar(s[i]) {
				i++
			}
			if v = s[start:i]; v == "" {
				return c, false
			}
		}
		bit := c.set(name, v)
		if bit == 0 {
			return c, false // an unknown or repeated parameter
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i == len(s) {
			return c, true
		}
		if s[i] != ',' {
			return c, false
		}
		i++
		if i == len(s) {
			return c, false // a trailing comma: let the general parser judge
		}
	}
}

// set stores the value of a known parameter that was not given before and
// returns its bit; it returns 0 otherwise.
func (c *creds) set(name, v string) uint16 {
	var bit uint16
	var dst *string
	switch len(name) {
	case 2:
		if lowerIs(name, "nc") {
			bit, dst = hasNC, &c.nc
		}
	case 3:
		switch {
		case lowerIs(name, "uri"):
			bit, dst = hasURI, &c.uri
		case lowerIs(name, "qop"):
			bit, dst = hasQOP, &c.qop
		}
	case 5:
		switch {
		case lowerIs(name, "realm"):
			bit, dst = hasRealm, &c.realm
		case lowerIs(name, "nonce"):
			bit, dst = hasNonce, &c.nonce
		}
	case 6:
		switch {
		case lowerIs(name, "cnonce"):
			bit, dst = hasCnonce, &c.cnonce
		case lowerIs(name, "opaque"):
			bit, dst = hasOpaque, &c.opaque
		}
	case 8:
		switch {
		case lowerIs(name, "username"):
			bit, dst = hasUsername, &c.username
		case lowerIs(name, "response"):
			bit, dst = hasResponse, &c.response
		case lowerIs(name, "userhash"):
			bit = hasUserhash
		}
	case 9:
		switch {
		case lowerIs(name, "username*"):
			bit, dst = hasUsernameStar, &c.usernameStar
		case lowerIs(name, "algorithm"):
			bit, dst = hasAlgorithm, &c.algorithm
		}
	}
	if bit == 0 || c.has&bit != 0 {
		return 0
	}
	c.has |= bit
	if dst != nil {
		*dst = v
	} else {
		c.userhash = strings.EqualFold(v, "true")
	}
	return bit
}

// lowerIs reports whether name equals lower (lower-case letters and other
// tchars) without regard to the case of ASCII letters.
func lowerIs(name, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c, l := name[i], lower[i]
		if c != l && !('a' <= l && l <= 'z' && c == l-('a'-'A')) {
			return false
		}
	}
	return true
}

// parseCredsGeneral parses with the general RFC 7235 parser.
func parseCredsGeneral(field string) (creds, error) {
	var c creds
	var buf [16]Param
	ch, err := parseCredentials(field, buf[:0])
	if err != nil {
		return c, err
	}
	if !strings.EqualFold(ch.Scheme, "Digest") {
		return c, ErrNoCredentials
	}
	if ch.Token68 != "" {
		return c, malformed("digest credentials are not a token68")
	}
	for _, p := range ch.Params {
		// Unknown parameters are ignored (RFC 7616 section 3.4); the
		// parser has refused repeated ones.
		c.set(p.Name, p.Value)
	}
	return c, checkCreds(&c)
}

// checkCreds checks that the parameters every request needs are there.
func checkCreds(c *creds) error {
	const required = hasRealm | hasNonce | hasURI | hasResponse
	if c.has&required != required {
		return malformed("missing realm, nonce, uri or response")
	}
	switch c.has & (hasUsername | hasUsernameStar) {
	case 0:
		return malformed("missing username")
	case hasUsername | hasUsernameStar:
		return malformed("both username and username*")
	}
	return nil
}
