package csbmsg

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/beevik/etree"
)

// Namespaces the reader treats specially.
const (
	xmlNS   = "http://www.w3.org/XML/1998/namespace"
	xmlnsNS = "http://www.w3.org/2000/xmlns/"
	xsiNS   = "http://www.w3.org/2001/XMLSchema-instance"
)

// reader walks an etree document against a vocab, collecting the first
// schema violation (400) and the first thing not understood (420). A
// violation wins over a thing not understood: the draft answers 420 only
// to a "syntactically correct" message. The walk stops at the first
// violation and skips the subtree of anything not understood.
type reader struct {
	v       *vocab
	strict  bool
	onAlias func(alias, canonical string)
	seen    map[string]struct{}
	bad     *Error   // first 400
	unsup   *Error   // first 420
	nodes   []node   // where enter takes its nodes from, a chunk at a time
	tree    *builder // the slabs of a tree fastTree built, for release
}

// release hands the tree's slabs back once the walk is over and nothing
// refers to the tree.
func (r *reader) release() {
	if r.tree != nil {
		r.tree.nodesUsed = usedOf(r.tree.nodes0, r.nodes)
		r.tree.release()
		r.tree = nil
	}
}

// nsScope is one namespace binding; the chain ends with the built-in xml
// prefix. The default namespace is bound to the prefix "".
type nsScope struct {
	prefix, uri string
	next        *nsScope
}

var rootScope = &nsScope{prefix: "xml", uri: xmlNS}

func (s *nsScope) lookup(prefix string) (string, bool) {
	for ; s != nil; s = s.next {
		if s.prefix == prefix {
			return s.uri, true
		}
	}
	return "", false
}

// node is an element being read, with its resolved name and scope.
type node struct {
	el     *etree.Element
	parent *node
	scope  *nsScope
	ns     string // namespace URI ("" for none)
}

// begin runs the steps common to both parsers: size cap, charset, limits
// scan, tree building, root checks. It returns the reader and the root
// node, or the error that ends parsing.
func begin(data []byte, opt *Options, v *vocab) (*reader, *node, error) {
	lim := opt.Limits.WithDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, nil, wrapErr(ErrTooLarge, "message of %d bytes exceeds the limit of %d bytes", len(data), lim.MaxBytes)
	}
	data, cerr := toUTF8(data, opt.Charset)
	if cerr != nil {
		return nil, nil, cerr
	}
	buf := compactBufs.Get().(*[]byte)
	defer compactBufs.Put(buf)
	compact, elements, e := prescan(data, lim, (*buf)[:0])
	if e != nil {
		return nil, nil, e
	}
	if len(compact) > 0 && &compact[0] != &data[0] && cap(compact) <= maxPooledCopy {
		*buf = compact[:0] // keep the grown buffer; the tree copies its strings
	}
	doc, tree, ok := fastTree(compact, lim, elements)
	var err error
	if !ok {
		doc, err = readTree(compact, lim)
	}
	if err != nil && len(compact) != len(data) {
		// The compact copy's line numbers are not the message's.
		_, err = readTree(data, lim)
	}
	if err != nil {
		return nil, nil, syntaxErr("not well-formed: %s", describeXMLError(err))
	}
	r := &reader{v: v, strict: opt.Mode == Strict, onAlias: opt.OnAlias, tree: tree}
	if tree != nil {
		r.nodes = tree.nodes(elements)
	} else {
		r.nodes = make([]node, 0, min(elements, 1024))
	}

	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, nil, syntaxErr("not well-formed: more than one root element")
			}
			root = t
		case *etree.CharData:
			if !isWhitespace(t.Data) {
				return nil, nil, syntaxErr("not well-formed: text outside the root element")
			}
		case *etree.Directive:
			return nil, nil, syntaxErr("markup declarations are not allowed")
		}
	}
	if root == nil {
		return nil, nil, syntaxErr("not well-formed: no root element")
	}
	n := r.enter(root, nil)
	if r.bad != nil {
		return nil, nil, r.bad
	}
	if n.ns != v.ns || n.el.Tag != v.root {
		return nil, nil, syntaxErr("the root element must be <%s> in namespace %s, not <%s>%s",
			v.root, v.ns, sanitize(n.el.Tag, 64), nsNote(n.ns))
	}
	return r, n, nil
}

