package digest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// MinKeyLen is the shortest nonce key NewNonces accepts.
const MinKeyLen = 16

const (
	nonceTimeLen = 8  // issue time, Unix nanoseconds, big endian
	nonceRandLen = 8  // makes every nonce unique; see vouchFlag
	nonceMACLen  = 16 // truncated HMAC-SHA-256
	nonceRawLen  = nonceTimeLen + nonceRandLen + nonceMACLen
)

// A vouched nonce (IssueFor) is bound to the user it was issued to: the
// top bit of its first random byte is set (it is clear in every nonce
// Issue makes), the next 31 bits are random, and its last 4 random bytes
// are a tag, HMAC-SHA-256 under a key of its own over the issue time, the
// 4 bytes before the tag and the user name, truncated. The nonce's own MAC
// covers the tag like any random bytes, so nobody without the key can
// make or alter one: a vouched nonce for a user reaches only whoever the
// server gave it to, after a correct response for that user. The tag is
// short because it shares the random part; guessing it is no help to
// anyone without an account (the nonces they can get all have the flag
// clear), and one with an account gets a vouched nonce only for each of
// its own correct responses, each matching another user's tag with
// probability 2^-32.
const (
	vouchFlag   = 0x80
	vouchTagOff = nonceTimeLen + 4
	vouchTagLen = 4
)

// NonceLen is the length of a nonce as sent (unpadded base64url).
var NonceLen = base64.RawURLEncoding.EncodedLen(nonceRawLen)

// NonceID identifies a nonce in the replay cache: its decoded bytes.
type NonceID [nonceRawLen]byte

// Nonces issues and checks stateless nonces: an issue time and a random
// part, authenticated with HMAC-SHA-256 under a secret key and bound to
// the realm. Any server holding the same key accepts the nonces of any
// other, so a cluster shares nonces without sharing state. A Nonces is safe
// for concurrent use.
type Nonces struct {
	realm  string
	macKey []byte
	opaque string
	pool   sync.Pool // *nonceMAC
	// vouchPool holds HMACs under the key of vouched nonces' tags.
	vouchPool sync.Pool // *nonceMAC

	// verified remembers nonces whose MAC checked out recently, so that
	// the requests of a client reusing its nonce (all of them but the
	// first) skip the HMAC. It is direct-mapped by the nonce's random
	// bytes and holds only nonces this key issued (the whole nonce, MAC
	// included, is compared), so a hit is exactly as good as a MAC check;
	// whoever fills it with other valid nonces only causes misses.
	verified [verifiedSlots]atomic.Pointer[NonceID]
}

// verifiedSlots is the size of Nonces.verified: enough for a few thousand
// clients in parallel, 32 KiB of pointers per realm.
const verifiedSlots = 4096

// nonceMAC is an HMAC under the nonce key with the buffers it is fed
// from: hash.Hash's methods take slices through an interface, so buffers
// on the stack would escape to the heap on every request.
type nonceMAC struct {
	h   hash.Hash
	in  []byte // payload, then realm
	sum [sha256.Size]byte
}

