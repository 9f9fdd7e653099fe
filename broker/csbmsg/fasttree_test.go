package csbmsg

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// sameTree reports how two etree trees differ, or "": the same tokens in
// the same order, with the same names, attributes, data and flags, and
// consistent parent and index links.
func sameTree(a, b *etree.Element, path string) string {
	path += "/" + a.FullTag()
	if a.Space != b.Space || a.Tag != b.Tag {
		return fmt.Sprintf("%s: element %q:%q, want %q:%q", path, a.Space, a.Tag, b.Space, b.Tag)
	}
	if len(a.Attr) != len(b.Attr) {
		return fmt.Sprintf("%s: %d attributes, want %d", path, len(a.Attr), len(b.Attr))
	}
	for i := range a.Attr {
		x, y := a.Attr[i], b.Attr[i]
		if x.Space != y.Space || x.Key != y.Key || x.Value != y.Value {
			return fmt.Sprintf("%s: attribute %d is %q:%q=%q, want %q:%q=%q", path, i, x.Space, x.Key, x.Value, y.Space, y.Key, y.Value)
		}
		if x.Element() != a {
			return fmt.Sprintf("%s: attribute %s does not point at its element", path, x.FullKey())
		}
	}
	if len(a.Child) != len(b.Child) {
		return fmt.Sprintf("%s: %d children, want %d", path, len(a.Child), len(b.Child))
	}
	for i := range a.Child {
		x, y := a.Child[i], b.Child[i]
		if x.Parent() != a || x.Index() != i {
			return fmt.Sprintf("%s: child %d has parent or index wrong", path, i)
		}
		switch x := x.(type) {
		case *etree.Element:
			y, ok := y.(*etree.Element)
			if !ok {
				return fmt.Sprintf("%s: child %d is an element, want %T", path, i, b.Child[i])
			}
			if d := sameTree(x, y, path); d != "" {
				return d
			}
		case *etree.CharData:
			y, ok := y.(*etree.CharData)
			if !ok {
				return fmt.Sprintf("%s: child %d is character data, want %T", path, i, b.Child[i])
			}
			if x.Data != y.Data || x.IsCData() != y.IsCData() || x.IsWhitespace() != y.IsWhitespace() {
				return fmt.Sprintf("%s: child %d is %q (cdata %v, whitespace %v), want %q (%v, %v)", path, i,
					x.Data, x.IsCData(), x.IsWhitespace(), y.Data, y.IsCData(), y.IsWhitespace())
			}
		case *etree.ProcInst:
			y, ok := y.(*etree.ProcInst)
			if !ok || x.Target != y.Target || x.Inst != y.Inst {
				return fmt.Sprintf("%s: child %d is <?%s %s?>, want %#v", path, i, x.Target, x.Inst, b.Child[i])
			}
		case *etree.Comment:
			y, ok := y.(*etree.Comment)
			if !ok || x.Data != y.Data {
				return fmt.Sprintf("%s: child %d is <!--%s-->, want %#v", path, i, x.Data, b.Child[i])
			}
		default:
			return fmt.Sprintf("%s: child %d is a %T, which fastTree never makes", path, i, x)
		}
	}
	return ""
}

// checkFastTree compares fastTree with readTree on one input; it reports
// whether fastTree read it.
func checkFastTree(t *testing.T, data []byte) bool {
	t.Helper()
	lim := Limits{}.WithDefaults()
	compact, elements, perr := prescan(data, lim, nil)
	if perr != nil {
		return false
	}
	fast, tree, ok := fastTree(compact, lim, elements)
	if !ok {
		return false
	}
	defer tree.release()
	slow, err := readTree(compact, lim)
	if err != nil {
		t.Fatalf("fastTree read what readTree refuses (%v):\n%q", err, compact)
	}
	if d := sameTree(&fast.Element, &slow.Element, ""); d != "" {
		t.Fatalf("fastTree and readTree differ: %s\ninput: %q", d, compact)
	}
	return true
}

// TestFastTreeReadsTheCorpus: every message in testdata that
// encoding/xml reads is read by fastTree as well (none of them uses
// what fastTree leaves to encoding/xml), into the same tree.
func TestFastTreeReadsTheCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.xml"))
	if len(files) < 15 {
		t.Fatalf("only %d test messages found", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lim := Limits{}.WithDefaults()
		compact, _, perr := prescan(data, lim, nil)
		if perr != nil {
			continue // refused before any tree is built
		}
		if _, err := readTree(compact, lim); err != nil {
			if checkFastTree(t, data) {
				t.Errorf("%s: fastTree read a message encoding/xml refuses", f)
			}
			continue
		}
		if !checkFastTree(t, data) {
			t.Errorf("%s: fastTree left it to encoding/xml", f)
		}
	}
}

