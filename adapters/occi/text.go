package occi

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Media types of the OCCI HTTP text rendering (GFD.185 section 3.5,
// GFD.229). In text/plain the rendering is carried in the body, one
// header-like line per value; in text/occi it is carried in HTTP headers
// and the body is empty.
const (
	MediaTextPlain = "text/plain"
	MediaTextOCCI  = "text/occi"
	MediaJSON      = "application/json"
	MediaURIList   = "text/uri-list"
)

// Rendering header names.
const (
	hdrCategory  = "Category"
	hdrAttribute = "X-OCCI-Attribute"
	hdrLink      = "Link"
	hdrLocation  = "X-OCCI-Location"
)

// Category classes.
const (
	ClassKind   = "kind"
	ClassMixin  = "mixin"
	ClassAction = "action"
)

// Category is an OCCI Category, Kind, Mixin or Action as rendered by a
// "Category:" value.
type Category struct {
	Term       string
	Scheme     string
	Class      string
	Title      string
	Rel        []string // parent kind, or the mixins a mixin depends on
	Location   string
	Attributes []AttributeDef
	Actions    []string // action category identifiers (scheme+term)
}

// ID is the category identifier: scheme followed by term.
func (c Category) ID() string { return c.Scheme + c.Term }

// Attr returns the definition of the named attribute, if declared.
func (c Category) Attr(name string) (AttributeDef, bool) {
	for _, a := range c.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return AttributeDef{}, false
}

// AttributeDef describes an attribute a category declares. The text
// rendering only carries the name and the {required}/{immutable} flags;
// the JSON rendering also carries type, pattern and default.
type AttributeDef struct {
	Name      string
	Required  bool
	Immutable bool
	Type      string // "string", "number", "boolean", "" if unknown
	Pattern   string
	Default   *Value
	Min, Max  *float64
}

// Value is an attribute value. OCCI renders strings quoted and numbers and
// booleans bare.
type Value struct {
	S      string // the value, unquoted and unescaped
	Quoted bool   // rendered as a string
}

// Str returns a string value.
func Str(s string) Value { return Value{S: s, Quoted: true} }

// Num returns a number value, rendered without a needless fraction.
func Num(f float64) Value { return Value{S: strconv.FormatFloat(f, 'f', -1, 64)} }

// Int returns an integer value.
func Int(n uint64) Value { return Value{S: strconv.FormatUint(n, 10)} }

// Float parses the value as a number.
func (v Value) Float() (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(v.S), 64)
}

