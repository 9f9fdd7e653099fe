package csbmsg

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// seedCorpus adds every corpus file and table document of the given
// package to f, in both modes.
func seedCorpus(f *testing.F, consumer bool) {
	files, err := filepath.Glob("testdata/*/*.xml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files: %v", err)
	}
	for _, name := range files {
		if strings.Contains(filepath.Base(name), "consumer") != consumer {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false)
		f.Add(data, true)
	}
	for _, c := range classifyCases {
		if strings.HasPrefix(c.doc, "<csbconsumer") == consumer {
			f.Add([]byte(c.doc), false)
		}
	}
}

// checkParsed holds the properties every parse must have: an error is
// an *Error with status 400 or 420 and an XML-safe reason; a value
// serialises, and parses back to itself in the same mode; what strict
// mode accepts, lenient mode accepts with the same value.
func checkParsed[T any](t *testing.T, data []byte, strict bool,
	parse func([]byte, Options) (*T, error), marshal func(*T) ([]byte, error)) {
	mode := Lenient
	if strict {
		mode = Strict
	}
	v, err := parse(data, Options{Mode: mode, OnAlias: func(a, c string) {
		if strict {
			t.Fatalf("alias %q reported in strict mode", a)
		}
	}})
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not an *Error", err)
		}
		if e.Status != StatusSyntaxError && e.Status != StatusUnsupported {
			t.Fatalf("status %d", e.Status)
		}
		if !isXMLString(e.Reason) || e.Reason == "" {
			t.Fatalf("reason %q is not XML-safe", e.Reason)
		}
		if v != nil {
			t.Fatal("value and error both returned")
		}
		return
	}
	out, err := marshal(v)
	if err != nil {
		t.Fatalf("parsed value does not serialise: %v", err)
	}
	v2, err := parse(out, Options{Mode: mode})
	if err != nil {
		t.Fatalf("serialised value does not parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(v, v2) {
		t.Fatalf("round trip changed the value:\n%s", out)
	}
	if strict {
		lv, err := parse(data, Options{})
		if err != nil || !reflect.DeepEqual(lv, v) {
			t.Fatalf("strict accepts, lenient gives %v", err)
		}
	}
}

func FuzzParsePublish(f *testing.F) {
	seedCorpus(f, false)
	f.Fuzz(func(t *testing.T, data []byte, strict bool) {
		checkParsed(t, data, strict, ParsePublish, MarshalPublish)
	})
}

func FuzzParseConsumer(f *testing.F) {
	seedCorpus(f, true)
	f.Fuzz(func(t *testing.T, data []byte, strict bool) {
		checkParsed(t, data, strict, ParseConsumer, MarshalConsumer)
	})
}
