package csbmsg

import (
	"bytes"
	"math"

	"github.com/caddy-csb/caddy-csb/broker/internal/defaults"
)

// Default limits, used for every zero or negative field of Limits.
const (
	DefaultMaxBytes      = 1 << 20 // 1 MiB
	DefaultMaxDepth      = 32
	DefaultMaxElements   = 10000
	DefaultMaxAttributes = 32
	DefaultMaxTextBytes  = 64 << 10 // 64 KiB
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
	// MaxTextBytes is the longest text one element may hold between two
	// of its tags (character data, CDATA sections included) and the
	// longest attribute value, in bytes as sent (an entity reference counts its
	// bytes, not the character it stands for). No value of the draft's
	// schemas needs more than a few hundred bytes; the limit keeps one
	// field from making a job record, a provider request and every copy
	// of them megabytes long. Default: 64 KiB.
	MaxTextBytes int
}

// WithDefaults returns l with every zero or negative field replaced by its
// default.
func (l Limits) WithDefaults() Limits {
	defaults.Positive(&l.MaxBytes, DefaultMaxBytes)
	defaults.Positive(&l.MaxDepth, DefaultMaxDepth)
	defaults.Positive(&l.MaxElements, DefaultMaxElements)
	defaults.Positive(&l.MaxAttributes, DefaultMaxAttributes)
	defaults.Positive(&l.MaxTextBytes, DefaultMaxTextBytes)
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
//     elements, more than l.MaxAttributes attributes on one element,
//     more than l.MaxTextBytes of text in one element or in one attribute
//     value;
//   - an end tag that does not match its start tag (reported here with a
//     line number, since the tree builder cannot give one).
//
// The scan understands comments, CDATA sections, processing instructions
// and quoted attribute values, so its counts are exact for well-formed
// input; for other input it may stop early and leave the verdict to the
// XML decoder.
//
// The same pass drops the whitespace no reader of a CSB message can see,
// which is most of a pretty-printed message's text nodes: a run of
// whitespace between two pieces of markup where its parent element is
// known to hold an element (the run follows an end tag or an empty-element
// tag, or precedes a start tag). Such a parent has complex content, whose
// whitespace the reader ignores, so the tree built from the result reads
// exactly as the tree of data would; it is cheaper, since each run costs
// the XML decoder a token and the tree a node. Whitespace that may be the
// value of a simple-typed element (between a start tag and an end tag, or
// next to a comment, CDATA section or processing instruction) is kept.
// The result is appended to out, only once the whole document has passed
// the limits, or is data itself when nothing was dropped (or the scan
// stopped early); its line numbers can differ from data's, so a syntax
// error must be reported from data. prescan also returns the number of
// elements it saw.
func prescan(data []byte, l Limits, out []byte) ([]byte, int, *Error) {
	var (
		stack    [][2]int // name offsets of the open elements
		elements int
		i        int
		textFrom int        // where the text after the last markup starts
		last     = kindNone // the kind of that markup
		text     int        // bytes of text of the innermost open element so far
		// The runs to drop, recorded and only copied out once the whole
		// document has passed: a refused message costs no copy. Past
		// maxDropped runs the rest stay (dropping any of them is safe).
		dropped [maxDropped][2]int32
		ndrop   int
		room    = maxDropped
	)
	if len(data) > math.MaxInt32 {
		room = 0 // offsets would not fit; such a message is read as sent
	}
	for {
		j := bytes.IndexByte(data[i:], '<')
		if j < 0 {
			break
		}
		i += j
		if i+1 >= len(data) {
			break
		}
		next := kindStart
		switch data[i+1] {
		case '/':
			next = kindEnd
		case '?', '!':
			next = kindOther
		}
		if ndrop < room && textFrom < i && (last == kindEnd || last == kindEmpty || next == kindStart) && isWhitespaceBytes(data[textFrom:i]) {
			dropped[ndrop] = [2]int32{int32(textFrom), int32(i)}
			ndrop++
		}
		if len(stack) > 0 {
			if text += i - textFrom; text > l.MaxTextBytes {
				return nil, 0, textErr(data, textFrom, stack, l)
			}
		}
		switch c := data[i+1]; {
		case c == '?':
			end := bytes.Index(data[i+2:], []byte("?>"))
			if end < 0 {
				return data, elements, nil // the decoder reports the unterminated PI
			}
			target := data[i+2:]
			n := 0
			for n < len(target) && n < 4 && !isXMLSpace(target[n]) && target[n] != '?' {
				n++
			}
			if n == 3 && bytes.EqualFold(target[:3], []byte("xml")) && i != 0 {
				return nil, 0, syntaxErr("not well-formed: line %d: XML declaration not at the start of the document", lineOf(data, i))
			}
			i += 2 + end + 2
			last = kindOther
		case c == '!':
			rest := data[i+2:]
			switch {
			case bytes.HasPrefix(rest, []byte("--")):
				end := bytes.Index(rest[2:], []byte("-->"))
				if end < 0 {
					return data, elements, nil
				}
				i += 4 + end + 3
				last = kindOther
			case bytes.HasPrefix(rest, []byte("[CDATA[")):
				end := bytes.Index(rest[7:], []byte("]]>"))
				if end < 0 {
					return data, elements, nil
				}
				if len(stack) > 0 {
					if text += end; text > l.MaxTextBytes {
						return nil, 0, textErr(data, i, stack, l)
					}
				}
				i += 9 + end + 3
				last = kindOther
			case bytes.HasPrefix(rest, []byte("DOCTYPE")):
				return nil, 0, syntaxErr("line %d: document type declarations (<!DOCTYPE>) are not allowed", lineOf(data, i))
			default:
				return nil, 0, syntaxErr("line %d: markup declarations (<!%s...>) are not allowed", lineOf(data, i), sanitize(string(nameAt(rest)), 16))
			}
		case c == '/':
			nameStart := i + 2
			name := nameAt(data[nameStart:])
			if len(stack) == 0 {
				return nil, 0, syntaxErr("not well-formed: line %d: unexpected end tag </%s>", lineOf(data, i), sanitize(string(name), 64))
			}
			top := stack[len(stack)-1]
			open := data[top[0]:top[1]]
			if !bytes.Equal(open, name) {
				return nil, 0, syntaxErr("not well-formed: line %d: element <%s> closed by </%s>", lineOf(data, i), sanitize(string(open), 64), sanitize(string(name), 64))
			}
			stack = stack[:len(stack)-1]
			text = 0
			end := bytes.IndexByte(data[nameStart:], '>')
			if end < 0 {
				return data, elements, nil
			}
			i = nameStart + end + 1
			last = kindEnd
		default:
			// A start tag: find its end, skipping quoted attribute values,
			// which may contain '>'.
			nameStart := i + 1
			name := nameAt(data[nameStart:])
			if len(name) == 0 {
				return data, elements, nil // not a tag; the decoder reports it
			}
			elements++
			if elements > l.MaxElements {
				return nil, 0, wrapErr(ErrLimit, "line %d: more than %d elements", lineOf(data, i), l.MaxElements)
			}
			k := nameStart + len(name)
			attrs := 0
			var quote byte
			valueFrom := 0
			selfClosing := false
		tag:
			for ; k < len(data); k++ {
				b := data[k]
				switch {
				case quote != 0:
					if b == quote {
						quote = 0
						if k-valueFrom > l.MaxTextBytes {
							return nil, 0, wrapErr(ErrLimit, "line %d: an attribute value of element <%s> is longer than %d bytes", lineOf(data, i), sanitize(string(name), 64), l.MaxTextBytes)
						}
					}
				case b == '"' || b == '\'':
					quote = b
					valueFrom = k + 1
				case b == '=':
					attrs++
					if attrs > l.MaxAttributes {
						return nil, 0, wrapErr(ErrLimit, "line %d: element <%s> has more than %d attributes", lineOf(data, i), sanitize(string(name), 64), l.MaxAttributes)
					}
				case b == '>':
					selfClosing = data[k-1] == '/'
					break tag
				}
			}
			if k >= len(data) {
				return data, elements, nil // unterminated tag
			}
			if !selfClosing {
				if len(stack)+1 > l.MaxDepth {
					return nil, 0, wrapErr(ErrLimit, "line %d: elements nested deeper than %d", lineOf(data, i), l.MaxDepth)
				}
				stack = append(stack, [2]int{nameStart, nameStart + len(name)})
				text = 0
				last = kindStart
			} else if len(stack)+1 > l.MaxDepth {
				return nil, 0, wrapErr(ErrLimit, "line %d: elements nested deeper than %d", lineOf(data, i), l.MaxDepth)
			} else {
				last = kindEmpty
			}
			i = k + 1
		}
		textFrom = i
	}
	if ndrop < room && textFrom < len(data) && (last == kindEnd || last == kindEmpty) && isWhitespaceBytes(data[textFrom:]) {
		dropped[ndrop] = [2]int32{int32(textFrom), int32(len(data))}
		ndrop++
	}
	if ndrop == 0 {
		return data, elements, nil
	}
	copied := 0
	for _, r := range dropped[:ndrop] {
		out = append(out, data[copied:r[0]]...)
		copied = int(r[1])
	}
	return append(out, data[copied:]...), elements, nil
}

// textErr reports text beyond l.MaxTextBytes in the innermost open
// element of stack, around offset off.
func textErr(data []byte, off int, stack [][2]int, l Limits) *Error {
	top := stack[len(stack)-1]
	return wrapErr(ErrLimit, "line %d: element <%s> holds more than %d bytes of text", lineOf(data, off), sanitize(string(data[top[0]:top[1]]), 64), l.MaxTextBytes)
}

// maxDropped bounds the whitespace runs prescan drops from one message
// (its record lives on the stack): a pretty-printed notification with
// one service has about 100, the draft's four-service example about 200.
const maxDropped = 512

// Kinds of markup, for prescan's whitespace rule.
const (
	kindNone  = iota // start of the document
	kindStart        // a start tag
	kindEmpty        // an empty-element tag <a/>
	kindEnd          // an end tag
	kindOther        // a comment, CDATA section or processing instruction
)

func isWhitespaceBytes(b []byte) bool {
	for _, c := range b {
		if !isXMLSpace(c) {
			return false
		}
	}
	return true
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