func (v Value) render() string {
	if !v.Quoted {
		return v.S
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v.S {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Attributes is an ordered attribute set.
type Attributes struct {
	names  []string
	values map[string]Value
}

// Set sets an attribute, keeping the first position of its name.
func (a *Attributes) Set(name string, v Value) {
	if a.values == nil {
		a.values = map[string]Value{}
	}
	if _, ok := a.values[name]; !ok {
		a.names = append(a.names, name)
	}
	a.values[name] = v
}

// Get returns an attribute.
func (a Attributes) Get(name string) (Value, bool) {
	v, ok := a.values[name]
	return v, ok
}

// Names returns the attribute names in order.
func (a Attributes) Names() []string { return append([]string(nil), a.names...) }

// SetAll sets every attribute of b, in b's order.
func (a *Attributes) SetAll(b Attributes) {
	for _, name := range b.names {
		a.Set(name, b.values[name])
	}
}

// Len is the number of attributes.
func (a Attributes) Len() int { return len(a.names) }

// Delete removes an attribute.
func (a *Attributes) Delete(name string) {
	if _, ok := a.values[name]; !ok {
		return
	}
	delete(a.values, name)
	for i, n := range a.names {
		if n == name {
			a.names = append(a.names[:i], a.names[i+1:]...)
			break
		}
	}
}

// Link is an OCCI Link instance reference ("Link:" value) or an action
// link (target carries "?action=").
type Link struct {
	Target     string
	Rel        string
	Self       string
	Category   string // the link's kind identifier, and any mixins, space separated
	Attributes Attributes
}

// IsAction reports whether the link names an action invocation.
func (l Link) IsAction() bool { return strings.Contains(l.Target, "?action=") }

// Message is one rendered OCCI message: categories, attributes, links and
// locations, in the order they appeared.
type Message struct {
	Categories []Category
	Attributes Attributes
	Links      []Link
	Locations  []string
}

// Kind returns the first category of class kind.
func (m *Message) Kind() (Category, bool) {
	for _, c := range m.Categories {
		if c.Class == ClassKind {
			return c, true
		}
	}
	return Category{}, false
}

// HasCategory reports whether the message carries the category.
func (m *Message) HasCategory(id string) bool {
	for _, c := range m.Categories {
		if c.ID() == id {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Rendering

// renderCategory renders a Category value. Only the fields that are set are
// rendered; an entity's categories carry term, scheme and class only.
func renderCategory(c Category) string {
	var b strings.Builder
	b.WriteString(c.Term)
	fmt.Fprintf(&b, `; scheme="%s"; class="%s"`, c.Scheme, c.Class)
	if c.Title != "" {
		fmt.Fprintf(&b, `; title=%s`, Str(c.Title).render())
	}
	if len(c.Rel) > 0 {
		fmt.Fprintf(&b, `; rel="%s"`, strings.Join(c.Rel, " "))
	}
	if c.Location != "" {
		fmt.Fprintf(&b, `; location="%s"`, c.Location)
	}
	if len(c.Attributes) > 0 {
		names := make([]string, len(c.Attributes))
		for i, a := range c.Attributes {
			names[i] = a.Name
			switch {
			case a.Required && a.Immutable:
				names[i] += "{required immutable}"
			case a.Required:
				names[i] += "{required}"
			case a.Immutable:
				names[i] += "{immutable}"
			}
		}
		fmt.Fprintf(&b, `; attributes="%s"`, strings.Join(names, " "))
	}
	if len(c.Actions) > 0 {
		fmt.Fprintf(&b, `; actions="%s"`, strings.Join(c.Actions, " "))
	}
	return b.String()
}

func renderAttribute(name string, v Value) string { return name + "=" + v.render() }

func renderLink(l Link) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<%s>; rel="%s"`, l.Target, l.Rel)
	if l.Self != "" {
		fmt.Fprintf(&b, `; self="%s"`, l.Self)
	}
	if l.Category != "" {
		fmt.Fprintf(&b, `; category="%s"`, l.Category)
	}
	for _, n := range l.Attributes.names {
		fmt.Fprintf(&b, "; %s", renderAttribute(n, l.Attributes.values[n]))
	}
	return b.String()
}

// lines returns the message as (header, value) pairs in rendering order.
func (m *Message) lines() [][2]string {
	var out [][2]string
	for _, c := range m.Categories {
		out = append(out, [2]string{hdrCategory, renderCategory(c)})
	}
	for _, l := range m.Links {
		out = append(out, [2]string{hdrLink, renderLink(l)})
	}
	for _, n := range m.Attributes.names {
		out = append(out, [2]string{hdrAttribute, renderAttribute(n, m.Attributes.values[n])})
	}
	for _, loc := range m.Locations {
		out = append(out, [2]string{hdrLocation, loc})
	}
	return out
}

// RenderPlain renders the message as a text/plain body.
func (m *Message) RenderPlain() []byte {
	var b bytes.Buffer
	for _, l := range m.lines() {
		b.WriteString(l[0])
		b.WriteString(": ")
		b.WriteString(l[1])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// RenderHeaders renders the message into text/occi headers, one header
// line per value.
func (m *Message) RenderHeaders(h http.Header) {
	for _, l := range m.lines() {
		h.Add(l[0], l[1])
	}
}

// ---------------------------------------------------------------------------
// Parsing

// ParsePlain parses a text/plain body. Lines that are not OCCI rendering
// lines (blank lines, unknown headers) are ignored; a malformed OCCI line
// is an error. Plain URI lines (a text/uri-list body, or the bare
// location some servers answer a create with) are collected as locations.
func ParsePlain(body []byte) (*Message, error) {
	m := &Message{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if ok && isToken(name) {
			if err := m.add(name, value); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			continue
		}
		if strings.Contains(line, "://") || strings.HasPrefix(line, "/") {
			m.Locations = append(m.Locations, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseHeaders parses the text/occi rendering carried in HTTP headers.
// Several values may share one header line, separated by commas.
func ParseHeaders(h http.Header) (*Message, error) {
	m := &Message{}
	for _, name := range []string{hdrCategory, hdrLink, hdrAttribute, hdrLocation} {
		for _, line := range h.Values(name) {
			for _, v := range splitOutside(line, ',') {
				if strings.TrimSpace(v) == "" {
					continue
				}
				if err := m.add(name, v); err != nil {
					return nil, err
				}
			}
		}
	}
	return m, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (m *Message) add(name, value string) error {
	value = strings.TrimSpace(value)
	switch {
	case strings.EqualFold(name, hdrCategory):
		c, err := parseCategory(value)
		if err != nil {
			return err
		}
		m.Categories = append(m.Categories, c)
	case strings.EqualFold(name, hdrAttribute):
		k, v, err := parseAttribute(value)
		if err != nil {
			return err
		}
		m.Attributes.Set(k, v)
	case strings.EqualFold(name, hdrLink):
		l, err := parseLink(value)
		if err != nil {
			return err
		}
		m.Links = append(m.Links, l)
	case strings.EqualFold(name, hdrLocation), strings.EqualFold(name, "Location"):
		for _, loc := range splitOutside(value, ',') {
			if loc = strings.TrimSpace(loc); loc != "" {
				m.Locations = append(m.Locations, loc)
			}
		}
	}
	return nil
}

// splitOutside splits s at sep characters that are outside double quotes
// and angle brackets.
func splitOutside(s string, sep byte) []string {
	var out []string
	inQuote, inAngle, esc := false, false, false
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inQuote && c == '\\':
			esc = true
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '<':
			inAngle = true
		case !inQuote && c == '>':
			inAngle = false
		case !inQuote && !inAngle && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

type param struct {
	key string
	val Value
}

// params splits "; k=v; k2="v 2"" style parameters. Parameters are
// separated by semicolons; as rOCCI does in Link values, they may also be
// separated by whitespace alone.
func params(s string) ([]param, error) {
	var out []param
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ';' || s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ';' && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		key := s[i:j]
		if j >= len(s) || s[j] != '=' {
			return nil, fmt.Errorf("parameter %q has no value", key)
		}
		j++
		val, n, err := scanValue(s[j:])
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", key, err)
		}
		out = append(out, param{key, val})
		i = j + n
	}
	return out, nil
}

// scanValue reads a quoted string or a bare token at the start of s and
// returns it with the number of bytes consumed.
func scanValue(s string) (Value, int, error) {
	if s == "" {
		return Value{}, 0, nil
	}
	if s[0] != '"' {
		j := 0
		for j < len(s) && s[j] != ';' && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		return Value{S: s[:j]}, j, nil
	}
	var b strings.Builder
	for j := 1; j < len(s); j++ {
		switch c := s[j]; c {
		case '\\':
			if j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				default:
					b.WriteByte(s[j])
				}
			}
		case '"':
			return Value{S: b.String(), Quoted: true}, j + 1, nil
		default:
			b.WriteByte(c)
		}
	}
	return Value{}, 0, fmt.Errorf("unterminated quoted string")
}

func parseCategory(s string) (Category, error) {
	term, rest, _ := strings.Cut(s, ";")
	c := Category{Term: strings.TrimSpace(term)}
	if c.Term == "" {
		return c, fmt.Errorf("category without a term: %q", s)
	}
	ps, err := params(rest)
	if err != nil {
		return c, fmt.Errorf("category %q: %w", c.Term, err)
	}
	for _, p := range ps {
		switch p.key {
		case "scheme":
			c.Scheme = p.val.S
		case "class":
			c.Class = p.val.S
		case "title":
			c.Title = p.val.S
		case "rel":
			c.Rel = strings.Fields(p.val.S)
		case "location":
			c.Location = p.val.S
		case "attributes":
			c.Attributes = parseAttributeList(p.val.S)
		case "actions":
			c.Actions = strings.Fields(p.val.S)
		}
	}
	if c.Scheme == "" || c.Class == "" {
		return c, fmt.Errorf("category %q: scheme and class are required", c.Term)
	}
	return c, nil
}

// parseAttributeList parses "a b{required} c{immutable required}".
func parseAttributeList(s string) []AttributeDef {
	var out []AttributeDef
	for _, f := range splitOutsideBraces(s) {
		d := AttributeDef{Name: f}
		if i := strings.IndexByte(f, '{'); i >= 0 {
			d.Name = f[:i]
			props := strings.Fields(strings.Trim(f[i:], "{}"))
			for _, p := range props {
				switch p {
				case "required":
					d.Required = true
				case "immutable":
					d.Immutable = true
				}
			}
		}
		out = append(out, d)
	}
	return out
}

func splitOutsideBraces(s string) []string {
	var out []string
	depth, start := 0, -1
	for i := 0; i <= len(s); i++ {
		var c byte = ' '
		if i < len(s) {
			c = s[i]
		}
		switch {
		case c == '{':
			depth++
		case c == '}':
			depth--
		case (c == ' ' || c == '\t' || c == '\n') && depth <= 0:
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return out
}

func parseAttribute(s string) (string, Value, error) {
	name, raw, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return "", Value{}, fmt.Errorf("attribute %q: expected name=value", s)
	}
	raw = strings.TrimSpace(raw)
	if strings.HasPrefix(raw, `"`) {
		v, _, err := scanValue(raw)
		if err != nil {
			return "", Value{}, fmt.Errorf("attribute %q: %w", name, err)
		}
		return name, v, nil
	}
	return name, Value{S: raw}, nil
}

func parseLink(s string) (Link, error) {
	var l Link
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "<") {
		return l, fmt.Errorf("link %q: target must be in angle brackets", s)
	}
	end := strings.IndexByte(s, '>')
	if end < 0 {
		return l, fmt.Errorf("link %q: unterminated target", s)
	}
	l.Target = s[1:end]
	ps, err := params(s[end+1:])
	if err != nil {
		return l, fmt.Errorf("link <%s>: %w", l.Target, err)
	}
	for _, p := range ps {
		switch p.key {
		case "rel":
			l.Rel = p.val.S
		case "self":
			l.Self = p.val.S
		case "category":
			l.Category = p.val.S
		default:
			l.Attributes.Set(p.key, p.val)
		}
	}
	return l, nil
}
