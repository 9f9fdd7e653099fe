package csbmsg

import (
	"errors"
	"strings"
	"testing"
)

// TestNotificationRequiredAttributes: a <csbnotification> without id or
// without seqnumber is a 400 naming the attribute, in both modes (draft
// 4.1.2.3: "The attribute MUST be present"). The classification table
// only had these cases for <subscription>.
func TestNotificationRequiredAttributes(t *testing.T) {
	for _, c := range []struct{ drop, want string }{
		{` id="n"`, "missing attribute id"},
		{` seqnumber="1"`, "missing attribute seqnumber"},
	} {
		doc := strings.Replace(notif(svc("")), c.drop, "", 1)
		if doc == notif(svc("")) {
			t.Fatalf("%q not found in the notification", c.drop)
		}
		for _, mode := range []Mode{Lenient, Strict} {
			_, err := ParsePublish([]byte(doc), Options{Mode: mode})
			var e *Error
			if !errors.As(err, &e) || e.Status != StatusSyntaxError || !strings.Contains(err.Error(), c.want) {
				t.Errorf("mode %v without%s: got %v, want 400 %q", mode, c.drop, err, c.want)
			}
		}
	}
	if _, err := ParsePublish([]byte(notif(svc(""))), Options{}); err != nil {
		t.Fatalf("the complete notification: %v", err)
	}
}

// TestNotificationRequiredElements: a notification whose provider or
// service lacks its id or status element is a 400 naming it, in both
// modes (draft 4.1.2.3.1 and 4.1.2.3.2: "The element MUST be present").
func TestNotificationRequiredElements(t *testing.T) {
	full := notif(svc(""))
	for _, drop := range []string{
		"<Cloud-Service-Provider-id>p</Cloud-Service-Provider-id>",
		"<Cloud-Service-Provider-status>active</Cloud-Service-Provider-status>",
		"<Cloud-Service-id>s</Cloud-Service-id>",
		"<Cloud-Service-status>active</Cloud-Service-status>",
	} {
		doc := strings.Replace(full, drop, "", 1)
		if doc == full {
			t.Fatalf("%s not found in the notification", drop)
		}
		want := "missing element " + drop[:strings.Index(drop, ">")+1]
		for _, mode := range []Mode{Lenient, Strict} {
			_, err := ParsePublish([]byte(doc), Options{Mode: mode})
			var e *Error
			if !errors.As(err, &e) || e.Status != StatusSyntaxError || !strings.Contains(err.Error(), want) {
				t.Errorf("mode %v without %s: got %v, want 400 %q", mode, drop, err, want)
			}
		}
	}
}
