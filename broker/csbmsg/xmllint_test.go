package csbmsg

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// xmllint returns the path of xmllint (Debian libxml2-utils). Without it
// the test fails, unless CSB_SKIP_XMLLINT is set.
func xmllint(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CSB_SKIP_XMLLINT") != "" {
			t.Skip("xmllint not found and CSB_SKIP_XMLLINT is set")
		}
		t.Fatal("xmllint not found (install libxml2-utils, or set CSB_SKIP_XMLLINT to skip)")
	}
	return p
}

// validateWithXmllint runs xmllint --schema over files and fails the test
// with its output unless every file validates.
func validateWithXmllint(t *testing.T, schema string, files []string) {
	t.Helper()
	if len(files) == 0 {
		t.Fatal("nothing to validate")
	}
	args := append([]string{"--nonet", "--noout", "--schema", filepath.Join("testdata", "schema", schema)}, files...)
	out, err := exec.Command(xmllint(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
	for _, f := range files {
		if !strings.Contains(string(out), f+" validates") {
			t.Errorf("xmllint did not report %s as valid:\n%s", f, out)
		}
	}
}

// serialisedCorpus parses every corpus message that lenient mode accepts,
// adds the programmatic values of kitchenSink, serialises them all into
// dir and returns the file names per package.
func serialisedCorpus(t *testing.T, dir string) (publish, consumer []string) {
	t.Helper()
	write := func(name string, out []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range corpus {
		if c.lenient != 200 {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		v, err := parseAny(c.file, data, Options{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := marshalAny(v)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ReplaceAll(c.file, "/", "_")
		if _, ok := v.(*Publish); ok {
			publish = append(publish, write(name, out))
		} else {
			consumer = append(consumer, write(name, out))
		}
	}
	for i, p := range kitchenSinkPublish() {
		out, err := MarshalPublish(p)
		if err != nil {
			t.Fatal(err)
		}
		publish = append(publish, write("sink-publish-"+string(rune('a'+i))+".xml", out))
	}
	for i, c := range kitchenSinkConsumer() {
		out, err := MarshalConsumer(c)
		if err != nil {
			t.Fatal(err)
		}
		consumer = append(consumer, write("sink-consumer-"+string(rune('a'+i))+".xml", out))
	}
	return publish, consumer
}

// TestSerialisedValidates runs xmllint with the repaired schemas over
// everything the codec serialises in the test corpus.
func TestSerialisedValidates(t *testing.T) {
	xmllint(t)
	dir := t.TempDir()
	publish, consumer := serialisedCorpus(t, dir)
	validateWithXmllint(t, "csb-publish.xsd", publish)
	validateWithXmllint(t, "csb-consumer.xsd", consumer)
}

// TestSerialisedCoverage: the serialised corpus holds every element and
// attribute the schemas declare.
func TestSerialisedCoverage(t *testing.T) {
	dir := t.TempDir()
	publish, consumer := serialisedCorpus(t, dir)
	for schema, files := range map[string][]string{"csb-publish.xsd": publish, "csb-consumer.xsd": consumer} {
		declared := schemaNames(t, filepath.Join("testdata", "schema", schema))
		seen := map[string]bool{}
		for _, f := range files {
			doc := etree.NewDocument()
			if err := doc.ReadFromFile(f); err != nil {
				t.Fatal(err)
			}
			var walk func(e *etree.Element)
			walk = func(e *etree.Element) {
				seen["element "+e.Tag] = true
				for _, a := range e.Attr {
					if a.Space == "" && a.Key != "xmlns" {
						seen["attribute "+a.Key] = true
					}
				}
				for _, c := range e.ChildElements() {
					walk(c)
				}
			}
			walk(doc.Root())
		}
		var missing []string
		for _, d := range declared {
			if !seen[d] {
				missing = append(missing, d)
			}
		}
		if len(missing) > 0 {
			t.Errorf("%s: never serialised: %v", schema, missing)
		}
	}
}

// schemaNames lists the element and attribute names a schema declares.
func schemaNames(t *testing.T, path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`<xsd:(element|attribute)\s+name="([^"]+)"`)
	set := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		set[m[1]+" "+m[2]] = true
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 40 {
		t.Fatalf("%s: only %d names found", path, len(names))
	}
	return names
}
