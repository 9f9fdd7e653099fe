package csbmsg

import (
	"bytes"
	"strings"
	"testing"
)

func TestCharsets(t *testing.T) {
	body := func(decl, reason string) []byte {
		return []byte(decl + pub(`<csbresponse status="200" reason="`+reason+`"/>`))
	}
	latin1 := func(s string) string { // s as ISO-8859-1 bytes
		var b []byte
		for _, r := range s {
			b = append(b, byte(r))
		}
		return string(b)
	}
	cases := []struct {
		name      string
		data      []byte
		transport string
		reason    string // the parsed reason attribute, or
		err       string // the error reason
	}{
		{"utf-8 default", body(``, "Nanjing 南京"), "", "Nanjing 南京", ""},
		{"utf-8 declared", body(`<?xml version="1.0" encoding="utf-8"?>`, "é"), "", "é", ""},
		{"utf-8 BOM", append([]byte{0xEF, 0xBB, 0xBF}, body(`<?xml version="1.0" encoding="UTF-8"?>`, "é")...), "", "é", ""},
		{"invalid utf-8", body(``, "\xff"), "", "", "invalid UTF-8"},
		{"latin-1 declared", body(`<?xml version="1.0" encoding="ISO-8859-1"?>`, latin1("café")), "", "café", ""},
		{"latin-1 alias", body(`<?xml version='1.0' encoding='latin1'?>`, latin1("ü")), "", "ü", ""},
		{"latin-1 transport", body(``, latin1("café")), "iso-8859-1", "café", ""},
		{"ascii declared", body(`<?xml version="1.0" encoding="US-ASCII"?>`, "plain"), "", "plain", ""},
		{"ascii declared, 8-bit byte", body(`<?xml version="1.0" encoding="US-ASCII"?>`, "\xe9"), "", "", "byte 0xE9 is not US-ASCII"},
		{"unsupported declared", body(`<?xml version="1.0" encoding="Shift_JIS"?>`, "x"), "", "", `unsupported charset "Shift_JIS"`},
		{"unsupported transport", body(``, "x"), "windows-1252", "", `unsupported charset "windows-1252"`},
		{"utf-16 BOM", []byte{0xFF, 0xFE, '<', 0}, "", "", `unsupported charset "UTF-16"`},
		{"utf-16 without BOM", []byte{0, '<', 0, '?'}, "", "", `unsupported charset "UTF-16"`},
		{"utf-32 BOM", []byte{0, 0, 0xFE, 0xFF}, "", "", `unsupported charset "UTF-32"`},
		// The draft's A2: charset=ISO-8859-1 on a body declared UTF-8.
		// ASCII only, so both readings agree.
		{"draft A2 labels, ASCII body", body(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`, "OK: Request accepted"), "ISO-8859-1", "OK: Request accepted", ""},
		{"conflicting labels, non-ASCII", body(`<?xml version="1.0" encoding="UTF-8"?>`, "é"), "ISO-8859-1", "", `Content-Type charset "ISO-8859-1" conflicts with XML declaration encoding "UTF-8"`},
		{"transport and declaration agree", body(`<?xml version="1.0" encoding="latin1"?>`, latin1("é")), "ISO-8859-1", "é", ""},
		{"transport beats an unknown label on ASCII", body(`<?xml version="1.0" encoding="Shift_JIS"?>`, "x"), "utf-8", "x", ""},
		{"BOM and latin-1", append([]byte{0xEF, 0xBB, 0xBF}, body(``, "x")...), "ISO-8859-1", "", "conflicts with the UTF-8 byte order mark"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePublish(c.data, Options{Charset: c.transport})
			if c.err != "" {
				wantErr(t, err, 400, ErrCharset, c.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Response.Reason != c.reason {
				t.Fatalf("reason %q, want %q", p.Response.Reason, c.reason)
			}
		})
	}
}

func TestCharsetSupported(t *testing.T) {
	for label, want := range map[string]string{
		"UTF-8": "UTF-8", "utf8": "UTF-8", " Utf-8 ": "UTF-8",
		"us-ascii": "US-ASCII", "ASCII": "US-ASCII",
		"ISO-8859-1": "ISO-8859-1", "Latin1": "ISO-8859-1", "ISO_8859-1:1987": "ISO-8859-1",
		"utf-16": "", "windows-1252": "", "": "",
	} {
		got, ok := CharsetSupported(label)
		if got != want || ok != (want != "") {
			t.Errorf("CharsetSupported(%q) = %q, %v", label, got, ok)
		}
	}
}

func TestDeclaredEncoding(t *testing.T) {
	for in, want := range map[string]string{
		`<?xml version="1.0" encoding="UTF-8"?><a/>`:                 "UTF-8",
		`<?xml version='1.0' encoding = 'latin1' standalone="yes"?>`: "latin1",
		`<?xml version="1.0"?>`:                                      "",
		`<?xml-stylesheet href="a"?>`:                                "",
		`<?xml encoding=UTF-8?>`:                                     "",
		`<a/>`:                                                       "",
		`<?xml version="1.0" encoding="` + strings.Repeat("x", 2000) + `"?>`: "",
	} {
		if got := declaredEncoding([]byte(in)); got != want {
			t.Errorf("declaredEncoding(%.40q) = %q, want %q", in, got, want)
		}
	}
}

// TestIsASCII: one non-ASCII byte anywhere, in the eight-byte loop or in
// the tail, makes a message non-ASCII.
func TestIsASCII(t *testing.T) {
	for n := range 40 {
		b := bytes.Repeat([]byte{'a'}, n)
		if !isASCII(b) {
			t.Fatalf("%d ASCII bytes: not ASCII", n)
		}
		for i := range n {
			c := bytes.Clone(b)
			c[i] = 0x80
			if isASCII(c) {
				t.Fatalf("%d bytes with 0x80 at %d: ASCII", n, i)
			}
			c[i] = 0xFF
			if isASCII(c) {
				t.Fatalf("%d bytes with 0xFF at %d: ASCII", n, i)
			}
		}
	}
}
