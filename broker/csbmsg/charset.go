package csbmsg

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// Canonical names of the charsets the codec reads.
const (
	charsetUTF8   = "UTF-8"
	charsetASCII  = "US-ASCII"
	charsetLatin1 = "ISO-8859-1"
)

// CharsetSupported reports whether the codec reads messages in the named
// charset (an IANA name or alias, case-insensitive) and returns its
// canonical name. The codec reads UTF-8, US-ASCII and ISO-8859-1 (the
// draft's example responses label themselves "charset=ISO-8859-1");
// it writes UTF-8 only.
func CharsetSupported(label string) (canonical string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf-8", "utf8", "unicode-1-1-utf-8":
		return charsetUTF8, true
	case "us-ascii", "ascii", "ansi_x3.4-1968", "ansi_x3.4-1986", "iso-ir-6",
		"iso_646.irv:1991", "iso646-us", "us", "ibm367", "cp367", "csascii":
		return charsetASCII, true
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "iso_8859-1:1987", "iso-ir-100",
		"latin1", "l1", "ibm819", "cp819", "csisolatin1":
		return charsetLatin1, true
	}
	return "", false
}

// toUTF8 returns the document as UTF-8 without a byte order mark, after
// deciding its charset: a UTF-8 byte order mark first, then the transport
// charset (authoritative, RFC 3023 section 3.2), then the XML
// declaration's encoding, then UTF-8 (XML 1.0 section 4.3.3). UTF-16 and
// UTF-32 documents are refused.
//
// When two labels disagree the document is refused if it holds any
// non-ASCII byte: all three supported charsets agree on ASCII, so only
// then does the disagreement change the text.
func toUTF8(data []byte, transport string) ([]byte, *Error) {
	bom := bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	switch {
	case bom:
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0x00, 0x00, 0xFE, 0xFF}), bytes.HasPrefix(data, []byte{0xFF, 0xFE, 0x00, 0x00}):
		return nil, wrapErr(ErrCharset, "unsupported charset %q", "UTF-32")
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}), bytes.HasPrefix(data, []byte{0xFF, 0xFE}),
		bytes.HasPrefix(data, []byte{0x00, '<'}), bytes.HasPrefix(data, []byte{'<', 0x00}):
		return nil, wrapErr(ErrCharset, "unsupported charset %q", "UTF-16")
	}
	ascii := isASCII(data)

	declared := declaredEncoding(data)
	var eff string
	switch {
	case bom:
		eff = charsetUTF8
		for _, other := range []string{transport, declared} {
			if other == "" {
				continue
			}
			if c, _ := CharsetSupported(other); c != charsetUTF8 {
				return nil, wrapErr(ErrCharset, "charset %q conflicts with the UTF-8 byte order mark", sanitize(other, 40))
			}
		}
	case transport != "":
		c, ok := CharsetSupported(transport)
		if !ok {
			return nil, wrapErr(ErrCharset, "unsupported charset %q", sanitize(transport, 40))
		}
		eff = c
		if declared != "" && !ascii {
			if d, _ := CharsetSupported(declared); d != eff {
				return nil, wrapErr(ErrCharset, "Content-Type charset %q conflicts with XML declaration encoding %q", sanitize(transport, 40), sanitize(declared, 40))
			}
		}
	case declared != "":
		c, ok := CharsetSupported(declared)
		if !ok {
			return nil, wrapErr(ErrCharset, "unsupported charset %q", sanitize(declared, 40))
		}
		eff = c
	default:
		eff = charsetUTF8
	}

	if ascii {
		return data, nil
	}
	switch eff {
	case charsetUTF8:
		if !utf8.Valid(data) {
			return nil, wrapErr(ErrCharset, "not well-formed: line %d: invalid UTF-8", lineOf(data, invalidUTF8At(data)))
		}
		return data, nil
	case charsetASCII:
		for i, b := range data {
			if b >= utf8.RuneSelf {
				return nil, wrapErr(ErrCharset, "line %d: byte 0x%02X is not US-ASCII", lineOf(data, i), b)
			}
		}
		return data, nil
	default: // ISO-8859-1: every byte is the code point of the same value.
		out := make([]byte, 0, len(data)+len(data)/8)
		for _, b := range data {
			out = utf8.AppendRune(out, rune(b))
		}
		return out, nil
	}
}

func isASCII(b []byte) bool {
	// Eight bytes at a time: a message is a few kilobytes, and every one
	// is checked.
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// declaredEncoding returns the encoding pseudo-attribute of the XML
// declaration at the start of data, or "" when there is none. A
// malformed declaration yields "" and is left to the XML decoder.
func declaredEncoding(data []byte) string {
	if !bytes.HasPrefix(data, []byte("<?xml")) || len(data) < 6 || !isXMLSpace(data[5]) {
		return ""
	}
	end := bytes.Index(data, []byte("?>"))
	if end < 0 || end > 1024 {
		return ""
	}
	decl := data[5:end]
	for len(decl) > 0 {
		decl = bytes.TrimLeft(decl, " \t\r\n")
		eq := bytes.IndexByte(decl, '=')
		if eq < 0 {
			return ""
		}
		name := string(bytes.TrimRight(decl[:eq], " \t\r\n"))
		rest := bytes.TrimLeft(decl[eq+1:], " \t\r\n")
		if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
			return ""
		}
		close := bytes.IndexByte(rest[1:], rest[0])
		if close < 0 {
			return ""
		}
		if name == "encoding" {
			return string(rest[1 : 1+close])
		}
		decl = rest[close+2:]
	}
	return ""
}
