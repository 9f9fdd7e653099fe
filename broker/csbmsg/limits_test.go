package csbmsg

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func wantErr(t *testing.T, err error, status Status, sentinel error, reason string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error", err)
	}
	if e.Status != status {
		t.Errorf("status %d, want %d (%v)", e.Status, status, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("%v does not wrap %v", err, sentinel)
	}
	if sentinel == nil && e.Err != nil {
		t.Errorf("%v wraps %v, want no sentinel", err, e.Err)
	}
	if !strings.Contains(e.Reason, reason) {
		t.Errorf("reason %q does not contain %q", e.Reason, reason)
	}
}

func TestMaxBytes(t *testing.T) {
	doc := []byte(sub(okSub, `<!--`+strings.Repeat("x", DefaultMaxBytes)+`-->`))
	_, err := ParsePublish(doc, Options{})
	wantErr(t, err, 400, ErrTooLarge, "exceeds the limit of 1048576 bytes")

	small := []byte(pub(`<csbresponse status="200"/>`))
	_, err = ParsePublish(small, Options{Limits: Limits{MaxBytes: int64(len(small)) - 1}})
	wantErr(t, err, 400, ErrTooLarge, "exceeds the limit")
	if _, err := ParsePublish(small, Options{Limits: Limits{MaxBytes: int64(len(small))}}); err != nil {
		t.Fatal(err)
	}
}

func TestMaxDepth(t *testing.T) {
	deep := func(n int) string {
		return sub(okSub, `<x:a xmlns:x="urn:x">`+strings.Repeat(`<x:a>`, n)+strings.Repeat(`</x:a>`, n)+`</x:a>`)
	}
	// csbpublish/csbrequest/subscription/a = 4, plus n.
	_, err := ParsePublish([]byte(deep(DefaultMaxDepth-4)), Options{})
	wantErr(t, err, 420, nil, "not understood") // within the limit: just not understood
	_, err = ParsePublish([]byte(deep(DefaultMaxDepth-3)), Options{})
	wantErr(t, err, 400, ErrLimit, "nested deeper than 32")
	_, err = ParsePublish([]byte(deep(3)), Options{Limits: Limits{MaxDepth: 6}})
	wantErr(t, err, 400, ErrLimit, "nested deeper than 6")
	// Self-closing elements count too.
	_, err = ParsePublish([]byte(sub(okSub, `<x:a xmlns:x="urn:x"><x:b/></x:a>`)), Options{Limits: Limits{MaxDepth: 4}})
	wantErr(t, err, 400, ErrLimit, "nested deeper than 4")
}

func TestMaxElements(t *testing.T) {
	many := func(n int) []byte {
		return []byte(sub(okSub, `<x:a xmlns:x="urn:x">`+strings.Repeat(`<x:b/>`, n)+`</x:a>`))
	}
	_, err := ParsePublish(many(DefaultMaxElements-4), Options{})
	wantErr(t, err, 420, nil, "not understood")
	_, err = ParsePublish(many(DefaultMaxElements-3), Options{})
	wantErr(t, err, 400, ErrLimit, "more than 10000 elements")
	_, err = ParsePublish(many(10), Options{Limits: Limits{MaxElements: 5}})
	wantErr(t, err, 400, ErrLimit, "more than 5 elements")
}

func TestMaxAttributes(t *testing.T) {
	attrs := func(n int) []byte {
		var b strings.Builder
		for i := range n {
			b.WriteString(` xml:a` + strings.Repeat("x", i) + `="v"`)
		}
		return []byte(pub(`<csbresponse status="200"` + b.String() + `/>`))
	}
	if _, err := ParsePublish(attrs(DefaultMaxAttributes-1), Options{}); err != nil {
		t.Fatal(err)
	}
	_, err := ParsePublish(attrs(DefaultMaxAttributes), Options{})
	wantErr(t, err, 400, ErrLimit, "more than 32 attributes")
	// '>' and '=' inside quoted values are not attributes.
	if _, err := ParsePublish([]byte(pub(`<csbresponse status="200" reason="a=b>c='d'"/>`)), Options{Limits: Limits{MaxAttributes: 2}}); err != nil {
		t.Fatal(err)
	}
}

// TestMarkupDeclarations: no DTD, no entity declaration, hence no entity
// expansion ("billion laughs") and no external entity.
func TestMarkupDeclarations(t *testing.T) {
	laughs := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
` + pub(`<csbresponse status="200" reason="&lol1;"/>`)
	_, err := ParsePublish([]byte(laughs), Options{})
	wantErr(t, err, 400, nil, "line 2: document type declarations (<!DOCTYPE>) are not allowed")

	xxe := `<!DOCTYPE csbpublish SYSTEM "file:///etc/passwd">` + pub(`<csbresponse status="200"/>`)
	_, err = ParsePublish([]byte(xxe), Options{})
	wantErr(t, err, 400, nil, "<!DOCTYPE>")

	_, err = ParsePublish([]byte(`<!ENTITY x "y">`+pub(`<csbresponse status="200"/>`)), Options{})
	wantErr(t, err, 400, nil, "markup declarations (<!ENTITY...>) are not allowed")

	// Inside a comment or CDATA section it is only text.
	if _, err := ParsePublish([]byte(pub(`<!-- <!DOCTYPE x> --><csbresponse status="200" reason="&lt;!DOCTYPE"/>`)), Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePublish([]byte(sub(okSub, `<expires><![CDATA[1]]></expires><!-- <!ENTITY -->`)), Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestHostileAllocation: the cost of refusing a hostile message stays
// small. The limits are checked before the tree is built, so a message
// of 1 MiB of elements costs about one scan.
func TestHostileAllocation(t *testing.T) {
	// With whitespace between the elements, which prescan would drop, a
	// refusal costs no copy either.
	for _, el := range []string{"<a/>", "<a/>\n"} {
		hostile := []byte(pub(strings.Repeat(el, DefaultMaxBytes/len(el)-40)))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := ParsePublish(hostile, Options{})
		runtime.ReadMemStats(&after)
		wantErr(t, err, 400, ErrLimit, "more than 10000 elements")
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
			t.Errorf("%q: refusing the message allocated %d bytes", el, alloc)
		}
	}
}