// compactBufs holds the buffers of prescan's compact copies. A buffer is
// free again once the tree is built: the decoder copies every name, value
// and text out of its input.
var compactBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledCopy is the largest compact-copy buffer kept for reuse.
const maxPooledCopy = 256 << 10

// readTree builds the etree document of data.
func readTree(data []byte, lim Limits) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		// The charset was settled by toUTF8: the data is UTF-8 now,
		// whatever the declaration says.
		CharsetReader:          func(_ string, in io.Reader) (io.Reader, error) { return in, nil },
		PreserveDuplicateAttrs: true, // so that duplicates can be refused
		MaxDepth:               lim.MaxDepth,
	}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, err
	}
	return doc, nil
}

func nsNote(ns string) string {
	if ns == "" {
		return " in no namespace"
	}
	return " in namespace " + sanitize(ns, 80)
}

// describeXMLError turns a decoder error into a short reason.
func describeXMLError(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("line %d: %s", se.Line, sanitize(se.Msg, 120))
	}
	if errors.Is(err, etree.ErrXML) {
		return "unbalanced or unterminated elements"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of document"
	}
	return sanitize(err.Error(), 120)
}

// result returns the outcome of the walk: nil, or the *Error to answer.
func (r *reader) result() *Error {
	if r.bad != nil {
		return r.bad
	}
	return r.unsup
}

func (r *reader) failed() bool { return r.bad != nil }

// invalid records a schema violation (400) at n.
func (r *reader) invalid(n *node, format string, args ...any) {
	if r.bad == nil {
		r.bad = &Error{Status: StatusSyntaxError, Reason: n.path() + ": " + fmt.Sprintf(format, args...)}
	}
}

// unsupported records something not understood (420) at n.
func (r *reader) unsupported(n *node, format string, args ...any) {
	if r.unsup == nil {
		r.unsup = &Error{Status: StatusUnsupported, Reason: n.path() + ": " + fmt.Sprintf(format, args...)}
	}
}

// alias handles an alias spelling: strict mode records it as not
// understood and returns false; lenient mode reports it once and returns
// true.
func (r *reader) alias(n *node, alias, canonical string) bool {
	if r.strict {
		if canonical == "" {
			r.unsupported(n, "element <%s> is not defined by the %s schema", alias, r.v.pkg)
		} else if alias == AliasSeveralServices {
			r.unsupported(n, "more than one <Cloud-Service> in a notification is not allowed by the %s schema", r.v.pkg)
		} else {
			r.unsupported(n, "element <%s> is not defined by the %s schema (its name there is <%s>)", alias, r.v.pkg, canonical)
		}
		return false
	}
	if r.onAlias != nil {
		if r.seen == nil {
			r.seen = make(map[string]struct{})
		}
		if _, dup := r.seen[alias]; !dup {
			r.seen[alias] = struct{}{}
			r.onAlias(alias, canonical)
		}
	}
	return true
}

// enter resolves the namespace scope and name of el.
func (r *reader) enter(el *etree.Element, parent *node) *node {
	// One allocation for the nodes of all the elements prescan counted
	// (a notification has a hundred or more), then one per chunk; a full
	// chunk is left to the nodes that point into it.
	if len(r.nodes) == cap(r.nodes) {
		r.nodes = make([]node, 0, 64)
	}
	r.nodes = r.nodes[:len(r.nodes)+1]
	n := &r.nodes[len(r.nodes)-1]
	*n = node{el: el, parent: parent, scope: rootScope}
	if parent != nil {
		n.scope = parent.scope
	}
	for _, a := range el.Attr {
		var prefix string
		switch {
		case a.Space == "" && a.Key == "xmlns":
			prefix = ""
		case a.Space == "xmlns":
			prefix = a.Key
			if a.Value == "" {
				r.invalid(n, "namespace prefix %q bound to the empty name", sanitize(prefix, 64))
				return n
			}
		default:
			continue
		}
		switch {
		case prefix == "xmlns", a.Value == xmlnsNS,
			prefix == "xml" && a.Value != xmlNS,
			prefix != "xml" && a.Value == xmlNS:
			r.invalid(n, "reserved namespace binding %s=%q", sanitize(a.FullKey(), 64), sanitize(a.Value, 80))
			return n
		}
		n.scope = &nsScope{prefix: prefix, uri: a.Value, next: n.scope}
	}
	if el.Tag == "" || strings.IndexByte(el.Tag, ':') >= 0 || (el.Space != "" && !isNCName(el.Space)) {
		r.invalid(n, "element name %q is not namespace-well-formed", sanitize(el.FullTag(), 64))
		return n
	}
	uri, ok := n.scope.lookup(el.Space)
	if !ok && el.Space != "" {
		r.invalid(n, "undeclared namespace prefix %q", sanitize(el.Space, 64))
		return n
	}
	n.ns = uri
	return n
}

