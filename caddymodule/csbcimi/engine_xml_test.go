package csbcimi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// A create Job's nestedJobs are references: in XML each is a
// <nestedJob href="..."/>, not the Go rendering of the slice
// (<nestedJobs>[{http://...} {http://...}]</nestedJobs>).
func TestCIMIXMLNestedJobs(t *testing.T) {
	rec := httptest.NewRecorder()
	o := obj{"resourceURI": NS + "/Job", "id": "http://b/jobs/J.create",
		"nestedJobs": []ref{{Href: "http://b/jobs/J.attempt-1"}, {Href: "http://b/jobs/J.attempt-2"}}}
	if err := write(rec, formatXML, 200, o); err != nil {
		t.Fatal(err)
	}
	body := rec.Body.String()
	for _, want := range []string{`<nestedJob href="http://b/jobs/J.attempt-1">`, `<nestedJob href="http://b/jobs/J.attempt-2">`} {
		if !strings.Contains(body, want) {
			t.Errorf("lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "[{") {
		t.Errorf("Go syntax in the XML:\n%s", body)
	}
}
