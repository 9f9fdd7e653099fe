package csbmsg

import (
	"runtime"
	"strings"
	"testing"
)

// secJobsHost is a consumer create whose <hostname> holds text.
func secJobsHost(text string) []byte {
	return []byte(creq(`<IaaS><compute><hostname>` + text + `</hostname></compute></IaaS>`))
}

// MaxTextBytes bounds the text of one element (CDATA sections and text
// split by comments included) and one attribute value; beyond it the
// message is refused with 400 before any tree is built.
func TestMaxTextBytes(t *testing.T) {
	if _, err := ParseConsumer(secJobsHost(strings.Repeat("h", DefaultMaxTextBytes)), Options{}); err != nil {
		t.Fatalf("%d bytes of text: %v", DefaultMaxTextBytes, err)
	}
	_, err := ParseConsumer(secJobsHost(strings.Repeat("h", DefaultMaxTextBytes+1)), Options{})
	wantErr(t, err, 400, ErrLimit, "element <hostname> holds more than 65536 bytes of text")

	small := Options{Limits: Limits{MaxTextBytes: 64}}
	x := func(n int) string { return strings.Repeat("h", n) }
	for name, c := range map[string]struct {
		doc    []byte
		refuse bool
	}{
		"64 bytes":            {secJobsHost(x(64)), false},
		"65 bytes":            {secJobsHost(x(65)), true},
		"CDATA":               {secJobsHost(x(30) + "<![CDATA[" + x(35) + "]]>"), true},
		"CDATA within":        {secJobsHost(x(30) + "<![CDATA[" + x(34) + "]]>"), false},
		"split by a comment":  {secJobsHost(x(30) + "<!-- c -->" + x(35)), true},
		"entity counts bytes": {secJobsHost(x(60) + "&amp;"), true},
		"attribute value 64":  {[]byte(creq(`<IaaS><compute><x:a xmlns:x="urn:x" b="` + x(64) + `"/></compute></IaaS>`)), false},
		"attribute value 65":  {[]byte(creq(`<IaaS><compute><x:a xmlns:x="urn:x" b="` + x(65) + `"/></compute></IaaS>`)), true},
	} {
		_, err := ParseConsumer(c.doc, small)
		refused := err != nil && (strings.Contains(err.Error(), "longer than 64") || strings.Contains(err.Error(), "more than 64 bytes"))
		if refused != c.refuse {
			t.Errorf("%s: %v, want refused %v", name, err, c.refuse)
		}
		if c.refuse {
			wantErr(t, err, 400, ErrLimit, "64 bytes")
		}
	}
	// The text of elements one after the other does not add up.
	doc := []byte(creq(`<IaaS><compute><hostname>` + x(64) + `</hostname><architecture>` + x(64) + `</architecture></compute><storage><size>12345678</size></storage></IaaS>`))
	if _, err := ParseConsumer(doc, small); err != nil {
		t.Fatal(err)
	}
}

// Refusing a field of almost 1 MiB costs one scan: no tree, no copy.
func TestMaxTextBytesRefusalAllocation(t *testing.T) {
	hostile := secJobsHost(strings.Repeat("h", 1_000_000))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ParseConsumer(hostile, Options{})
	runtime.ReadMemStats(&after)
	wantErr(t, err, 400, ErrLimit, "holds more than")
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
		t.Errorf("refusing the message allocated %d bytes", alloc)
	}
}