// path names n for error messages: /csbpublish/csbnotification/Cloud-Service[2].
func (n *node) path() string {
	var parts []string
	for x := n; x != nil; x = x.parent {
		name := x.el.Tag
		if x.parent != nil {
			idx, count := 0, 0
			for _, c := range x.parent.el.ChildElements() {
				if c.Tag == x.el.Tag && c.Space == x.el.Space {
					count++
					if c == x.el {
						idx = count
					}
				}
			}
			if count > 1 {
				name += "[" + strconv.Itoa(idx) + "]"
			}
		}
		parts = append(parts, sanitize(name, 64))
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

// attrSpec declares one attribute of an element.
type attrSpec struct {
	name string
	req  bool
}

// attrs checks the attributes of n against specs and calls fn with the
// index and value of each declared attribute present. Namespace
// declarations, xml:* attributes and xsi:schemaLocation /
// xsi:noNamespaceSchemaLocation (hints without meaning) are ignored; any
// other attribute is not understood (420). Duplicate attributes and
// missing required ones are violations (400).
func (r *reader) attrs(n *node, specs []attrSpec, fn func(i int, v string)) {
	var present [4]bool
	for i, a := range n.el.Attr {
		if a.Space == "" && a.Key == "xmlns" || a.Space == "xmlns" {
			continue
		}
		uri := ""
		if a.Space != "" {
			var ok bool
			uri, ok = n.scope.lookup(a.Space)
			if !ok {
				r.invalid(n, "undeclared namespace prefix %q on attribute %s", sanitize(a.Space, 64), sanitize(a.FullKey(), 64))
				return
			}
		}
		if a.Key == "" || strings.IndexByte(a.Key, ':') >= 0 {
			r.invalid(n, "attribute name %q is not namespace-well-formed", sanitize(a.FullKey(), 64))
			return
		}
		for _, b := range n.el.Attr[:i] {
			if b.Key != a.Key || b.Space == "xmlns" || b.Space == "" && b.Key == "xmlns" {
				continue
			}
			buri := ""
			if b.Space != "" {
				buri, _ = n.scope.lookup(b.Space)
			}
			if buri == uri {
				r.invalid(n, "duplicate attribute %s", sanitize(a.FullKey(), 64))
				return
			}
		}
		switch uri {
		case "":
			found := false
			for j, s := range specs {
				if s.name == a.Key {
					present[j] = true
					found = true
					if fn != nil {
						fn(j, a.Value)
					}
					break
				}
			}
			if !found {
				r.unsupported(n, "attribute %s is not understood", sanitize(a.Key, 64))
			}
		case xmlNS:
			// xml:lang, xml:space, xml:base, xml:id: allowed by the
			// schemas' ##other attribute wildcards, meaningless here.
		case xsiNS:
			if a.Key != "schemaLocation" && a.Key != "noNamespaceSchemaLocation" {
				r.unsupported(n, "attribute xsi:%s is not understood", sanitize(a.Key, 64))
			}
		default:
			r.unsupported(n, "attribute {%s}%s is not understood", sanitize(uri, 80), sanitize(a.Key, 64))
		}
		if r.failed() {
			return
		}
	}
	for j, s := range specs {
		if s.req && !present[j] {
			r.invalid(n, "missing attribute %s", s.name)
			return
		}
	}
}

// field declares one child element of a complex type.
type field struct {
	name    string   // schema name
	aliases []string // lenient spellings of the same element
	pos     int      // schema position; members of a choice share one
	req     bool     // minOccurs="1"
	several bool     // lenient mode accepts repetitions (reported as AliasSeveralServices)
	drop    bool     // example-only element: lenient drops it, strict answers 420
	prose   bool     // listed by the prose but not the schema: 420 in both modes
}

const maxFields = 12

// children reads the element children of n against fields, calling fn
// for each accepted child with its field index, and returns how many
// children each field matched. It enforces: no text but whitespace, no
// duplicates, required children present, and in strict mode schema order.
// Elements of other namespaces and unknown names are not understood (420);
// a name the package defines elsewhere is a violation (400).
func (r *reader) children(n *node, fields []field, fn func(i int, c *node)) [maxFields]int {
	var counts [maxFields]int
	lastPos := -1
	for _, t := range n.el.Child {
		if r.failed() {
			return counts
		}
		var el *etree.Element
		switch t := t.(type) {
		case *etree.Element:
			el = t
		case *etree.CharData:
			if !isWhitespace(t.Data) {
				r.invalid(n, "text %q is not allowed here", sanitize(strings.TrimSpace(t.Data), 32))
			}
			continue
		case *etree.Directive:
			r.invalid(n, "markup declarations are not allowed")
			continue
		default: // comments, processing instructions
			continue
		}
		c := r.enter(el, n)
		if r.failed() {
			return counts
		}
		if c.ns != r.v.ns {
			r.unsupported(c, "element <%s>%s is not understood", sanitize(el.Tag, 64), nsNote(c.ns))
			continue
		}
		idx := -1
		for i := range fields {
			if fields[i].name == el.Tag {
				idx = i
				break
			}
		}
		if idx < 0 {
		search:
			for i := range fields {
				for _, a := range fields[i].aliases {
					if a == el.Tag {
						idx = i
						break search
					}
				}
			}
			if idx >= 0 && !r.alias(c, el.Tag, fields[idx].name) {
				continue
			}
		}
		if idx < 0 {
			if _, known := r.v.known[el.Tag]; known {
				r.invalid(c, "element <%s> is not allowed in <%s>", el.Tag, n.el.Tag)
			} else {
				r.unsupported(c, "element <%s> is not understood", sanitize(el.Tag, 64))
			}
			continue
		}
		f := &fields[idx]
		if f.prose {
			r.unsupported(c, "element <%s> is listed by the draft's prose but not by its schema, and is not supported", f.name)
			continue
		}
		if f.drop {
			if r.alias(c, el.Tag, "") {
				counts[idx]++
			}
			continue
		}
		if counts[idx] > 0 {
			if !f.several {
				r.invalid(c, "element <%s> may appear only once in <%s>", f.name, n.el.Tag)
				continue
			}
			if !r.alias(c, AliasSeveralServices, f.name) {
				continue
			}
		}
		if r.strict && f.pos < lastPos {
			r.invalid(c, "element <%s> is out of schema order in <%s>", f.name, n.el.Tag)
			continue
		}
		lastPos = max(lastPos, f.pos)
		counts[idx]++
		fn(idx, c)
	}
	if r.failed() {
		return counts
	}
	for i := range fields {
		if fields[i].req && counts[i] == 0 {
			r.invalid(n, "missing element <%s>", fields[i].name)
			return counts
		}
	}
	return counts
}

// text returns the character content of a simple-typed element: its
// attributes must be ignorable ones and it must have no child elements.
func (r *reader) text(n *node) (string, bool) {
	r.attrs(n, nil, nil)
	if r.failed() {
		return "", false
	}
	var s string
	multi := false
	var b strings.Builder
	for _, t := range n.el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			if !multi && s == "" {
				s = t.Data
				continue
			}
			if !multi {
				b.WriteString(s)
				multi = true
			}
			b.WriteString(t.Data)
		case *etree.Element:
			r.invalid(n, "element <%s> is not allowed in simple content", sanitize(t.Tag, 64))
			return "", false
		case *etree.Directive:
			r.invalid(n, "markup declarations are not allowed")
			return "", false
		}
	}
	if multi {
		return b.String(), true
	}
	return s, true
}

