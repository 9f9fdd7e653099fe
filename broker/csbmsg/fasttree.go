package csbmsg

import (
	"bytes"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// fastTree builds the etree document of data, as readTree would, when
// data keeps to the plain subset of XML that machine-written CSB messages
// use; otherwise it returns false and readTree (encoding/xml under etree)
// reads the message, and gives the error when there is one.
//
// Why it is hand-written: encoding/xml reads a byte at a time through a
// bufio.Reader and a bytes.Buffer, and allocates a string per name; on the
// draft's four-service notification its token scan alone costs about
// 95 µs, more than all the rest of a notification's parse and ingest
// together, and it bounded the publish interface's throughput. etree
// v1.8.1 can only read through encoding/xml, and the faster XML readers
// for Go are not served by this project's module proxy. So the common
// case is read here, and the rest still by encoding/xml.
//
// The subset, and so the rule for falling back, is conservative: anything
// fastTree does not read exactly as encoding/xml and etree do is left to
// them. It reads start, end and empty-element tags with ASCII names (at
// most one colon, inside the name), double- or single-quoted attribute
// values, character data with the five predefined entity references,
// comments, CDATA sections, processing instructions, and an XML
// declaration at the very start whose pseudo-attributes are
// version="1.0", then optional encoding and standalone. It falls back on
// character references, other entity references, carriage returns
// (which XML normalises), control characters, invalid UTF-8 or characters
// outside XML's range, "]]>" in text, non-ASCII names, a repeated
// attribute, attributes not separated by whitespace, a mismatched or
// missing end tag, nesting deeper than lim.MaxDepth, and an empty
// document. FuzzFastTree checks that whatever it accepts, readTree
// accepts too, with the same tree.
//
// The tree is made with few allocations: elements, attributes, character
// data and child lists come from slabs sized by prescan's element count,
// element and attribute names from a table of the names the two packages
// use, and each child list has its exact length (children are gathered on
// a stack and attached when their parent ends).
//
// The slabs come from a pool: the caller passes the builder it gets back
// to release once nothing refers to the tree any more.
func fastTree(data []byte, lim Limits, elements int) (*etree.Document, *builder, bool) {
	if len(data) == 0 || bytes.IndexByte(data, '\r') >= 0 {
		return nil, nil, false
	}
	b := newBuilder(data, elements)
	doc := etree.NewDocument()
	i := 0
	if bytes.HasPrefix(data, []byte("<?xml")) && len(data) > 5 && !isNameByte(data[5]) {
		end, inst, ok := xmlDecl(data)
		if !ok {
			b.release()
			return nil, nil, false
		}
		doc.CreateProcInst("xml", inst)
		i = end
	}
	for i < len(data) {
		var ok bool
		if data[i] != '<' {
			i, ok = b.text(i)
		} else if i+1 < len(data) && data[i+1] == '/' {
			i, ok = b.endTag(i + 2)
		} else if bytes.HasPrefix(data[i:], []byte("<!--")) {
			i, ok = b.comment(i + 4)
		} else if bytes.HasPrefix(data[i:], []byte("<![CDATA[")) {
			i, ok = b.cdata(i + 9)
		} else if i+1 < len(data) && data[i+1] == '?' {
			i, ok = b.procInst(i + 2)
		} else {
			i, ok = b.startTag(i+1, lim.MaxDepth)
		}
		if !ok {
			b.release()
			return nil, nil, false
		}
	}
	if len(b.open) != 0 {
		b.release()
		return nil, nil, false
	}
	for _, t := range b.kids {
		doc.AddChild(t)
	}
	clear(b.kids)
	return doc, b, true
}

// builder is fastTree's state.
type builder struct {
	data  []byte
	els   []etree.Element  // slab of elements
	texts []etree.CharData // slab of character data
	toks  []etree.Token    // slab of child lists
	attrs []etree.Attr     // slab of attribute lists
	kids  []etree.Token    // the children gathered so far, of every open element
	open  []openElement
	buf   []byte // entity replacement
	names []attrName

	// The first slab of each kind, kept for the next message. When a
	// message needs more, the rest come from new slabs, which are not
	// kept.
	els0      []etree.Element
	texts0    []etree.CharData
	toks0     []etree.Token
	attrs0    []etree.Attr
	nodes0    []node // the reader's, see nodes
	nodesUsed int    // how much of nodes0 the reader used
}

// nodes returns a slab for the reader's nodes of the tree's elements,
// handed back with the tree's.
func (b *builder) nodes(elements int) []node {
	if cap(b.nodes0) < elements {
		b.nodes0 = make([]node, 0, elements)
	}
	return b.nodes0[:0]
}

// maxPooledElements bounds the slabs kept for reuse: a message with more
// elements than this gets slabs of its own.
const maxPooledElements = 2048

var builders = sync.Pool{New: func() any { return new(builder) }}

// newBuilder returns a builder for data, with slabs for elements elements
// (prescan's count).
func newBuilder(data []byte, elements int) *builder {
	b := builders.Get().(*builder)
	b.data = data
	if cap(b.els0) < elements {
		b.els0 = make([]etree.Element, 0, elements)
		b.texts0 = make([]etree.CharData, 0, elements+4)
		b.toks0 = make([]etree.Token, 0, 2*elements+4)
		b.attrs0 = make([]etree.Attr, 0, elements/2+16)
	}
	b.els, b.texts, b.toks, b.attrs = b.els0[:0], b.texts0[:0], b.toks0[:0], b.attrs0[:0]
	return b
}

// release returns b's slabs for reuse, cleared so that they hold no
// strings; nothing may refer to the tree any more. A nil b is a no-op.
func (b *builder) release() {
	if b == nil {
		return
	}
	// Only the part each message used: a slab sized by one large message
	// is not cleared whole after every small one.
	clear(b.els0[:usedOf(b.els0, b.els)])
	clear(b.texts0[:usedOf(b.texts0, b.texts)])
	clear(b.toks0[:usedOf(b.toks0, b.toks)])
	clear(b.attrs0[:usedOf(b.attrs0, b.attrs)])
	clear(b.nodes0[:min(b.nodesUsed, cap(b.nodes0))])
	clear(b.kids)
	*b = builder{els0: b.els0, texts0: b.texts0, toks0: b.toks0, attrs0: b.attrs0, nodes0: b.nodes0,
		kids: b.kids[:0], open: b.open[:0], buf: b.buf[:0], names: b.names[:0]}
	if cap(b.els0) > maxPooledElements || cap(b.nodes0) > maxPooledElements || cap(b.buf) > 64<<10 {
		return
	}
	builders.Put(b)
}

// usedOf returns how much of the pooled slab s0 a message used, s being
// the slab it was filling last: s0 itself, resliced, or a later slab
// once s0 was full.
func usedOf[T any](s0, s []T) int {
	if cap(s0) == 0 {
		return 0
	}
	if cap(s) > 0 && &s[:1][0] == &s0[:1][0] {
		return len(s)
	}
	return cap(s0)
}

// openElement is an element whose end tag is still to come.
type openElement struct {
	el       *etree.Element
	name     []byte // as written, for the end tag
	firstKid int    // where its children start in kids
}

type attrName struct {
	full       string
	start, end int // the value's bytes
	entities   bool
}

// text reads character data from i up to the next '<' or the end.
func (b *builder) text(i int) (int, bool) {
	end, entities, ok := chars(b.data, i, '<')
	if !ok {
		return 0, false
	}
	s, ok := b.value(i, end, entities)
	if !ok {
		return 0, false
	}
	b.charData(s)
	return end, true
}

// chars scans character data (stop is '<') or an attribute value (stop
// is its quote) from i up to the first stop byte or the end of d. It
// returns where it stopped and whether it met an entity reference; ok is
// false for a character fastTree leaves to encoding/xml, a '<' in an
// attribute value, and "]]>" in character data.
func chars(d []byte, i int, stop byte) (end int, entities, ok bool) {
	start := i
	for i < len(d) && d[i] != stop {
		c := d[i]
		if !textSpecial[c] {
			i++
			continue
		}
		switch c {
		case '<': // reached in an attribute value only
			return 0, false, false
		case '&':
			entities = true
		case '>': // allowed, but for the end of "]]>" in character data
			if stop == '<' && i >= start+2 && d[i-1] == ']' && d[i-2] == ']' {
				return 0, false, false
			}
		default:
			n := plainChar(d, i)
			if n == 0 {
				return 0, false, false
			}
			i += n
			continue
		}
		i++
	}
	return i, entities, true
}

// cdata reads a CDATA section whose text starts at i. etree's reader
// (without PreserveCData) keeps its text as plain character data.
func (b *builder) cdata(i int) (int, bool) {
	end := bytes.Index(b.data[i:], []byte("]]>"))
	if end < 0 {
		return 0, false
	}
	raw := b.data[i : i+end]
	for k := 0; k < len(raw); {
		n := plainChar(raw, k)
		if n == 0 {
			return 0, false
		}
		k += n
	}
	b.charData(string(raw))
	return i + end + 3, true
}

// charData adds character data to the open element's children.
func (b *builder) charData(s string) {
	if len(b.texts) == cap(b.texts) {
		b.texts = make([]etree.CharData, 0, 16)
	}
	b.texts = append(b.texts, etree.CharData{})
	cd := &b.texts[len(b.texts)-1]
	cd.SetData(s) // sets the whitespace flag as etree's reader does
	b.kids = append(b.kids, cd)
}

// procInst reads a processing instruction whose target starts at i,
// other than an XML declaration (which only xmlDecl reads). Like
// encoding/xml, it takes the instruction from after the target's
// whitespace up to the first "?>".
func (b *builder) procInst(i int) (int, bool) {
	target, j, ok := b.name(i)
	if !ok || strings.EqualFold(target, "xml") {
		return 0, false
	}
	k := skipSpace(b.data, j)
	if k == j && !bytes.HasPrefix(b.data[j:], []byte("?>")) {
		return 0, false
	}
	end := bytes.Index(b.data[k:], []byte("?>"))
	if end < 0 {
		return 0, false
	}
	p := etree.NewProcInst(target, string(b.data[k:k+end]))
	b.kids = append(b.kids, p)
	return k + end + 2, true
}

// comment reads a comment whose text starts at i. Like encoding/xml, it
// takes the text up to the first "--", which must begin "-->".
func (b *builder) comment(i int) (int, bool) {
	end := bytes.Index(b.data[i:], []byte("--"))
	if end < 0 || i+end+2 >= len(b.data) || b.data[i+end+2] != '>' {
		return 0, false
	}
	b.kids = append(b.kids, etree.NewComment(string(b.data[i:i+end])))
	return i + end + 3, true
}

// value returns d[start:end] as a string, with the predefined entity
// references replaced when entities is set; false for any other
// reference.
func (b *builder) value(start, end int, entities bool) (string, bool) {
	raw := b.data[start:end]
	if !entities {
		return string(raw), true
	}
	out := b.buf[:0]
	for {
		j := bytes.IndexByte(raw, '&')
		if j < 0 {
			break
		}
		out = append(out, raw[:j]...)
		raw = raw[j+1:]
		k := bytes.IndexByte(raw, ';')
		if k < 0 {
			return "", false
		}
		switch string(raw[:k]) {
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "amp":
			out = append(out, '&')
		case "apos":
			out = append(out, '\'')
		case "quot":
			out = append(out, '"')
		default:
			return "", false // a character reference, or an entity XML does not predefine
		}
		raw = raw[k+1:]
	}
	out = append(out, raw...)
	b.buf = out
	return string(out), true
}

// startTag reads a start or empty-element tag whose name starts at i.
func (b *builder) startTag(i, maxDepth int) (int, bool) {
	d := b.data
	nameAt := i
	name, i, ok := b.name(i)
	if !ok || len(b.open)+1 > maxDepth {
		return 0, false
	}
	b.names = b.names[:0]
	empty := false
	for {
		j := skipSpace(d, i)
		if j >= len(d) {
			return 0, false
		}
		if d[j] == '>' {
			i = j + 1
			break
		}
		if d[j] == '/' {
			if j+1 >= len(d) || d[j+1] != '>' {
				return 0, false
			}
			i, empty = j+2, true
			break
		}
		if j == i {
			return 0, false // no whitespace before an attribute
		}
		aname, k, ok := b.name(j)
		if !ok {
			return 0, false
		}
		k = skipSpace(d, k)
		if k >= len(d) || d[k] != '=' {
			return 0, false
		}
		k = skipSpace(d, k+1)
		if k >= len(d) || d[k] != '"' && d[k] != '\'' {
			return 0, false
		}
		quote := d[k]
		vstart := k + 1
		k, entities, ok := chars(d, vstart, quote)
		if !ok || k >= len(d) {
			return 0, false
		}
		for _, prev := range b.names {
			if prev.full == aname {
				return 0, false // the same prefix and name twice: readTree keeps both, for the reader to refuse
			}
		}
		b.names = append(b.names, attrName{full: aname, start: vstart, end: k, entities: entities})
		i = k + 1
	}

	if len(b.els) == cap(b.els) {
		b.els = make([]etree.Element, 0, 16)
	}
	b.els = append(b.els, etree.Element{})
	el := &b.els[len(b.els)-1]
	el.Space, el.Tag = splitName(name)
	if n := len(b.names); n > 0 {
		if cap(b.attrs)-len(b.attrs) < n {
			b.attrs = make([]etree.Attr, 0, max(64, n))
		}
		el.Attr = b.attrs[len(b.attrs) : len(b.attrs) : len(b.attrs)+n]
		b.attrs = b.attrs[:len(b.attrs)+n]
		for _, a := range b.names {
			v, ok := b.value(a.start, a.end, a.entities)
			if !ok {
				return 0, false
			}
			el.CreateAttr(a.full, v)
		}
	}
	b.kids = append(b.kids, el)
	if empty {
		return i, true
	}
	b.open = append(b.open, openElement{el: el, name: d[nameAt : nameAt+len(name)], firstKid: len(b.kids)})
	return i, true
}

// endTag reads an end tag whose name starts at i, and attaches the
// element's children.
func (b *builder) endTag(i int) (int, bool) {
	if len(b.open) == 0 {
		return 0, false
	}
	top := b.open[len(b.open)-1]
	d := b.data
	if !bytes.HasPrefix(d[i:], top.name) {
		return 0, false
	}
	i += len(top.name)
	j := skipSpace(d, i)
	if j >= len(d) || d[j] != '>' || (j == i && i < len(d) && isNameByte(d[i])) {
		return 0, false
	}
	kids := b.kids[top.firstKid:]
	if n := len(kids); n > 0 {
		if cap(b.toks)-len(b.toks) < n {
			b.toks = make([]etree.Token, 0, max(64, n))
		}
		top.el.Child = b.toks[len(b.toks) : len(b.toks) : len(b.toks)+n]
		b.toks = b.toks[:len(b.toks)+n]
		for _, t := range kids {
			top.el.AddChild(t)
		}
		clear(kids)
		b.kids = b.kids[:top.firstKid]
	}
	b.open = b.open[:len(b.open)-1]
	return j + 1, true
}

// name reads an XML name at i: ASCII, starting with a letter or '_', and
// with at most one colon, neither first nor last. It returns the name
// (from the table of known names when it is one) and the offset after it.
func (b *builder) name(i int) (string, int, bool) {
	d := b.data
	start := i
	colons := 0
	for i < len(d) {
		c := d[i]
		if c >= utf8.RuneSelf {
			return "", 0, false
		}
		if !isNameByte(c) {
			break
		}
		if c == ':' {
			colons++
		}
		i++
	}
	raw := d[start:i]
	if len(raw) == 0 || colons > 1 || !isNameStart(raw[0]) || raw[len(raw)-1] == ':' {
		return "", 0, false
	}
	if colons == 1 {
		if c := raw[bytes.IndexByte(raw, ':')+1]; !isNameStart(c) {
			return "", 0, false
		}
	}
	if s, ok := knownNames[string(raw)]; ok {
		return s, i, true
	}
	return string(raw), i, true
}

// splitName splits a name read by name into its prefix and local part.
func splitName(s string) (space, local string) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:]
		}
	}
	return "", s
}

