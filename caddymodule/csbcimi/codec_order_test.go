package csbcimi

import (
	"encoding/xml"
	"net/http/httptest"
	"strings"
	"testing"
)

// A resource's properties are rendered in XML among the common
// attributes, right after updated, as DSP0263's schemas list them (id,
// name, description, created, updated, property, then the resource's
// own). The rank was kept under "property", the XML element's name,
// while a rendered resource holds them under "properties", the JSON
// attribute's: they sorted by that name among the resource's own
// attributes, between memory and state in a Machine.
func TestCIMIXMLPropertyOrder(t *testing.T) {
	rec := httptest.NewRecorder()
	o := obj{"resourceURI": NS + "/Machine", "id": "http://b/m/1", "name": "n", "description": "d",
		"created": "2026-12-06T10:00:00Z", "updated": "2026-12-06T10:00:00Z",
		"properties": props{"team": "blue"}, "cpu": 1, "memory": 1048576, "state": "STARTED",
		"operations": []op{{Rel: "edit", Href: "http://b/m/1"}}}
	if err := write(rec, formatXML, 200, o); err != nil {
		t.Fatal(err)
	}
	var names []string
	d := xml.NewDecoder(strings.NewReader(rec.Body.String()))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 1 {
				names = append(names, tok.Name.Local)
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if got, want := strings.Join(names, " "), "id name description created updated property cpu memory state operation"; got != want {
		t.Fatalf("element order:\n got %s\nwant %s", got, want)
	}
}
