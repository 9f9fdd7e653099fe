package csbcimi

// CIMI's collection query parameters (DSP0263 section 4.1.6): $filter,
// $first and $last, $select, $expand.

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// query is the parsed query of a read.
type query struct {
	filters     []expr // ORed: several $filter parameters select the union
	first, last int    // 1-based, inclusive; 0 = not given
	selects     []string
	expand      []string
}

func parseQuery(v url.Values) (*query, error) {
	q := &query{}
	for _, s := range v["$filter"] {
		e, err := parseFilter(s)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "$filter %q: %v", s, err)
		}
		q.filters = append(q.filters, e)
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"$first", &q.first}, {"$last", &q.last}} {
		// Each names one position: given twice, or empty, it is a
		// mistake to refuse, not a value to guess.
		vals, given := v[p.name]
		if !given {
			continue
		}
		if len(vals) > 1 {
			return nil, errorf(http.StatusBadRequest, "%s is given %d times: give it once", p.name, len(vals))
		}
		n, err := strconv.Atoi(vals[0])
		if err != nil || n < 1 {
			return nil, errorf(http.StatusBadRequest, "%s %q: want a positive integer", p.name, vals[0])
		}
		*p.dst = n
	}
	if q.first > 0 && q.last > 0 && q.last < q.first {
		return nil, errorf(http.StatusBadRequest, "$last %d is before $first %d", q.last, q.first)
	}
	for _, s := range v["$select"] {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				q.selects = append(q.selects, a)
			}
		}
	}
	for _, s := range v["$expand"] {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				q.expand = append(q.expand, a)
			}
		}
	}
	return q, nil
}

// match reports whether o passes the filters.
func (q *query) match(o obj) bool {
	if len(q.filters) == 0 {
		return true
	}
	for _, e := range q.filters {
		if e.eval(o) {
			return true
		}
	}
	return false
}

// window applies $first and $last to the filtered members.
func (q *query) window(members []obj) []obj {
	from, to := 0, len(members)
	if q.first > 0 {
		from = min(q.first-1, len(members))
	}
	if q.last > 0 {
		to = min(q.last, len(members))
	}
	if to < from {
		return nil
	}
	return members[from:to]
}

// project applies $select to one resource: the selected attributes,
// besides resourceURI and id.
func (q *query) project(o obj) obj {
	if len(q.selects) == 0 {
		return o
	}
	out := obj{"resourceURI": o["resourceURI"], "id": o["id"]}
	for _, a := range q.selects {
		if a == "*" {
			return o
		}
		if v, ok := o[a]; ok {
			out[a] = v
		}
	}
	return out
}

// collection renders a collection of members after the query: count is
// the number of members that pass $filter, before $first/$last.
func (c *call) collection(typ, name string, members []obj, q *query, add bool) obj {
	var kept []obj
	for _, m := range members {
		if q.match(m) {
			kept = append(kept, m)
		}
	}
	count := len(kept)
	kept = q.window(kept)
	out := make([]obj, 0, len(kept))
	for _, m := range kept {
		out = append(out, q.project(m))
	}
	o := obj{"resourceURI": NS + "/" + typ + "Collection", "id": c.base + name, "count": count}
	if len(out) > 0 {
		// The members' attribute is named after their type
		// (machineConfigurations in a MachineConfigurationCollection).
		o[strings.ToLower(typ[:1])+typ[1:]+"s"] = out
	}
	if add {
		o["operations"] = []op{{Rel: "add", Href: c.base + name}}
	}
	return o
}

// ---------------------------------------------------------------------------
// $filter
//
//	Filter   ::= AndExpr ( "or" Filter )?
//	AndExpr  ::= Comp ( "and" AndExpr )?
//	Comp     ::= Attribute Op Value | Value Op Attribute | PropExpr | "(" Filter ")"
//	PropExpr ::= "property[" String "]" Op String
//	Op       ::= "<" | "<=" | "=" | ">=" | ">" | "!="
//	Value    ::= Integer | String | "true" | "false" | DateTime
//
// Strings are quoted with ' or "; date-times are written as strings
// (RFC 3339) and compare as such.

type expr interface{ eval(o obj) bool }

// orExpr and andExpr hold their operands in a list, not as a tree, so
// that a long chain of "or" or "and" is neither parsed nor evaluated by a
// recursion as deep as the chain is long.
type orExpr []expr
type andExpr []expr
type cmpExpr struct {
	attr, prop string // attribute name, or property key when attr is ""
	op         string
	val        any // int64, string or bool
	flipped    bool
}

func (e orExpr) eval(o obj) bool {
	for _, x := range e {
		if x.eval(o) {
			return true
		}
	}
	return false
}

func (e andExpr) eval(o obj) bool {
	for _, x := range e {
		if !x.eval(o) {
			return false
		}
	}
	return true
}