func isWhitespace(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isXMLSpace(s[i]) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Typed values. Each helper reads an element's content (or an attribute
// value) and records a violation when it is not in the lexical space of
// its schema type.

// what names an attribute for messages ("" for element content).
func what(attr string) string {
	if attr == "" {
		return ""
	}
	return "attribute " + attr + ": "
}

func (r *reader) tokenValue(n *node, attr, raw string) (string, bool) {
	v := collapse(raw)
	if !isNMTOKEN(v) {
		r.invalid(n, "%s%q is not an NMTOKEN", what(attr), sanitize(v, 32))
		return "", false
	}
	return v, true
}

func (r *reader) uintValue(n *node, attr, raw string) (uint64, bool) {
	v := collapse(raw)
	u, ok := parseUint(v)
	if !ok {
		r.invalid(n, "%s%q is not a non-negative integer below 2^64", what(attr), sanitize(v, 32))
	}
	return u, ok
}

func (r *reader) uriValue(n *node, raw string) (string, bool) {
	v := collapse(raw)
	if !isAnyURI(v) {
		r.invalid(n, "%q is not a URI reference", sanitize(v, 64))
		return "", false
	}
	return v, true
}

func (r *reader) boolValue(n *node, raw string) (bool, bool) {
	switch collapse(raw) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	r.invalid(n, "%q is not \"true\" or \"false\"", sanitize(collapse(raw), 32))
	return false, false
}

func enumValue[T ~string](r *reader, n *node, attr, raw string, values []T) (T, bool) {
	v := collapse(raw)
	for _, x := range values {
		if string(x) == v {
			return x, true
		}
	}
	r.invalid(n, "%s%q is not one of %s", what(attr), sanitize(v, 32), enumList(values))
	return "", false
}

func enumList[T ~string](values []T) string {
	var b strings.Builder
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(string(v)))
	}
	return b.String()
}