// NewNonces returns a nonce source for realm with the shared secret key,
// which must be at least MinKeyLen bytes.
func NewNonces(key []byte, realm string) (*Nonces, error) {
	if len(key) < MinKeyLen {
		return nil, errors.New("nonce key shorter than 16 bytes")
	}
	// Separate keys for separate uses, so the configured key is never used
	// directly.
	n := &Nonces{realm: realm, macKey: derive(key, "caddy-csb digest nonce v1")}
	n.opaque = base64.RawURLEncoding.EncodeToString(derive(key, "caddy-csb digest opaque v1\x00"+realm)[:18])
	n.pool.New = func() any {
		return &nonceMAC{h: hmac.New(sha256.New, n.macKey), in: make([]byte, 0, nonceTimeLen+nonceRandLen+64)}
	}
	vouchKey := derive(key, "caddy-csb digest vouched nonce v1")
	n.vouchPool.New = func() any {
		return &nonceMAC{h: hmac.New(sha256.New, vouchKey), in: make([]byte, 0, vouchTagOff+64)}
	}
	return n, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Opaque returns the realm's opaque value: derived from the key, so that
// every server of a cluster sends the same one.
func (n *Nonces) Opaque() string { return n.opaque }

// mac appends the truncated MAC of payload (the issue time and random
// part) and the realm to dst.
func (n *Nonces) mac(dst []byte, payload []byte) []byte {
	return pooledMAC(&n.pool, dst, payload, n.realm, nonceMACLen)
}

// pooledMAC appends the first size bytes of the HMAC of head followed by
// tail, with a hash of pool (whose key it holds), to dst.
func pooledMAC(pool *sync.Pool, dst, head []byte, tail string, size int) []byte {
	m := pool.Get().(*nonceMAC)
	m.in = append(append(m.in[:0], head...), tail...)
	m.h.Reset()
	m.h.Write(m.in)
	out := m.h.Sum(m.sum[:0])
	dst = append(dst, out[:size]...)
	pool.Put(m)
	return dst
}

// Issue returns a new nonce issued at now.
func (n *Nonces) Issue(now time.Time) string {
	return n.issue(now, func(raw []byte) {
		_, _ = rand.Read(raw[nonceTimeLen : nonceTimeLen+nonceRandLen]) // never fails (crypto/rand)
		raw[nonceTimeLen] &^= vouchFlag
	})
}

// issue returns a nonce with issue time now, whose random part fill
// writes, sealed by the nonce MAC.
func (n *Nonces) issue(now time.Time, fill func(raw []byte)) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:nonceTimeLen], uint64(now.UnixNano()))
	fill(raw[:])
	n.mac(raw[:nonceTimeLen+nonceRandLen], raw[:nonceTimeLen+nonceRandLen])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// IssueFor returns a new nonce issued at now and vouched for user: one
// that VouchedFor recognises as given to user. A server hands such a
// nonce only to a client that has just sent a correct response for user
// (nextnonce, or the challenge answering a stale nonce), so that the
// client can keep proving, with each new nonce, that it knew the
// password before (see Throttle).
func (n *Nonces) IssueFor(now time.Time, user string) string {
	return n.issue(now, func(raw []byte) {
		_, _ = rand.Read(raw[nonceTimeLen:vouchTagOff]) // never fails (crypto/rand)
		raw[nonceTimeLen] |= vouchFlag
		n.vouchTag(raw[vouchTagOff:vouchTagOff], raw[:vouchTagOff], user)
	})
}

// VouchedFor reports whether id, a nonce Check accepted, was issued by
// IssueFor for user. It costs an HMAC only for vouched nonces.
func (n *Nonces) VouchedFor(id *NonceID, user string) bool {
	if id[nonceTimeLen]&vouchFlag == 0 {
		return false
	}
	var want [vouchTagLen]byte
	n.vouchTag(want[:0], id[:vouchTagOff], user)
	return hmac.Equal(want[:], id[vouchTagOff:vouchTagOff+vouchTagLen])
}

// vouchTag appends the tag binding a vouched nonce's head (its issue
// time and first random bytes) to user.
func (n *Nonces) vouchTag(dst, head []byte, user string) []byte {
	return pooledMAC(&n.vouchPool, dst, head, user, vouchTagLen)
}

// Check verifies that nonce was issued by a holder of the key for this
// realm, in constant time, and returns its identity and issue time. It
// does not judge the nonce's age.
func (n *Nonces) Check(nonce string) (id NonceID, issued time.Time, ok bool) {
	if len(nonce) != NonceLen {
		return id, issued, false
	}
	var src [64]byte // NonceLen is 43: decode from the stack
	if _, err := strictB64.Decode(id[:], src[:copy(src[:], nonce)]); err != nil {
		return id, issued, false
	}
	slot := &n.verified[binary.LittleEndian.Uint32(id[nonceTimeLen:])%verifiedSlots]
	if v := slot.Load(); v == nil || *v != id {
		var want [nonceMACLen]byte
		n.mac(want[:0], id[:nonceTimeLen+nonceRandLen])
		if !hmac.Equal(want[:], id[nonceTimeLen+nonceRandLen:]) {
			return id, issued, false
		}
		v := id
		slot.Store(&v)
	}
	issued = time.Unix(0, id.issuedNanos())
	return id, issued, true
}

// issuedNanos returns the issue time recorded in a checked nonce.
func (id *NonceID) issuedNanos() int64 {
	return int64(binary.BigEndian.Uint64(id[:nonceTimeLen]))
}

// strictB64 refuses non-canonical encodings, so one nonce has one spelling.
var strictB64 = base64.RawURLEncoding.Strict()
