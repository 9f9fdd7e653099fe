package dsmeta

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{"", map[string]string{}, ""},
		{`{"Color":"blue","owner":"ops"}`, map[string]string{"color": "blue", "owner": "ops"}, ""},
		{"color=blue; owner = ops\nx=", map[string]string{"color": "blue", "owner": "ops", "x": ""}, ""},
		{"a=b=c", map[string]string{"a": "b=c"}, ""},
		{`{"n": 1}`, nil, "not a string"},
		// Plain text (the schema's xsd:string) is kept whole under
		// PlainKey: no "=" in some item, or a "{" that is not JSON.
		{"acceptance", map[string]string{PlainKey: "acceptance"}, ""},
		{"  read me first ", map[string]string{PlainKey: "read me first"}, ""},
		{"a=b; just a note", map[string]string{PlainKey: "a=b; just a note"}, ""},
		{`{"n": `, map[string]string{PlainKey: `{"n":`}, ""},
		{"line one\nline two", nil, "control character"},
		{strings.Repeat("p", MaxValue+1), nil, "longer than"},
		{"bad key=1", nil, "may hold only"},
		{"under_score=1", nil, "may hold only"},
		{"k=a\x01b", nil, "control character"},
		{"k=1;K=2", nil, "given twice"},
		{"k=" + strings.Repeat("v", MaxValue+1), nil, "longer than"},
		{strings.Repeat("k", MaxKey+1) + "=1", nil, "must be 1 to"},
	} {
		got, err := Parse(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestPlainRoundTrip: plain text stored under PlainKey reads back as the
// same text, through the headers an object store keeps.
func TestPlainRoundTrip(t *testing.T) {
	m, err := Parse("acceptance")
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, v := range m {
		h.Set("X-Object-Meta-"+k, v)
	}
	if got := h.Get("X-Object-Meta-Csb-Metadata"); got != "acceptance" {
		t.Fatalf("header = %q (%v)", got, h)
	}
	if got := Format(FromHeaders(h, "X-Object-Meta-")); got != "acceptance" {
		t.Fatalf("Format = %q, want the plain text back", got)
	}
	// Next to other items, the key is an ordinary one.
	if got := Format(map[string]string{PlainKey: "x", "a": "1"}); got != `{"a":"1","csb-metadata":"x"}` {
		t.Fatalf("Format = %s", got)
	}
}

func TestFormatAndHeaders(t *testing.T) {
	if got := Format(map[string]string{"b": "2", "a": "1"}); got != `{"a":"1","b":"2"}` {
		t.Fatalf("Format = %s", got)
	}
	if Format(nil) != "" {
		t.Fatal("Format(nil) not empty")
	}
	h := http.Header{}
	h.Set("X-Object-Meta-Color", "blue")
	h.Set("X-Object-Meta-", "ignored")
	h.Set("Content-Type", "text/plain")
	got := FromHeaders(h, "x-object-meta-")
	if !reflect.DeepEqual(got, map[string]string{"color": "blue"}) {
		t.Fatalf("FromHeaders = %v", got)
	}
	back, err := Parse(Format(got))
	if err != nil || !reflect.DeepEqual(back, got) {
		t.Fatalf("round trip: %v %v", back, err)
	}
}