// TestFastTreeSubset lists what fastTree reads and what it leaves to
// encoding/xml.
func TestFastTreeSubset(t *testing.T) {
	reads := []string{
		`<a/>`,
		`<a></a>`,
		`<?xml version="1.0"?><a/>`,
		`<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>` + "\n<a/>\n",
		`<?xml version="1.0" encoding="ISO-8859-1"?><a/>`,
		`<p:a xmlns:p="urn:x" p:b="1" c='2'><p:c>t</p:c></p:a>`,
		"<a\n\tb = \"x > y\" >text &lt;&gt;&amp;&apos;&quot; tail</a >",
		`<a b="&amp;&lt;"></a>`,
		"<a>é ü 中 \U0001F600</a>",
		`<a> <b/> </a>`,
		`<a>]]</a>`,
		`<a>x]>y</a>`,
		`<a b="]]>"/>`,
		`<a.b-c_d x.y="1"/>`,
		`<a b="1" xmlns:b="u" b:b="2"/>`,
		"<a>\t</a>",
		` <a/> `,
		`<a/><b/>`, // two roots: the reader refuses it, from the same tree
		`text<a/>`, // likewise
		`<a><!-- c --></a>`,
		`<!--x--><a><!----></a><!-- - -->`,
		`<a><![CDATA[x]]]]></a>`,
		`<a><?pi x?></a>`,
		`<?xml-stylesheet href="s"?><a><?p?><?q  ?> ?>?></a>`,
		`<a>x<![CDATA[<b> & ]] ]>]]>y<![CDATA[]]><![CDATA[ ]]></a>`,
	}
	for _, in := range reads {
		if !checkFastTree(t, []byte(in)) {
			t.Errorf("fastTree left %q to encoding/xml", in)
		}
	}
	leaves := []string{
		``,
		`<a:1 xmlns:a="u"/>`,
		`<a><!-- -- --></a>`,
		`<a><!-- x ---></a>`,
		`<a><!-- x </a>`,
		`<a><!- x --></a>`,
		`<a><![CDATA[x`,
		"<a><![CDATA[\x00]]></a>",
		`<a><?xml x?></a>`,
		`<a><?XmL x?></a>`,
		`<a><?pi/x?></a>`,
		`<a><?pi x</a>`,
		`<a><?1pi x?></a>`,
		`<?xml version="1.1"?><a/>`,
		`<?xml encoding="UTF-8"?><a/>`,
		`<?xml version="1.0" standalone="yes" encoding="UTF-8"?><a/>`,
		`<a>&#65;</a>`,
		`<a>&#x41;</a>`,
		`<a>&nbsp;</a>`,
		`<a>&amp</a>`,
		"<a>\r\n</a>",
		"<a>\x01</a>",
		"<a>\xff</a>",
		"<a>\uFFFE</a>",
		`<a>]]></a>`,
		`<a b="1" b="2"/>`,
		`<a b="1"c="2"/>`,
		`<a b=1/>`,
		`<a b/>`,
		`<a b="<"/>`,
		`<a b="1/>`,
		`<a>`,
		`<a></b>`,
		`<a></ab>`,
		`</a>`,
		`<a></a b>`,
		`<é/>`,
		`<1a/>`,
		`<:a/>`,
		`<a:/>`,
		`<a:b:c/>`,
		`<a :b="1"/>`,
		`<a / >`,
		`<`,
		`<a`,
	}
	for _, in := range leaves {
		lim := Limits{}.WithDefaults()
		compact, elements, perr := prescan([]byte(in), lim, nil)
		if perr != nil {
			continue
		}
		if _, tree, ok := fastTree(compact, lim, elements); ok {
			tree.release()
			t.Errorf("fastTree read %q, which it should leave to encoding/xml", in)
		}
	}
	deep := strings.Repeat("<a>", 5) + strings.Repeat("</a>", 5)
	if _, _, ok := fastTree([]byte(deep), Limits{MaxDepth: 4}.WithDefaults(), 5); ok {
		t.Error("fastTree read nesting deeper than MaxDepth")
	}
	if _, tree, ok := fastTree([]byte(deep), Limits{MaxDepth: 5}.WithDefaults(), 5); !ok {
		t.Error("fastTree refused nesting of exactly MaxDepth")
	} else {
		tree.release()
	}
}

// FuzzFastTree: whatever fastTree reads, readTree reads too, into the
// same tree.
func FuzzFastTree(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.xml"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{`<a b="&amp;">x&lt;</a>`, `<?xml version="1.0"?><p:a xmlns:p="u"><b/></p:a>`, "<a>\u00e9</a>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastTree(t, data)
	})
}