// Element-content readers. Each returns the zero value after recording a
// violation.

func (r *reader) str(n *node) string {
	s, _ := r.text(n)
	return s
}

func (r *reader) optStr(n *node) *string {
	if s, ok := r.text(n); ok {
		return &s
	}
	return nil
}

// optional is &v when ok, else nil: what an opt* reader returns of its
// element's value.
func optional[T any](v T, ok bool) *T {
	if ok {
		return &v
	}
	return nil
}

// The readers of a typed value's element content, ok false after a
// violation: each reader of an element and its opt* reader (the value
// or nil) share them.

func (r *reader) tokenElem(n *node) (string, bool) {
	if s, ok := r.text(n); ok {
		return r.tokenValue(n, "", s)
	}
	return "", false
}

func (r *reader) uintElem(n *node) (uint64, bool) {
	if s, ok := r.text(n); ok {
		return r.uintValue(n, "", s)
	}
	return 0, false
}

func (r *reader) uriElem(n *node) (string, bool) {
	if s, ok := r.text(n); ok {
		return r.uriValue(n, s)
	}
	return "", false
}

func (r *reader) boolElem(n *node) (bool, bool) {
	if s, ok := r.text(n); ok {
		return r.boolValue(n, s)
	}
	return false, false
}

func enumElemOK[T ~string](r *reader, n *node, values []T) (T, bool) {
	if s, ok := r.text(n); ok {
		return enumValue(r, n, "", s, values)
	}
	return "", false
}

func (r *reader) token(n *node) string {
	v, _ := r.tokenElem(n)
	return v
}

func (r *reader) optToken(n *node) *string { return optional(r.tokenElem(n)) }

func (r *reader) uint(n *node) uint64 {
	v, _ := r.uintElem(n)
	return v
}

func (r *reader) optUint(n *node) *uint64 { return optional(r.uintElem(n)) }

func (r *reader) uri(n *node) string {
	v, _ := r.uriElem(n)
	return v
}

func (r *reader) optURI(n *node) *string { return optional(r.uriElem(n)) }

func (r *reader) optBool(n *node) *bool { return optional(r.boolElem(n)) }

func enumElem[T ~string](r *reader, n *node, values []T) T {
	v, _ := enumElemOK(r, n, values)
	return v
}

func optEnum[T ~string](r *reader, n *node, values []T) *T {
	return optional(enumElemOK(r, n, values))
}
