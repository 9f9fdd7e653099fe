package digest

import (
	"encoding/base64"
	"testing"
	"time"
)

// TestNonceCheckRemembersOnlyVerifiedNonces: a nonce that passed its MAC
// check is accepted again from the verified cache, while a nonce sharing
// its cache slot (the same random bytes) but not its MAC, time or realm is
// still refused, before and after the genuine one is cached.
func TestNonceCheckRemembersOnlyVerifiedNonces(t *testing.T) {
	n, err := NewNonces([]byte("0123456789abcdef0123"), "r")
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Unix(1_700_000_000, 0)
	nonce := n.Issue(issued)
	raw, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(mod func(b []byte)) string {
		b := append([]byte(nil), raw...)
		mod(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	forgeries := map[string]string{
		"mac":  forge(func(b []byte) { b[len(b)-1] ^= 1 }),
		"time": forge(func(b []byte) { b[nonceTimeLen-1] ^= 1 }),
	}
	other, _ := NewNonces([]byte("0123456789abcdef0123"), "other realm")
	for round := 0; round < 2; round++ {
		for name, f := range forgeries {
			if _, _, ok := n.Check(f); ok {
				t.Fatalf("round %d: forged %s accepted", round, name)
			}
		}
		id, at, ok := n.Check(nonce)
		if !ok || !at.Equal(issued) || id.issuedNanos() != issued.UnixNano() {
			t.Fatalf("round %d: genuine nonce: ok=%v issued %v", round, ok, at)
		}
		if _, _, ok := other.Check(nonce); ok {
			t.Fatalf("round %d: another realm's Nonces accepted the nonce", round)
		}
	}
	slot := n.verified[0:verifiedSlots]
	cached := 0
	for i := range slot {
		if slot[i].Load() != nil {
			cached++
		}
	}
	if cached != 1 {
		t.Fatalf("%d nonces cached as verified, want 1 (only the genuine one)", cached)
	}
}

// TestNonceVouchedFor: IssueFor makes a nonce that Check accepts like any
// other and that VouchedFor recognises for its user only; Issue never
// makes one, and changing a vouched nonce's tag breaks its MAC.
func TestNonceVouchedFor(t *testing.T) {
	n, err := NewNonces([]byte("0123456789abcdef0123"), "r")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewNonces([]byte("another key, 0123456789"), "r")
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < 200; i++ {
		id, _, ok := n.Check(n.Issue(now))
		if !ok || n.VouchedFor(&id, "alice") || n.VouchedFor(&id, "") {
			t.Fatalf("a plain nonce: ok=%v, or vouched", ok)
		}
	}
	v := n.IssueFor(now, "alice")
	id, at, ok := n.Check(v)
	if !ok || !at.Equal(now) {
		t.Fatalf("vouched nonce refused by Check: %v %v", ok, at)
	}
	if !n.VouchedFor(&id, "alice") {
		t.Fatal("not vouched for its user")
	}
	for _, u := range []string{"alicE", "alice ", "", "bob"} {
		if n.VouchedFor(&id, u) {
			t.Fatalf("vouched for %q too", u)
		}
	}
	if other.VouchedFor(&id, "alice") {
		t.Fatal("vouched under another key")
	}
	if n.IssueFor(now, "alice") == v {
		t.Fatal("two vouched nonces of one user and instant are equal")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(v)
	raw[vouchTagOff] ^= 1
	if _, _, ok := n.Check(base64.RawURLEncoding.EncodeToString(raw)); ok {
		t.Fatal("a vouched nonce with another tag passed Check")
	}
}
