package csbmsg

import (
	"bytes"
)

// Default limits, used for every zero or negative field of Limits.
const (
	DefaultMaxBytes      = 1 << 20 // 1 MiB
	DefaultMaxDepth      = 32
	DefaultMaxElements   = 10000
	DefaultMaxAttributes = 32
)

// Limits bounds what one message may cost to parse. A field that is zero
// or negative takes its default. The limits are checked by a
// non-allocating scan of the bytes before any tree is built, so a hostile
// message is refused after one pass over at most MaxBytes bytes.
//
// The draft's schemas need far less than the defaults: the deepest
// element they define is at depth 6
// (csbpublish/csbnotification/Cloud-Service/DSaaS-support/
// DataObject-support/metadata), no element has more than three
// attributes, and a notification with one service has about 100
// elements.
type Limits struct {
	// MaxBytes is the largest message accepted, in bytes. A larger one is
	// refused with an *Error wrapping ErrTooLarge, which HTTP servers turn
	// into 413. Default: 1 MiB.
	MaxBytes int64
	// MaxDepth is the deepest element nesting accepted; the root element
	// is at depth 1. Default: 32.
	MaxDepth int
	// MaxElements is the most elements a message may hold. Default:
	// 10000.
	MaxElements int
	// MaxAttributes is the most attributes one element may carry,
	// namespace declarations included. Default: 32.
	MaxAttributes int
}

// WithDefaults returns l with every zero or negative field replaced by its
// default.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	if l.MaxAttributes <= 0 {
		l.MaxAttributes = DefaultMaxAttributes
	}
	return l
}

// prescan makes one pass over a UTF-8 document, without allocating more
// than a stack of tag offsets bounded by l.MaxDepth, and refuses what the
// tree builder must never see:
//
//   - a document type declaration or any other markup declaration
//     (<!DOCTYPE, <!ENTITY, <!ELEMENT, ...): entity expansion is the
//     classic XML amplification attack and the draft's schemas need no DTD;
//   - an XML declaration anywhere but at the very start;
//   - more than l.MaxDepth nested elements, more than l.MaxElements
//     elements, more than l.MaxAttributes attributes on one element;
//   - an end tag that does not match its start tag (reported here with a
//     line number, since the tree builder cannot give one).
//
// The scan understands comments, CDATA sections, processing instructions
// and quoted attribute values, so its counts are exact for well-formed
// input; for other input it may stop early and leave the verdict to the
// XML decoder.
func prescan(data []byte, l Limits) *Error {
	var (
		stack    [][2]int // name offsets of the open elements
		elements int
		i        int
	)
	for {
		j := bytes.IndexByte(data[i:], '<')
		if j < 0 {
			break
		}
		i += j
		if i+1 >= len(data) {
			break
		}
		switch c := data[i+1]; {
		case c == '?':
			end := bytes.Index(data[i+2:], []byte("?>"))
			if end < 0 {
				return nil // the decoder reports the unterminated PI
			}
			target := data[i+2:]
			n := 0
			for n < len(target) && n < 4 && !isXMLSpace(target[n]) && target[n] != '?' {
				n++
			}
			if n == 3 && bytes.EqualFold(target[:3], []byte("xml")) && i != 0 {
				return syntaxErr("not well-formed: line %d: XML declaration not at the start of the document", lineOf(data, i))
			}
			i += 2 + end + 2
		case c == '!':
			rest := data[i+2:]
			switch {
			case bytes.HasPrefix(rest, []byte("--")):
				end := bytes.Index(rest[2:], []byte("-->"))
				if end < 0 {
					return nil
				}
				i += 4 + end + 3
			case bytes.HasPrefix(rest, []byte("[CDATA[")):
				end := bytes.Index(rest[7:], []byte("]]>"))
				if end < 0 {
					return nil
				}
				i += 9 + end + 3
			case bytes.HasPrefix(rest, []byte("DOCTYPE")):
				return syntaxErr("line %d: document type declarations (<!DOCTYPE>) are not allowed", lineOf(data, i))
			default:
				return syntaxErr("line %d: markup declarations (<!%s...>) are not allowed", lineOf(data, i), sanitize(string(nameAt(rest)), 16))
			}
		case c == '/':
			nameStart := i + 2
			name := nameAt(data[nameStart:])
			if len(stack) == 0 {
				return syntaxErr("not well-formed: line %d: unexpected end tag </%s>", lineOf(data, i), sanitize(string(name), 64))
			}
			top := stack[len(stack)-1]
			open := data[top[0]:top[1]]
			if !bytes.Equal(open, name) {
				return syntaxErr("not well-formed: line %d: element <%s> closed by </%s>", lineOf(data, i), sanitize(string(open), 64), sanitize(string(name), 64))
			}
			stack = stack[:len(stack)-1]
			end := bytes.IndexByte(data[nameStart:], '>')
			if end < 0 {
				return nil
			}
			i = nameStart + end + 1
		default:
			// A start tag: find its end, skipping quoted attribute values,
			// which may contain '>'.
			nameStart := i + 1
			name := nameAt(data[nameStart:])
			if len(name) == 0 {
				return nil // not a tag; the decoder reports it
			}
			elements++
			if elements > l.MaxElements {
				return wrapErr(ErrLimit, "line %d: more than %d elements", lineOf(data, i), l.MaxElements)
			}
			k := nameStart + len(name)
			attrs := 0
			var quote byte
			selfClosing := false
		tag:
			for ; k < len(data); k++ {
				b := data[k]
				switch {
				case quote != 0:
					if b == quote {
						quote = 0
					}
				case b == '"' || b == '\'':
					quote = b
				case b == '=':
					attrs++
					if attrs > l.MaxAttributes {
						return wrapErr(ErrLimit, "line %d: element <%s> has more than %d attributes", lineOf(data, i), sanitize(string(name), 64), l.MaxAttributes)
					}
				case b == '>':
					selfClosing = data[k-1] == '/'
					break tag
				}
			}
			if k >= len(data) {
				return nil // unterminated tag
			}
			if !selfClosing {
				if len(stack)+1 > l.MaxDepth {
					return wrapErr(ErrLimit, "line %d: elements nested deeper than %d", lineOf(data, i), l.MaxDepth)
				}
				stack = append(stack, [2]int{nameStart, nameStart + len(name)})
			} else if len(stack)+1 > l.MaxDepth {
				return wrapErr(ErrLimit, "line %d: elements nested deeper than %d", lineOf(data, i), l.MaxDepth)
			}
			i = k + 1
		}
	}
	return nil
}

// nameAt returns the XML name at the start of b: the bytes up to the first
// whitespace, '/', '>', '=' or quote.
func nameAt(b []byte) []byte {
	n := 0
	for n < len(b) {
		switch b[n] {
		case ' ', '\t', '\r', '\n', '/', '>', '=', '"', '\'', '<', '[':
			return b[:n]
		}
		n++
	}
	return b[:n]
}

func isXMLSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\r' || b == '\n'
}

// lineOf returns the 1-based line number of offset off.
func lineOf(data []byte, off int) int {
	return 1 + bytes.Count(data[:off], []byte{'\n'})
}
