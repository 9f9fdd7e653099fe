package nativeerr

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"unicode/utf8"
)

// MaxMessage bounds the provider message an error carries, in bytes.
const MaxMessage = 200

// messageKeys are the names providers give the human-readable part of an
// error body, most specific first: CIMI and the sandboxes ("error",
// "message"), OpenStack ({"badRequest": {"message": ...}}), S3 and Swift
// XML (<Error><Message>), OAuth ("error_description"), RFC 9457
// problem details ("detail", "title").
var messageKeys = []string{"message", "error_description", "detail", "description", "error", "title", "reason"}

// Message returns the provider's message in an error body: the text of
// the first message-like field of a JSON object (looked for two levels
// deep) or of an XML element, else the body itself as text. The result
// is one line of at most MaxMessage bytes ("(empty body)" for none), so
// that a job's reason never carries a raw document, and holds no
// credential the provider echoed (ScrubText).
func Message(body []byte) string {
	b := bytes.TrimSpace(body)
	var msg string
	switch {
	case len(b) == 0:
		return "(empty body)"
	case b[0] == '{':
		var v map[string]any
		if json.Unmarshal(b, &v) == nil {
			msg = jsonMessage(v, 0)
		}
	case b[0] == '<':
		msg = xmlMessage(b)
	}
	if msg == "" {
		msg = string(b)
	}
	// Scrubbed before it is cut: a credential the provider echoed must
	// not survive in part.
	return bound(ScrubText(msg))
}

func jsonMessage(v map[string]any, depth int) string {
	for _, k := range messageKeys {
		for key, val := range v {
			if !strings.EqualFold(key, k) {
				continue
			}
			switch t := val.(type) {
			case string:
				if strings.TrimSpace(t) != "" {
					return t
				}
			case map[string]any:
				if depth < 2 {
					if m := jsonMessage(t, depth+1); m != "" {
						return m
					}
				}
			}
		}
	}
	if depth < 1 {
		// A wrapper such as {"badRequest": {"message": ..., "code": 400}}.
		for _, val := range v {
			if t, ok := val.(map[string]any); ok {
				if m := jsonMessage(t, depth+1); m != "" {
					return m
				}
			}
		}
	}
	return ""
}

// xmlMessage returns the text of the first element named like a message
// key (any namespace, any case), or "".
func xmlMessage(b []byte) string {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	found := map[string]string{}
	var cur string
	var text strings.Builder
	for n := 0; n < 1000; n++ {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			cur = strings.ToLower(t.Name.Local)
			text.Reset()
		case xml.CharData:
			if cur != "" {
				text.Write(t)
			}
		case xml.EndElement:
			if s := strings.TrimSpace(text.String()); cur != "" && s != "" {
				if _, ok := found[cur]; !ok {
					found[cur] = s
				}
			}
			cur = ""
			text.Reset()
		}
	}
	for _, k := range messageKeys {
		if s := found[k]; s != "" {
			return s
		}
	}
	return ""
}

// bound makes s one line of at most MaxMessage bytes, cut at a rune
// boundary.
func bound(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= MaxMessage {
		return s
	}
	cut := MaxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
