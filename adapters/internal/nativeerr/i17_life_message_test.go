package nativeerr

import (
	"strings"
	"testing"
)

func TestMessage(t *testing.T) {
	long := strings.Repeat("é", 300)
	for _, tc := range []struct{ name, body, want string }{
		{"sandbox json", `{"error":"cores 64 exceed the offer's 8"}`, "cores 64 exceed the offer's 8"},
		{"openstack wrapper", `{"badRequest": {"message": "Invalid flavor", "code": 400}}`, "Invalid flavor"},
		{"nested error object", `{"error": {"code": 7, "message": "quota exceeded"}}`, "quota exceeded"},
		{"problem details", `{"type":"about:blank","title":"Conflict","detail":"volume is attached"}`, "volume is attached"},
		{"s3 xml", `<?xml version="1.0"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>`, "The specified bucket does not exist"},
		{"plain text", "  resize refused:\n too big  ", "resize refused: too big"},
		{"json without message", `{"code":500}`, `{"code":500}`},
		{"empty", " ", "(empty body)"},
	} {
		if got := Message([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: Message = %q, want %q", tc.name, got, tc.want)
		}
	}
	got := Message([]byte(`{"message":"` + long + `"}`))
	if len(got) > MaxMessage+3 || !strings.HasSuffix(got, "...") || !strings.HasPrefix(got, "é") {
		t.Errorf("long message not bounded: %d bytes", len(got))
	}
}