func isNameStart(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_'
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n') {
		i++
	}
	return i
}

// textSpecial holds the bytes that the loops over character data and
// attribute values look at: '<', '&', '>', control characters, and the
// bytes of non-ASCII characters. The rest are taken as they are.
var textSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '<' || c == '&' || c == '>' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// plainChar checks the character that starts at d[i] and returns its
// length in bytes, or 0 when it is one fastTree leaves to encoding/xml:
// a control character other than tab and newline, invalid UTF-8, or a
// character outside XML's range.
func plainChar(d []byte, i int) int {
	c := d[i]
	if c < utf8.RuneSelf {
		if c >= 0x20 || c == '\t' || c == '\n' {
			return 1
		}
		return 0
	}
	r, n := utf8.DecodeRune(d[i:])
	if r == utf8.RuneError && n == 1 || !inXMLRange(r) {
		return 0
	}
	return n
}

// inXMLRange reports whether r is a character XML 1.0 allows (its Char
// production).
func inXMLRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// xmlDecl reads the XML declaration that starts data: "<?xml", whitespace,
// version="1.0", then optionally encoding="..." and standalone="...", each
// after whitespace, then optional whitespace and "?>". It returns the
// offset after it and the instruction as encoding/xml gives it (the text
// after the target and its whitespace, up to "?>").
func xmlDecl(d []byte) (int, string, bool) {
	i := len("<?xml")
	j := skipSpace(d, i)
	if j == i {
		return 0, "", false
	}
	from := j
	for n, want := range []string{"version", "encoding", "standalone"} {
		if n > 0 {
			k := skipSpace(d, j)
			if k == j || !bytes.HasPrefix(d[k:], []byte(want)) {
				continue
			}
			j = k
		}
		if !bytes.HasPrefix(d[j:], []byte(want+"=")) {
			return 0, "", false
		}
		j += len(want) + 1
		if j >= len(d) || d[j] != '"' && d[j] != '\'' {
			return 0, "", false
		}
		q := d[j]
		end := bytes.IndexByte(d[j+1:], q)
		if end < 0 {
			return 0, "", false
		}
		v := d[j+1 : j+1+end]
		switch want {
		case "version":
			if string(v) != "1.0" {
				return 0, "", false
			}
		default:
			for _, c := range v {
				if !isNameByte(c) || c == ':' {
					return 0, "", false
				}
			}
		}
		j += end + 2
	}
	k := skipSpace(d, j)
	if !bytes.HasPrefix(d[k:], []byte("?>")) {
		return 0, "", false
	}
	return k + 2, string(d[from:k]), true
}

// knownNames holds the element and attribute names of both packages, so
// that reading them allocates nothing.
var knownNames = func() map[string]string {
	m := make(map[string]string)
	for _, v := range []*vocab{publishVocab, consumerVocab} {
		for n := range v.known {
			m[n] = n
		}
	}
	for _, n := range []string{"xmlns", "version", "id", "seqnumber", "status", "reason", "action",
		"expires", "frequency", "type", "value", "href", "rel", "name", "xmlns:xsi", "xsi:schemaLocation"} {
		m[n] = n
	}
	return m
}()
