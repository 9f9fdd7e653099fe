package jobs

import (
	"encoding/base64"
	"testing"
)

// TestNewID: job ids are 22 base64url characters (128 bits, no padding)
// that validID accepts; 10,000 of them are distinct, and every one of the
// 128 bits takes both values among them (a bit fixed by mistake, or a
// generator that is not random, would show; a truly random bit keeps one
// value over 10,000 draws with probability 2^-9999).
func TestNewID(t *testing.T) {
	const n = 10000
	seen := make(map[string]struct{}, n)
	var or, and [16]byte
	for i := range and {
		and[i] = 0xff
	}
	for range n {
		id := newID()
		if len(id) != 22 {
			t.Fatalf("id %q has %d characters, want 22", id, len(id))
		}
		if id[0] == '-' {
			t.Fatalf("id %q begins with '-', which a shell or a flag parser reads as an option", id)
		}
		if !validID(id) {
			t.Fatalf("validID refuses newID's %q", id)
		}
		for _, c := range id {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("id %q has %q, outside the base64url alphabet", id, c)
			}
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(b) != 16 {
			t.Fatalf("id %q does not decode to 16 bytes: %d bytes, %v", id, len(b), err)
		}
		if _, dup := seen[id]; dup {
			t.Fatalf("id %q given twice in %d", id, len(seen)+1)
		}
		seen[id] = struct{}{}
		for i := range b {
			or[i] |= b[i]
			and[i] &= b[i]
		}
	}
	for i := range 128 {
		mask := byte(0x80) >> (i % 8)
		if or[i/8]&mask == 0 {
			t.Errorf("bit %d is 0 in all %d ids", i, n)
		}
		if and[i/8]&mask != 0 {
			t.Errorf("bit %d is 1 in all %d ids", i, n)
		}
	}
}
