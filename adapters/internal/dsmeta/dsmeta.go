// Package dsmeta converts the draft's DSaaS <metadata> strings to and from
// the user-metadata maps that object stores keep as headers (Swift's
// X-Object-Meta-* and X-Container-Meta-*, S3's x-amz-meta-*).
//
// The draft types <metadata> as a plain string (xsd:string). This package
// reads three spellings of it:
//
//   - a JSON object whose values are strings, as CDMI writes metadata:
//     {"color": "blue", "owner": "ops"};
//   - key=value pairs separated by ";" or new lines: color=blue; owner=ops
//     (every item holds a "=");
//   - any other text, which is kept whole as the value of the one item
//     PlainKey ("csb-metadata"), as the CDMI adapter keeps it under
//     csb_metadata (a header name does not take "_").
//
// Keys are case-insensitive (HTTP header names are), so they are folded to
// lower case. Format writes the JSON object form, keys sorted, except that
// a map holding only PlainKey is written as that plain text again.
package dsmeta

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Limits on what a header-borne metadata item may hold. Swift's defaults
// are 128-byte names and 256-byte values; S3 allows 2 KiB in total.
const (
	MaxKey   = 128
	MaxValue = 256
	MaxItems = 90
)

// PlainKey is the item a plain-text <metadata> is stored under.
const PlainKey = "csb-metadata"

// Parse reads a <metadata> string. An empty string yields an empty map.
func Parse(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	if strings.HasPrefix(s, "{") {
		var raw map[string]any
		if err := json.Unmarshal([]byte(s), &raw); err == nil {
			for k, v := range raw {
				sv, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("metadata: value of %q is not a string", k)
				}
				if err := add(out, k, sv); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
		// Not a JSON object: plain text, below.
	}
	items := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' })
	pairs := len(items) > 0
	for _, item := range items {
		if !strings.Contains(item, "=") && strings.TrimSpace(item) != "" {
			pairs = false
			break
		}
	}
	if !pairs {
		if err := add(out, PlainKey, s); err != nil {
			return nil, err
		}
		return out, nil
	}
	for _, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, _ := strings.Cut(item, "=")
		if err := add(out, strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func add(m map[string]string, k, v string) error {
	k = strings.ToLower(k)
	if k == "" || len(k) > MaxKey {
		return fmt.Errorf("metadata: key %q must be 1 to %d bytes", k, MaxKey)
	}
	for _, r := range k {
		if !isTokenChar(r) || r == '_' {
			// "_" is legal in a token, but many proxies drop headers
			// with underscores; refuse it rather than lose it silently.
			return fmt.Errorf("metadata: key %q may hold only letters, digits and -.!#$%%&'*+^`|~", k)
		}
	}
	if len(v) > MaxValue {
		return fmt.Errorf("metadata: value of %q is longer than %d bytes", k, MaxValue)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("metadata: value of %q holds a control character", k)
		}
	}
	if _, dup := m[k]; dup {
		return fmt.Errorf("metadata: key %q given twice", k)
	}
	if len(m) >= MaxItems {
		return fmt.Errorf("metadata: more than %d items", MaxItems)
	}
	m[k] = v
	return nil
}

// isTokenChar reports whether r may appear in an HTTP header name
// (RFC 9110 tchar).
func isTokenChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// Format writes m as a JSON object with sorted keys; an empty map yields
// "", and a map holding only PlainKey yields its value (the plain text
// Parse stored).
func Format(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	if v, ok := m[PlainKey]; ok && len(m) == 1 {
		return v
	}
	b, _ := json.Marshal(m) // encoding/json sorts map keys
	return string(b)
}

// FromHeaders collects the metadata items whose header names start with
// prefix (case-insensitive, e.g. "X-Object-Meta-"), keys folded to lower
// case.
func FromHeaders(h map[string][]string, prefix string) map[string]string {
	out := map[string]string{}
	lp := strings.ToLower(prefix)
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, lp) && len(lk) > len(lp) && len(h[k]) > 0 {
			out[lk[len(lp):]] = h[k][0]
		}
	}
	return out
}