// TestParsesShareNoSlabs: messages parsed at once, and one after another,
// through the builders' pool give the results they give alone (a slab
// handed back too early, or shared, would mix them up; run with -race).
func TestParsesShareNoSlabs(t *testing.T) {
	files, msgs := testMessages(t)
	var want []string
	for _, data := range msgs {
		want = append(want, parseOutcome(data))
	}
	done := make(chan error)
	for g := range 4 {
		go func() {
			for round := range 25 {
				i := (g*7 + round) % len(msgs)
				if got := parseOutcome(msgs[i]); got != want[i] {
					done <- fmt.Errorf("%s, round %d: %s\nwant %s", files[i], round, got, want[i])
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// testMessages returns the names and contents of the test messages.
func testMessages(t *testing.T) ([]string, [][]byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.xml"))
	if len(files) == 0 {
		t.Fatal("no test messages")
	}
	msgs := make([][]byte, len(files))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = data
	}
	return files, msgs
}

// parseOutcome is what parsing data as either package gives, printed.
func parseOutcome(data []byte) string {
	p, perr := ParsePublish(data, Options{})
	c, cerr := ParseConsumer(data, Options{})
	pj, _ := json.Marshal(p)
	cj, _ := json.Marshal(c)
	return fmt.Sprintf("%s %v | %s %v", pj, perr, cj, cerr)
}

// TestParsedValuesOwnTheirBytes: a parsed value keeps no reference to
// the message's bytes (the publish endpoint reuses its body buffers), so
// overwriting them changes nothing.
func TestParsedValuesOwnTheirBytes(t *testing.T) {
	files, msgs := testMessages(t)
	for i, data := range msgs {
		f := files[i]
		before := parseOutcome(data)
		p, perr := ParsePublish(data, Options{})
		c, cerr := ParseConsumer(data, Options{})
		for i := range data {
			data[i] = 'x'
		}
		pj, _ := json.Marshal(p)
		cj, _ := json.Marshal(c)
		if after := fmt.Sprintf("%s %v | %s %v", pj, perr, cj, cerr); after != before {
			t.Errorf("%s: the parsed value changed with the message's bytes:\n%s\nwas\n%s", f, after, before)
		}
	}
}

// BenchmarkTree compares fastTree with readTree (etree over encoding/xml)
// on the draft's four-service notification, after prescan.
func BenchmarkTree(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "canonical", "b1-notification.xml"))
	if err != nil {
		b.Fatal(err)
	}
	lim := Limits{}.WithDefaults()
	compact, elements, perr := prescan(data, lim, nil)
	if perr != nil {
		b.Fatal(perr)
	}
	b.Run("fastTree", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			_, tree, ok := fastTree(compact, lim, elements)
			if !ok {
				b.Fatal("left to encoding/xml")
			}
			tree.release()
		}
	})
	b.Run("readTree", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := readTree(compact, lim); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestReleaseClearsTheSlabs: once a parse is over, its slabs hold nothing
// (no strings or elements kept alive in the pool), whichever part of them
// each message used: a large message, a small one after it, and a message
// that needs more than the pooled slabs.
func TestReleaseClearsTheSlabs(t *testing.T) {
	b1, err := os.ReadFile(filepath.Join("testdata", "canonical", "b1-notification.xml"))
	if err != nil {
		t.Fatal(err)
	}
	small := []byte(pub(`<csbresponse status="200" reason="ok"/>`))
	services := strings.Repeat("<Cloud-Service><Cloud-Service-id>s</Cloud-Service-id><SaaS-support/></Cloud-Service>", 600)
	huge := []byte(pub(`<csbnotification seqnumber="1" id="n"><Cloud-Service-Provider><Cloud-Service-Provider-id>p</Cloud-Service-Provider-id></Cloud-Service-Provider>` + services + `</csbnotification>`))
	// More attributes than the pooled attribute slab holds.
	attrs := []byte(pub(strings.Repeat(`<x a="1" b="2" c="3"/>`, 100)))
	for i, doc := range [][]byte{b1, small, attrs, small, b1, huge, small} {
		r, root, err := begin(doc, &Options{}, publishVocab)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		b := r.tree
		if b == nil {
			t.Fatalf("message %d was left to encoding/xml", i)
		}
		r.publish(root)
		r.release()
		for name, slab := range map[string]any{"elements": b.els0, "text": b.texts0, "children": b.toks0, "attributes": b.attrs0, "nodes": b.nodes0} {
			v := reflect.ValueOf(slab)
			v = v.Slice(0, v.Cap())
			for k := range v.Len() {
				if !v.Index(k).IsZero() {
					t.Fatalf("message %d: %s slab entry %d of %d not cleared", i, name, k, v.Len())
				}
			}
		}
	}
}