func (e cmpExpr) eval(o obj) bool {
	var have any
	if e.attr == "" {
		p, _ := o["properties"].(props)
		v, ok := p[e.prop]
		if !ok {
			return false
		}
		have = v
	} else {
		v, ok := o[e.attr]
		if !ok {
			return false
		}
		have = v
	}
	c, ok := compare(have, e.val)
	if !ok {
		return e.op == "!="
	}
	if e.flipped {
		c = -c
	}
	switch e.op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// compare compares an attribute's value with a literal: -1, 0, 1, and
// false when their types do not compare.
func compare(have, want any) (int, bool) {
	switch w := want.(type) {
	case int64:
		var h int64
		switch v := have.(type) {
		case int:
			h = int64(v)
		case int64:
			h = v
		case uint64:
			h = int64(v)
		default:
			return 0, false
		}
		switch {
		case h < w:
			return -1, true
		case h > w:
			return 1, true
		}
		return 0, true
	case bool:
		h, ok := have.(bool)
		if !ok {
			return 0, false
		}
		if h == w {
			return 0, true
		}
		return 1, true
	case string:
		var h string
		switch v := have.(type) {
		case string:
			h = v
		case ref:
			h = v.Href
		default:
			h = fmt.Sprint(v)
		}
		return strings.Compare(h, w), true
	}
	return 0, false
}

type filterParser struct {
	toks  []string
	pos   int
	depth int // parentheses open at pos
}

// maxFilterDepth bounds the nesting of parentheses in a $filter: the
// parser recurses once per level, and a request line of "(((..." would
// otherwise take it past the goroutine stack's limit, a fatal error that
// ends the whole process.
const maxFilterDepth = 64

func parseFilter(s string) (expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	e, err := p.filter()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return e, nil
}

func (p *filterParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *filterParser) next() string {
	t := p.peek()
	if t != "" {
		p.pos++
	}
	return t
}

func (p *filterParser) filter() (expr, error) {
	return p.list("or", p.and, func(es []expr) expr { return orExpr(es) })
}

func (p *filterParser) and() (expr, error) {
	return p.list("and", p.comp, func(es []expr) expr { return andExpr(es) })
}

// list parses "<operand> (<op> <operand>)*" and joins the operands with
// join (op is associative, so the order of joining does not matter).
func (p *filterParser) list(op string, operand func() (expr, error), join func(es []expr) expr) (expr, error) {
	var es []expr
	for {
		e, err := operand()
		if err != nil {
			return nil, err
		}
		es = append(es, e)
		if p.peek() != op {
			break
		}
		p.next()
	}
	if len(es) == 1 {
		return es[0], nil
	}
	return join(es), nil
}

var ops = map[string]bool{"<": true, "<=": true, "=": true, ">=": true, ">": true, "!=": true}

func (p *filterParser) comp() (expr, error) {
	t := p.next()
	switch {
	case t == "":
		return nil, fmt.Errorf("unexpected end")
	case t == "(":
		if p.depth++; p.depth > maxFilterDepth {
			return nil, fmt.Errorf("parentheses nested deeper than %d", maxFilterDepth)
		}
		defer func() { p.depth-- }()
		e, err := p.filter()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		return e, nil
	case t == "property[":
		key := p.next()
		if !isString(key) {
			return nil, fmt.Errorf("property[ needs a quoted key")
		}
		if p.next() != "]" {
			return nil, fmt.Errorf("missing ] after property[%s", key)
		}
		o := p.next()
		if !ops[o] {
			return nil, fmt.Errorf("want an operator after property[%s], got %q", key, o)
		}
		v := p.next()
		if !isString(v) {
			return nil, fmt.Errorf("a property compares with a quoted string, got %q", v)
		}
		return cmpExpr{prop: unquote(key), op: o, val: unquote(v)}, nil
	}
	o := p.next()
	if !ops[o] {
		return nil, fmt.Errorf("want an operator after %q, got %q", t, o)
	}
	u := p.next()
	if u == "" {
		return nil, fmt.Errorf("unexpected end after %s", o)
	}
	if isAttr(t) && !isAttr(u) {
		v, err := literal(u)
		return cmpExpr{attr: t, op: o, val: v}, err
	}
	if isAttr(u) && !isAttr(t) {
		v, err := literal(t)
		return cmpExpr{attr: u, op: o, val: v, flipped: true}, err
	}
	return nil, fmt.Errorf("%s %s %s: compare an attribute with a value", t, o, u)
}

func isString(t string) bool {
	return len(t) >= 2 && (t[0] == '\'' || t[0] == '"') && t[len(t)-1] == t[0]
}

// unquote returns a quoted token's string: without its quotes, and with
// \<quote> and \\ read as the character escaped (another backslash is
// kept as it is).
func unquote(t string) string {
	q, body := t[0], t[1:len(t)-1]
	if !strings.Contains(body, "\\") {
		return body
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' && i+1 < len(body) && (body[i+1] == q || body[i+1] == '\\') {
			i++
		}
		b.WriteByte(body[i])
	}
	return b.String()
}

func isAttr(t string) bool {
	if t == "true" || t == "false" || t == "" || isString(t) {
		return false
	}
	r := []rune(t)
	if !unicode.IsLetter(r[0]) {
		return false
	}
	for _, c := range r {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

func literal(t string) (any, error) {
	switch {
	case isString(t):
		return unquote(t), nil
	case t == "true":
		return true, nil
	case t == "false":
		return false, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not an integer, a boolean or a quoted string", t)
	}
	return n, nil
}

func tokenize(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			i++
		case ch == '(' || ch == ')' || ch == ']':
			out = append(out, string(ch))
			i++
		case ch == '\'' || ch == '"':
			// A backslash escapes the next byte: \' in a '-quoted
			// string, \" in a "-quoted one, \\ for a backslash.
			j := i + 1
			for j < len(s) && s[j] != ch {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, s[i:j+1])
			i = j + 1
		case ch == '<' || ch == '>' || ch == '!' || ch == '=':
			if i+1 < len(s) && s[i+1] == '=' && ch != '=' {
				out = append(out, s[i:i+2])
				i += 2
			} else if ch == '!' {
				return nil, fmt.Errorf("'!' must be followed by '='")
			} else {
				out = append(out, string(ch))
				i++
			}
		case strings.HasPrefix(s[i:], "property["):
			out = append(out, "property[")
			i += len("property[")
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t()[]<>=!'\"", rune(s[j])) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q", s[i])
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}
