package csbmsg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// readsAlike reports how the trees of a and b differ for the reader, or
// "": the same elements, attributes and comments, in order, and the same
// text in every element that holds no element. Whitespace in an element
// that holds elements is what the reader ignores, so it may differ.
func readsAlike(a, b *etree.Element) string {
	if a.Space != b.Space || a.Tag != b.Tag {
		return "element " + a.FullTag() + " became " + b.FullTag()
	}
	if len(a.Attr) != len(b.Attr) {
		return "attributes of " + a.FullTag()
	}
	for i := range a.Attr {
		x, y := a.Attr[i], b.Attr[i]
		if x.Space != y.Space || x.Key != y.Key || x.Value != y.Value {
			return "attribute " + a.Attr[i].FullKey() + " of " + a.FullTag()
		}
	}
	keep := func(e *etree.Element) []etree.Token {
		var out []etree.Token
		complexContent := len(e.ChildElements()) > 0
		for _, t := range e.Child {
			if cd, ok := t.(*etree.CharData); ok && complexContent && isWhitespace(cd.Data) {
				continue
			}
			out = append(out, t)
		}
		return out
	}
	ta, tb := keep(a), keep(b)
	// Adjacent text nodes are one text for the reader.
	text := func(ts []etree.Token) []any {
		var out []any
		for _, t := range ts {
			if cd, ok := t.(*etree.CharData); ok {
				if n := len(out); n > 0 {
					if s, ok := out[n-1].(string); ok {
						out[n-1] = s + cd.Data
						continue
					}
				}
				out = append(out, cd.Data)
				continue
			}
			out = append(out, t)
		}
		return out
	}
	xa, xb := text(ta), text(tb)
	if len(xa) != len(xb) {
		return "children of " + a.FullTag()
	}
	for i := range xa {
		switch x := xa[i].(type) {
		case string:
			if y, ok := xb[i].(string); !ok || x != y {
				return "text in " + a.FullTag()
			}
		case *etree.Element:
			y, ok := xb[i].(*etree.Element)
			if !ok {
				return "child of " + a.FullTag()
			}
			if d := readsAlike(x, y); d != "" {
				return d
			}
		case *etree.Comment:
			if y, ok := xb[i].(*etree.Comment); !ok || x.Data != y.Data {
				return "comment in " + a.FullTag()
			}
		case *etree.ProcInst:
			if y, ok := xb[i].(*etree.ProcInst); !ok || x.Target != y.Target || x.Inst != y.Inst {
				return "processing instruction in " + a.FullTag()
			}
		case *etree.Directive:
			if y, ok := xb[i].(*etree.Directive); !ok || x.Data != y.Data {
				return "directive in " + a.FullTag()
			}
		}
	}
	return ""
}

// checkCompact holds prescan's promise for data: its compact copy builds
// a tree the reader reads exactly as data's, and is no less well-formed.
func checkCompact(t *testing.T, data []byte) (dropped bool) {
	t.Helper()
	lim := Limits{}.WithDefaults()
	compact, _, e := prescan(data, lim, nil)
	if e != nil {
		return false
	}
	orig, errOrig := readTree(data, lim)
	got, errGot := readTree(compact, lim)
	if errOrig != nil {
		return len(compact) != len(data)
	}
	if errGot != nil {
		t.Fatalf("the compact copy of a well-formed document is not: %v\n%q\n%q", errGot, data, compact)
	}
	if d := readsAlike(&orig.Element, &got.Element); d != "" {
		t.Fatalf("the compact copy reads differently (%s):\n%q\n%q", d, data, compact)
	}
	return len(compact) != len(data)
}

func TestPrescanCompact(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, e := prescan(data, Limits{}.WithDefaults(), nil); e != nil {
			continue // the draft's own example is not well-formed
		}
		if !checkCompact(t, data) {
			t.Errorf("%s: no whitespace dropped from a pretty-printed document", name)
		}
	}
	for _, c := range []struct {
		doc     string
		dropped bool
		kept    string // a substring the compact copy must keep
	}{
		{"<a>\n  <b> x </b>\n  <c/>\n</a>\n", true, "<b> x </b>"},
		{"<a> </a>", false, "<a> </a>"},                                       // maybe a string's value
		{"<a><b>  </b></a>", false, "<b>  </b>"},                              // the same, nested
		{"<a> <!--c--> </a>", false, "<a> <!--c--> </a>"},                     // next to a comment
		{"<a> <![CDATA[ x> <y ]]> </a>", false, " x> <y "},                    // inside and around CDATA
		{"<a>\n <?pi x?>\n</a>", false, "<a>\n <?pi x?>\n</a>"},               // next to a processing instruction
		{"<a x='>' > <b/></a>", true, "<a x='>' ><b/></a>"},                   // '>' in an attribute value
		{"<a>&#32;<b/>&#x20;</a>", false, "&#32;<b/>&#x20;"},                  // references are text, not whitespace
		{"<?xml version=\"1.0\"?>\n<a>\n<b/>\n</a>\n", true, "?><a><b/></a>"}, // outside the root element
		{"<a>\n<b x='1>\n</b>\n</a>", false, "<b x='1>\n</b>"},                // an unterminated quote: left to the decoder
	} {
		compact, _, e := prescan([]byte(c.doc), Limits{}.WithDefaults(), nil)
		if e != nil {
			t.Errorf("%q: %v", c.doc, e)
			continue
		}
		if dropped := len(compact) != len(c.doc); dropped != c.dropped {
			t.Errorf("%q: dropped = %v, want %v (%q)", c.doc, dropped, c.dropped, compact)
		}
		if !strings.Contains(string(compact), c.kept) {
			t.Errorf("%q: compact copy %q lost %q", c.doc, compact, c.kept)
		}
		checkCompact(t, []byte(c.doc))
	}
}

// TestSyntaxErrorLinesFromTheMessage: a syntax error names the line of
// the message as sent, not of its compact copy.
func TestSyntaxErrorLinesFromTheMessage(t *testing.T) {
	doc := "<csbpublish xmlns=\"urn:ietf:params:xml:ns:csb-publish\">\n\n  <a/>\n\n  <b x=1/>\n</csbpublish>\n"
	_, err := ParsePublish([]byte(doc), Options{})
	if err == nil || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("got %v, want a syntax error on line 5", err)
	}
}

// FuzzPrescanCompact: for any input, the compact copy reads as the input
// does, and a well-formed input stays well-formed.
func FuzzPrescanCompact(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.xml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("<a> <b/> <![CDATA[ ]]> <c> </c> <!-- --> <?p?> </a>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCompact(t, data)
	})
}

// TestPrescanCompactBounded: past maxDropped runs, the rest of the
// whitespace stays and the copy still reads as the message does. (A
// refused message costs no copy: TestHostileAllocation.)
func TestPrescanCompactBounded(t *testing.T) {
	doc := "<a>" + strings.Repeat("\n <b/>", maxDropped+100) + "\n</a>"
	compact, _, e := prescan([]byte(doc), Limits{}.WithDefaults(), nil)
	if e != nil {
		t.Fatal(e)
	}
	if want := len(doc) - 2*maxDropped; len(compact) != want {
		t.Errorf("compact copy of %d bytes, want %d (the first %d runs of 2 bytes dropped)", len(compact), want, maxDropped)
	}
	checkCompact(t, []byte(doc))
}
