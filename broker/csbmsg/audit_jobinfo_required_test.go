package csbmsg

import (
	"errors"
	"strings"
	"testing"
)

// TestJobInfoRequiredChildren: every child the repaired schema requires in
// <job-info> (job-id, action) and <response-job-info> (job-id, job-status,
// expires) is a 400 naming it when missing, in both modes. The
// classification table only had the action and expires cases.
func TestJobInfoRequiredChildren(t *testing.T) {
	reqDoc := creq(`<job-info><job-id>j</job-id><action>remove</action></job-info>`)
	respDoc := con(`<CloudServiceResponse status="200"><response-job-info><job-id>j</job-id><job-status>s</job-status><expires>300</expires></response-job-info></CloudServiceResponse>`)
	for _, c := range []struct{ doc, drop string }{
		{reqDoc, "<job-id>j</job-id>"},
		{reqDoc, "<action>remove</action>"},
		{respDoc, "<job-id>j</job-id>"},
		{respDoc, "<job-status>s</job-status>"},
		{respDoc, "<expires>300</expires>"},
	} {
		if _, err := ParseConsumer([]byte(c.doc), Options{Mode: Strict}); err != nil {
			t.Fatalf("complete document: %v\n%s", err, c.doc)
		}
		doc := strings.Replace(c.doc, c.drop, "", 1)
		want := "missing element " + c.drop[:strings.Index(c.drop, ">")+1]
		for _, mode := range []Mode{Lenient, Strict} {
			_, err := ParseConsumer([]byte(doc), Options{Mode: mode})
			var e *Error
			if !errors.As(err, &e) || e.Status != StatusSyntaxError || !strings.Contains(err.Error(), want) {
				t.Errorf("mode %v without %s: got %v, want 400 %q", mode, c.drop, err, want)
			}
		}
	}
}
